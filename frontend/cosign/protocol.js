// The phone's half of two-party SM2 (issue 20), exactly as the fixed wire protocol: key generation with a Schnorr
// proof of w = d1^-1, one signing round with a proof of k1, one decryption with a DLEQ proof. Each function takes
// what the service sent, refuses anything malformed (CosignError), and never sends or returns d1 except in the
// share itself, which the page keeps only through storage.js.

import {
  CosignError,
  G,
  bytesToHex,
  challenge,
  hexToBytes,
  invert,
  mod,
  parsePoint,
  parseScalar,
  pointToHex,
  randomScalar,
  scalarToHex,
} from "./curve.js";
import { encodeSignature, verifyDigest } from "./sm2.js";

export const KEYGEN_TAG = "mobileca-cosign-keygen-v1";
export const SIGN_TAG = "mobileca-cosign-sign-v1";
export const DECRYPT_TAG = "mobileca-cosign-decrypt-v1";

const SHARE_VERSION = 1;

function requireSession(session) {
  if (typeof session !== "string" || session.length === 0) {
    throw new CosignError("session", "every round needs the session the service issued");
  }
}

function requireShare(share, { withPublicKey = true } = {}) {
  if (!share || share.version !== SHARE_VERSION) throw new CosignError("share", "not a phone share");
  const d1 = parseScalar(share.d1, "d1");
  const P1 = parsePoint(share.p1, "P1");
  if (!G.multiply(invert(d1)).equals(P1)) throw new CosignError("share", "the share's P1 is not d1^-1·G");
  if (withPublicKey && typeof share.publicKey !== "string") {
    throw new CosignError("share", "the key generation is not finished: no public key yet");
  }
  return { d1, P1 };
}

function normaliseDigest(e) {
  const bytes = typeof e === "string" ? hexToBytes(e) : e;
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new CosignError("digest", "e is 32 bytes");
  return bytes;
}

/** Step 1 on the phone: d1 and P1 = d1^-1·G with a Schnorr proof of w = d1^-1. */
export function generateShare(session) {
  requireSession(session);
  const d1 = randomScalar();
  const w = invert(d1);
  const P1 = G.multiply(w);
  const t = randomScalar();
  const R = G.multiply(t);
  const c = challenge(KEYGEN_TAG, session, [P1, R]);
  const z = mod(t + c * w);
  return {
    message: { p1: pointToHex(P1), proof: { R: pointToHex(R), z: scalarToHex(z) } },
    share: { version: SHARE_VERSION, d1: scalarToHex(d1), p1: pointToHex(P1), publicKey: null },
  };
}

/** The service's answer to step 1: the share completed with P (checked: on the curve, not the identity). */
export function acceptPublicKey(share, response) {
  requireShare(share, { withPublicKey: false });
  if (share.publicKey !== null) throw new CosignError("share", "this share already has its public key");
  const P = parsePoint(response?.public_key, "public key");
  return { ...share, publicKey: pointToHex(P) };
}

/**
 * Step 2 on the phone: the message for signing the 32-byte e (which the page computed itself with messageDigest
 * from what it shows) and the round's secret, to give to finishSignature once and never again.
 */
export function signMessage(share, session, e) {
  requireSession(session);
  requireShare(share);
  const digest = normaliseDigest(e);
  const eHex = bytesToHex(digest);
  const k1 = randomScalar();
  const Q1 = G.multiply(k1);
  const t = randomScalar();
  const R = G.multiply(t);
  const c = challenge(SIGN_TAG, `${session}:${eHex}`, [Q1, R]);
  const z = mod(t + c * k1);
  const secret = { session, e: eHex, k1, used: false };
  return { message: { q1: pointToHex(Q1), proof: { R: pointToHex(R), z: scalarToHex(z) }, e: eHex }, secret };
}

/**
 * The end of step 2: s = d1·k1·s2 + d1·s3 − r; refused unless (r, s) verifies as an ordinary SM2 signature of e
 * under P. Returns the DER SEQUENCE {r, s}. The round's secret is spent either way.
 */
export function finishSignature(share, secret, response) {
  const { d1 } = requireShare(share);
  if (!secret || typeof secret.k1 !== "bigint" || secret.used) {
    throw new CosignError("secret", "the round's secret is missing or already spent");
  }
  secret.used = true;
  const k1 = secret.k1;
  secret.k1 = 0n;
  const r = parseScalar(response?.r, "r");
  const s2 = parseScalar(response?.s2, "s2");
  const s3 = parseScalar(response?.s3, "s3");
  const s = mod(d1 * k1 * s2 + d1 * s3 - r);
  if (s === 0n || mod(r + s) === 0n) throw new CosignError("signature", "the service's values give no signature");
  if (!verifyDigest(share.publicKey, hexToBytes(secret.e), r, s)) {
    throw new CosignError("signature", "the signature does not verify under the public key");
  }
  return encodeSignature(r, s);
}

/** Step 3 on the phone: T1 = w·C1 and the DLEQ proof that log_G(P1) = log_C1(T1). */
export function decryptMessage(share, session, c1) {
  requireSession(session);
  const { d1, P1 } = requireShare(share);
  const C1 = parsePoint(c1, "C1");
  const w = invert(d1);
  const T1 = C1.multiply(w);
  const t = randomScalar();
  const A = G.multiply(t);
  const B = C1.multiply(t);
  const c = challenge(DECRYPT_TAG, session, [P1, C1, T1, A, B]);
  const z = mod(t + c * w);
  return { t1: pointToHex(T1), proof: { A: pointToHex(A), B: pointToHex(B), z: scalarToHex(z) } };
}


/** Throws unless `share` is a well-formed phone share (d1 in range, P1 = d1^-1·G, public key a curve point or null). */
export function checkShare(share) {
  requireShare(share, { withPublicKey: false });
  if (share.publicKey !== null) parsePoint(share.publicKey, "public key");
}
