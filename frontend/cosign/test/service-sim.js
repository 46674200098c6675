// A test double of the signing service's half, written from PROTOCOL (issue 20) for the node tests only: SHA-256
// from node:crypto and SM3/KDF from sm-crypto, so the phone module's own hashing is not checked by itself.

import { createHash } from "node:crypto";
import smCrypto from "sm-crypto";
import { Point } from "../curve.js";

const G = Point.BASE;
const n = Point.CURVE().n;
const mod = (x) => ((x % n) + n) % n;
const inv = (x) => Point.Fn.inv(mod(x));
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const big = (h) => BigInt(`0x${h}`);
const pt = (h) => Point.fromHex(h);
const sm3hex = (h) => smCrypto.sm3(Array.from(Buffer.from(h, "hex")));
const sc = (x) => x.toString(16).padStart(64, "0");

export function rnd() {
  return (big(hex(crypto.getRandomValues(new Uint8Array(40)))) % (n - 1n)) + 1n;
}

export function challengeOf(tag, session, points) {
  const h = createHash("sha256");
  h.update(Buffer.from(tag, "ascii"));
  h.update(Buffer.from([0]));
  h.update(Buffer.from(session, "utf8"));
  h.update(Buffer.from([0]));
  for (const p of points) h.update(Buffer.from(p, "hex"));
  return mod(big(h.digest("hex")));
}

export class SimulatedService {
  keygen(session, message) {
    const P1 = pt(message.p1);
    const R = pt(message.proof.R);
    const c = challengeOf("mobileca-cosign-keygen-v1", session, [message.p1, message.proof.R]);
    if (!G.multiply(big(message.proof.z)).equals(R.add(P1.multiply(c)))) throw new Error("keygen proof refused");
    this.d2 = rnd();
    this.P1 = P1;
    const P = P1.multiply(inv(this.d2)).subtract(G);
    this.publicKey = P.toHex(false);
    return { public_key: this.publicKey };
  }

  /** The whole key d = (d1·d2)^-1 − 1: only a test, holding both halves, can compute it. */
  wholeKey(d1hex) {
    return mod(inv(big(d1hex) * this.d2) - 1n);
  }

  sign(session, message) {
    const Q1 = pt(message.q1);
    const c = challengeOf("mobileca-cosign-sign-v1", `${session}:${message.e}`, [message.q1, message.proof.R]);
    if (!G.multiply(big(message.proof.z)).equals(pt(message.proof.R).add(Q1.multiply(c)))) {
      throw new Error("sign proof refused");
    }
    for (;;) {
      const k2 = rnd();
      const k3 = rnd();
      const x1 = Q1.multiply(k3).add(G.multiply(k2)).toAffine().x;
      const r = mod(big(message.e) + x1);
      if (r === 0n) continue;
      return { r: sc(r), s2: sc(mod(this.d2 * k3)), s3: sc(mod(this.d2 * (r + k2))) };
    }
  }

  /** The plaintext of sm-crypto's C1||C3||C2 hex, with the phone's T1 for its C1. */
  decrypt(session, c1, message, c3hex, c2hex) {
    const C1 = pt(c1);
    const T1 = pt(message.t1);
    const { A, B, z } = message.proof;
    const c = challengeOf("mobileca-cosign-decrypt-v1", session, [this.P1.toHex(false), c1, message.t1, A, B]);
    const Z = big(z);
    if (!G.multiply(Z).equals(pt(A).add(this.P1.multiply(c)))) throw new Error("DLEQ refused (G side)");
    if (!C1.multiply(Z).equals(pt(B).add(T1.multiply(c)))) throw new Error("DLEQ refused (C1 side)");
    const S = T1.multiply(inv(this.d2)).subtract(C1);
    const xy = S.toHex(false).slice(2);
    const c2 = Buffer.from(c2hex, "hex");
    const t = [];
    for (let ct = 1; t.length < c2.length; ct++) {
      const counter = sc(BigInt(ct)).slice(-8);
      t.push(...Buffer.from(sm3hex(xy + counter), "hex"));
    }
    const m = Buffer.from(c2.map((byte, i) => byte ^ t[i]));
    const check = sm3hex(`${xy.slice(0, 64)}${m.toString("hex")}${xy.slice(64)}`);
    if (check !== c3hex) throw new Error("C3 refused");
    return m;
  }
}
