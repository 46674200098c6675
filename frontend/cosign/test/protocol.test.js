import assert from "node:assert/strict";
import { test } from "node:test";
import smCrypto from "sm-crypto";
import { CosignError, Point, parsePoint, parseScalar, bytesToHex } from "../curve.js";
import { acceptPublicKey, decryptMessage, finishSignature, generateShare, signMessage } from "../protocol.js";
import { messageDigest, verifySignature, decodeSignature } from "../sm2.js";
import { SimulatedService } from "./service-sim.js";

const n = Point.CURVE().n;
const utf8 = (s) => new TextEncoder().encode(s);
const isCosign = (code) => (error) => error instanceof CosignError && error.code === code;

function keyPair() {
  const service = new SimulatedService();
  const { message, share } = generateShare("keygen-session-1");
  const response = service.keygen("keygen-session-1", message);
  return { service, share: acceptPublicKey(share, response) };
}

function signRound(service, share, message, session = "sign-session-1") {
  const e = messageDigest(share.publicKey, message);
  const { message: out, secret } = signMessage(share, session, e);
  const response = service.sign(session, out);
  return { e, out, secret, response };
}

test("key generation: P = (d1·d2)^-1·G − G is the public key of d = (d1·d2)^-1 − 1", () => {
  const { service, share } = keyPair();
  const d = service.wholeKey(share.d1);
  assert.equal(share.publicKey, Point.BASE.multiply(d).toHex(false));
  assert.equal(share.p1.length, 130);
});

test("a two-party signature verifies with sm-crypto (its own Z, e and DER parser) and the phone's verifier", () => {
  const { service, share } = keyPair();
  for (const text of ["招标文件 SHA-256 摘要", "", "x".repeat(1000)]) {
    const message = utf8(text);
    const { e, secret, response } = signRound(service, share, message);
    const der = finishSignature(share, secret, response);
    assert.equal(smCrypto.sm2.doVerifySignature(Array.from(message), bytesToHex(der), share.publicKey, { der: true }), true);
    assert.equal(verifySignature(share.publicKey, e, der), true);
    const other = utf8(`${text}!`);
    assert.equal(smCrypto.sm2.doVerifySignature(Array.from(other), bytesToHex(der), share.publicKey, { der: true }), false);
  }
});

test("the phone's verifier accepts sm-crypto's one-party signatures and refuses them under another e", () => {
  const keys = smCrypto.sm2.generateKeyPairHex();
  const message = utf8("one-party");
  const der = Uint8Array.from(Buffer.from(smCrypto.sm2.doSignature(Array.from(message), keys.privateKey, { der: true, hash: true }), "hex"));
  const e = messageDigest(keys.publicKey, message);
  assert.equal(verifySignature(keys.publicKey, e, der), true);
  assert.equal(verifySignature(keys.publicKey, messageDigest(keys.publicKey, utf8("other")), der), false);
});

test("the service's values are checked: a tampered s2 or s3 gives no signature", () => {
  const { service, share } = keyPair();
  for (const field of ["s2", "s3", "r"]) {
    const { secret, response } = signRound(service, share, utf8("bid"));
    const tampered = { ...response, [field]: (BigInt(`0x${response[field]}`) ^ 1n).toString(16).padStart(64, "0") };
    assert.throws(() => finishSignature(share, secret, tampered), isCosign("signature"), field);
  }
});

test("a round's secret is spent by its first use, even a refused one", () => {
  const { service, share } = keyPair();
  const { secret, response } = signRound(service, share, utf8("bid"));
  const der = finishSignature(share, secret, response);
  assert.equal(decodeSignature(der).length, 2);
  assert.throws(() => finishSignature(share, secret, response), isCosign("secret"));
  const second = signRound(service, share, utf8("bid"));
  assert.throws(() => finishSignature(share, second.secret, { ...second.response, s2: "00".repeat(32) }), isCosign("range"));
  assert.throws(() => finishSignature(share, second.secret, second.response), isCosign("secret"));
});

test("the signing proof binds the session and e: the service refuses it under another session or e", () => {
  const { service, share } = keyPair();
  const e = messageDigest(share.publicKey, utf8("bid"));
  const { message } = signMessage(share, "round-a", e);
  assert.throws(() => service.sign("round-b", message), /proof refused/);
  const otherE = bytesToHex(messageDigest(share.publicKey, utf8("another bid")));
  assert.throws(() => service.sign("round-a", { ...message, e: otherE }), /proof refused/);
  assert.doesNotThrow(() => service.sign("round-a", message));
});

test("the key-generation proof binds the session and P1", () => {
  const { message } = generateShare("kg-a");
  assert.throws(() => new SimulatedService().keygen("kg-b", message), /proof refused/);
  const other = generateShare("kg-a").message;
  assert.throws(() => new SimulatedService().keygen("kg-a", { ...message, p1: other.p1 }), /proof refused/);
});

test("two-party decryption of an sm-crypto SM2 ciphertext (C1C3C2) gives the plaintext", () => {
  const { service, share } = keyPair();
  for (const length of [1, 16, 32, 33, 100]) {
    const plaintext = crypto.getRandomValues(new Uint8Array(length));
    const c = smCrypto.sm2.doEncrypt(Array.from(plaintext), share.publicKey, 1);
    const c1 = `04${c.slice(0, 128)}`;
    const out = decryptMessage(share, "dec-session", c1);
    const recovered = service.decrypt("dec-session", c1, out, c.slice(128, 192), c.slice(192));
    assert.deepEqual(new Uint8Array(recovered), plaintext);
    assert.throws(() => service.decrypt("another-session", c1, out, c.slice(128, 192), c.slice(192)), /DLEQ refused/);
  }
});

test("received points and scalars are refused unless canonical, on the curve and in range", () => {
  const g = Point.BASE.toHex(false);
  assert.equal(parsePoint(g).equals(Point.BASE), true);
  assert.throws(() => parsePoint(g.toUpperCase()), isCosign("encoding"));
  assert.throws(() => parsePoint(Point.BASE.toHex(true)), isCosign("encoding"));
  assert.throws(() => parsePoint(`${g.slice(0, 129)}${g.at(-1) === "0" ? "1" : "0"}`), isCosign("point"));
  assert.throws(() => parsePoint(`04${"00".repeat(64)}`), isCosign("point"));
  assert.throws(() => parseScalar("00".repeat(32)), isCosign("range"));
  assert.throws(() => parseScalar(n.toString(16)), isCosign("range"));
  assert.equal(parseScalar((n - 1n).toString(16)), n - 1n);
  assert.throws(() => parseScalar("1"), isCosign("encoding"));
});

test("the phone refuses a bad public key, a digest that is not 32 bytes, a missing session, a bad C1", () => {
  const { share } = generateShare("kg");
  assert.throws(() => acceptPublicKey(share, { public_key: `04${"11".repeat(64)}` }), isCosign("point"));
  const done = acceptPublicKey(share, { public_key: Point.BASE.multiply(7n).toHex(false) });
  assert.throws(() => acceptPublicKey(done, { public_key: done.publicKey }), isCosign("share"));
  assert.throws(() => signMessage(share, "s", new Uint8Array(32)), isCosign("share"));
  assert.throws(() => signMessage(done, "s", new Uint8Array(31)), isCosign("digest"));
  assert.throws(() => signMessage(done, "", new Uint8Array(32)), isCosign("session"));
  assert.throws(() => decryptMessage(done, "s", `04${"00".repeat(64)}`), isCosign("point"));
  assert.throws(() => signMessage({ ...done, d1: "01".repeat(32) }, "s", new Uint8Array(32)), isCosign("share"));
});
