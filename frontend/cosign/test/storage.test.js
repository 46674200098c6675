import assert from "node:assert/strict";
import { test } from "node:test";
import { CosignError, Point, bytesToHex } from "../curve.js";
import { acceptPublicKey, generateShare } from "../protocol.js";
import { newDeviceKey, openShare, sealShare } from "../storage.js";

const isCosign = (code) => (error) => error instanceof CosignError && error.code === code;
const pepper = () => crypto.getRandomValues(new Uint8Array(32));

function share() {
  const { share: half } = generateShare("kg");
  return acceptPublicKey(half, { public_key: Point.BASE.multiply(11n).toHex(false) });
}

function contains(haystack, needle) {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

test("a sealed share opens with the same PIN and pepper and holds neither d1's hex nor its bytes", async () => {
  const s = share();
  const p = pepper();
  const record = await sealShare("cred-1", s, "135790", p, await newDeviceKey());
  assert.deepEqual(await openShare(record, "135790", p), s);
  assert.equal(record.deviceKey.extractable, false);
  assert.equal(contains(record.sealed, new TextEncoder().encode(s.d1)), false);
  assert.equal(contains(record.sealed, Buffer.from(s.d1, "hex")), false);
  assert.equal(bytesToHex(record.sealed).includes(s.d1), false);
  assert.equal(record.sealed.length, JSON.stringify(s).length + 32);
});

test("a wrong PIN or pepper is a wrong-pin refusal; another credential id or device key cannot open it", async () => {
  const s = share();
  const p = pepper();
  const record = await sealShare("cred-1", s, "135790", p, await newDeviceKey());
  const before = Buffer.from(record.sealed).toString("hex");
  await assert.rejects(openShare(record, "135791", p), isCosign("wrong-pin"));
  await assert.rejects(openShare(record, "135790", pepper()), isCosign("wrong-pin"));
  await assert.rejects(openShare({ ...record, credentialId: "cred-2" }, "135790", p), isCosign("storage"));
  await assert.rejects(openShare({ ...record, deviceKey: await newDeviceKey() }, "135790", p), isCosign("storage"));
  assert.equal(Buffer.from(record.sealed).toString("hex"), before);
  assert.deepEqual(await openShare(record, "135790", p), s);
});

test("sealing refuses a short pepper, an empty PIN, a malformed share", async () => {
  const key = await newDeviceKey();
  await assert.rejects(sealShare("c", share(), "1", new Uint8Array(31), key), isCosign("pepper"));
  await assert.rejects(sealShare("c", share(), "", pepper(), key), isCosign("pin"));
  await assert.rejects(sealShare("c", { ...share(), d1: "00".repeat(32) }, "1", pepper(), key), isCosign("range"));
  await assert.rejects(sealShare("", share(), "1", pepper(), key), isCosign("credential"));
});
