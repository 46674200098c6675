// Ordinary SM2 pieces the phone needs around the two-party rounds: Z and e = SM3(Z || M) (GB/T 32918.2 §5.5, §6.1),
// verification of (r, s) over e, and the DER SEQUENCE {INTEGER r, INTEGER s}.

import { CosignError, G, N, SM2_CURVE, bytesToBigInt, mod, parsePoint, scalarToHex, hexToBytes } from "./curve.js";
import { sm3 } from "./sm3.js";

/** The default distinguishing ID of GM/T 0009: "1234567812345678". */
export const DEFAULT_ID = new TextEncoder().encode("1234567812345678");

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const field = (x) => hexToBytes(scalarToHex(x));

/** Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) of the public key (hex point). */
export function zOf(publicKeyHex, id = DEFAULT_ID) {
  if (!(id instanceof Uint8Array) || id.length > 8191) throw new CosignError("id", "the ID is at most 8191 bytes");
  parsePoint(publicKeyHex, "public key");
  const entl = new Uint8Array([(id.length * 8) >> 8, (id.length * 8) & 0xff]);
  const curve = concat(field(SM2_CURVE.a), field(SM2_CURVE.b), field(SM2_CURVE.Gx), field(SM2_CURVE.Gy));
  return sm3(concat(entl, id, curve, hexToBytes(publicKeyHex).subarray(1)));
}

/** e = SM3(Z || M): the 32 bytes an SM2 signature of `message` (a Uint8Array) signs, computed here from what is shown. */
export function messageDigest(publicKeyHex, message, id = DEFAULT_ID) {
  if (!(message instanceof Uint8Array)) throw new TypeError("the message is a Uint8Array");
  return sm3(concat(zOf(publicKeyHex, id), message));
}

function derInteger(x) {
  let hex = x.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const body = hexToBytes(hex);
  return concat(new Uint8Array([0x02, body.length]), body);
}

/** DER SEQUENCE {INTEGER r, INTEGER s} (both below 2^256, so short lengths). */
export function encodeSignature(r, s) {
  const body = concat(derInteger(r), derInteger(s));
  return concat(new Uint8Array([0x30, body.length]), body);
}

/** (r, s) of a DER SM2 signature, strictly: minimal integers, no trailing bytes. */
export function decodeSignature(der) {
  const fail = () => {
    throw new CosignError("signature", "not a DER SM2 signature");
  };
  if (!(der instanceof Uint8Array) || der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) fail();
  const values = [];
  let offset = 2;
  for (let i = 0; i < 2; i++) {
    if (der[offset] !== 0x02) fail();
    const length = der[offset + 1];
    const body = der.subarray(offset + 2, offset + 2 + length);
    if (length < 1 || length > 33 || body.length !== length) fail();
    if (body[0] & 0x80) fail();
    if (length > 1 && body[0] === 0 && !(body[1] & 0x80)) fail();
    values.push(bytesToBigInt(body));
    offset += 2 + length;
  }
  if (offset !== der.length) fail();
  return values;
}

/** Whether (r, s) is an ordinary SM2 signature of the 32-byte e under the public key (GB/T 32918.2 §7.1). */
export function verifyDigest(publicKeyHex, e, r, s) {
  if (!(e instanceof Uint8Array) || e.length !== 32) throw new CosignError("digest", "e is 32 bytes");
  const P = parsePoint(publicKeyHex, "public key");
  if (r < 1n || r >= N || s < 1n || s >= N) return false;
  const t = mod(r + s);
  if (t === 0n) return false;
  const X = G.multiplyUnsafe(s).add(P.multiplyUnsafe(t));
  if (X.is0()) return false;
  return mod(bytesToBigInt(e) + X.toAffine().x) === r;
}

/** verifyDigest over a DER signature. */
export function verifySignature(publicKeyHex, e, der) {
  let r;
  let s;
  try {
    [r, s] = decodeSignature(der);
  } catch {
    return false;
  }
  return verifyDigest(publicKeyHex, e, r, s);
}
