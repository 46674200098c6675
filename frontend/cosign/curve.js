// The SM2 recommended curve (GB/T 32918.5) on @noble/curves' Weierstrass arithmetic, and the wire encodings of
// PROTOCOL (issue 20): points as lowercase hex of SEC1 uncompressed 04||x||y, scalars as 64 lowercase hex digits.

import { weierstrass } from "@noble/curves/abstract/weierstrass.js";
import { sha256 } from "@noble/hashes/sha2.js";

export const SM2_CURVE = Object.freeze({
  p: 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn,
  a: 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
  n: 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n,
  h: 1n,
  Gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  Gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
});

export const Point = weierstrass(SM2_CURVE);
export const G = Point.BASE;
export const N = SM2_CURVE.n;

/** A refusal of something received or asked for; `code` says which rule it broke. */
export class CosignError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "CosignError";
    this.code = code;
  }
}

const HEX = /^(?:[0-9a-f]{2})*$/;

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function hexToBytes(hex) {
  if (typeof hex !== "string" || !HEX.test(hex)) throw new CosignError("encoding", "not lowercase hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export const mod = (x) => {
  const r = x % N;
  return r < 0n ? r + N : r;
};

/** x^-1 mod n (n prime, x not 0 mod n). */
export function invert(x) {
  return Point.Fn.inv(mod(x));
}

export function scalarToHex(x) {
  return x.toString(16).padStart(64, "0");
}

export function bytesToBigInt(bytes) {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytesToHex(bytes)}`);
}

/** A received scalar: 64 lowercase hex digits, in [1, n-1]. */
export function parseScalar(hex, what = "scalar") {
  if (typeof hex !== "string" || !/^[0-9a-f]{64}$/.test(hex)) {
    throw new CosignError("encoding", `${what} is not 64 lowercase hex digits`);
  }
  const x = BigInt(`0x${hex}`);
  if (x < 1n || x >= N) throw new CosignError("range", `${what} is not in [1, n-1]`);
  return x;
}

export function pointToHex(point) {
  return bytesToHex(point.toBytes(false));
}

/** A received point: 130 lowercase hex digits 04||x||y, on the curve, not the identity. */
export function parsePoint(hex, what = "point") {
  if (typeof hex !== "string" || !/^04[0-9a-f]{128}$/.test(hex)) {
    throw new CosignError("encoding", `${what} is not an uncompressed point in lowercase hex`);
  }
  let point;
  try {
    point = Point.fromBytes(hexToBytes(hex));
    point.assertValidity();
  } catch {
    throw new CosignError("point", `${what} is not on the SM2 curve`);
  }
  if (point.is0()) throw new CosignError("point", `${what} is the identity`);
  return point;
}

/** A uniformly random scalar in [1, n-1] (64 bits more than n, reduced: the bias is below 2^-64). */
export function randomScalar() {
  const bytes = new Uint8Array(40);
  globalThis.crypto.getRandomValues(bytes);
  return (bytesToBigInt(bytes) % (N - 1n)) + 1n;
}

const utf8 = (s) => new TextEncoder().encode(s);

/** c = int(SHA-256(tag || 0x00 || UTF-8(session) || 0x00 || points' 65 raw bytes...)) mod n. */
export function challenge(tag, session, points) {
  if (typeof session !== "string" || session.length === 0) {
    throw new CosignError("session", "the session string is missing");
  }
  const parts = [utf8(tag), new Uint8Array([0]), utf8(session), new Uint8Array([0])];
  for (const point of points) parts.push(point.toBytes(false));
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const data = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.length;
  }
  return mod(bytesToBigInt(sha256(data)));
}
