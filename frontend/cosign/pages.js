// What the phone pages do with the service (issue 20), shared by the PIN page, 确认续费, 更换密钥, 修改 PIN 码 and
// the authorisation page: the JSON calls under /h5/cosign/, making and filing the halves, approving a request, and
// sealing the halves again under a new PIN. The pages keep only their wording and their buttons.
import { CosignError } from "./curve.js";
import { acceptPublicKey, decryptMessage, finishSignature, generateShare, signMessage } from "./protocol.js";
import { hasShare, loadShare, storeShare } from "./storage.js";

const USAGES = ["sign", "encrypt"];
const BROWSER_STORE = { storeShare, loadShare, hasShare };

/** A refusal from the service: its `code` and its `message` (Chinese, for the page), or code "network". */
export class Refused extends Error {
  constructor(code, message) {
    super(message);
    this.name = "Refused";
    this.code = code;
  }
}

/** POST `body` as JSON with the page's CSRF token; the answer, or Refused with the service's code and message. */
export async function postJson(url, body, csrf, fetcher = globalThis.fetch) {
  let response;
  try {
    response = await fetcher(url, {
      method: "POST",
      credentials: "same-origin",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    });
  } catch {
    throw new Refused("network", "");
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refused(answer.code || "failed", answer.message || "");
  return answer;
}

/** Full-width digits (as some phone keyboards type them) read as ASCII, as the service reads them. */
export function digits(value) {
  return String(value).replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
}

/** Why a new PIN would be refused: "weak" (not 6 digits, all the same, or a run up or down), "mismatch", or "". */
export function pinProblem(pin, again) {
  const first = digits(pin);
  if (!/^[0-9]{6}$/.test(first) || /^(.)\1{5}$/.test(first)) return "weak";
  const steps = [...first].slice(1).map((c, i) => c.charCodeAt(0) - first.charCodeAt(i));
  if (steps.every((step) => step === 1) || steps.every((step) => step === -1)) return "weak";
  if (digits(again) !== first) return "mismatch";
  return "";
}

/** Whether this browser can keep a half at all (IndexedDB and WebCrypto; private modes may lack them). */
export function canKeepHalves() {
  return Boolean(globalThis.indexedDB && globalThis.crypto && globalThis.crypto.subtle);
}

/**
 * Makes this phone's halves of the sign and encrypt keys with the service (`start` names what they are for:
 * `{ticket}` of a claim or renewal at its PIN step, or `{service_no}` of a re-key after a face check), each filed
 * under its public key and sealed under `pin` and the pepper the service answers. Storage failures are
 * CosignError "storage"; the service's refusals Refused.
 */
export async function makeHalves({ url, csrf, start, pin, fetcher, store = BROWSER_STORE }) {
  const made = [];
  for (const usage of USAGES) {
    const { session } = await postJson(url, { ...start, usage }, csrf, fetcher);
    const { message, share: half } = generateShare(session);
    const answer = await postJson(url, { session, message }, csrf, fetcher);
    const share = acceptPublicKey(half, answer);
    try {
      await store.storeShare(answer.public_key, share, digits(pin), answer.pepper, { replace: true });
    } catch (error) {
      throw new CosignError("storage", String(error));
    }
    made.push(answer.public_key);
  }
  return made;
}

function base64(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

/**
 * 「确认授权」 of a split credential's request `ref`: the PIN to the service (counted as any PIN), this browser's
 * half opened with it and the pepper, then each signature finished — only of the digests in `shown` (hex), else
 * CosignError "digest" — and sent back, or the decryption message sent. CosignError "missing" / "wrong-pin" when
 * the half is not here or does not open.
 */
export async function approveRequest({ urls, csrf, ref, pin, shown, fetcher, store = BROWSER_STORE }) {
  const typed = digits(pin);
  const approval = await postJson(urls.approve, { authorization: ref, pin: typed }, csrf, fetcher);
  const share = await store.loadShare(approval.public_key, typed, approval.pepper);
  if (approval.operation === "decrypt") {
    const message = decryptMessage(share, approval.session, approval.c1);
    return postJson(urls.decrypt, { session: approval.session, message }, csrf, fetcher);
  }
  const wanted = new Set(shown);
  if (approval.rounds.length !== wanted.size || approval.rounds.some((round) => !wanted.has(round.e))) {
    throw new CosignError("digest", "the service asks for digests this page does not show");
  }
  const signatures = [];
  for (const round of approval.rounds) {
    const { message, secret } = signMessage(share, round.session, round.e);
    const answer = await postJson(urls.sign, { session: round.session, message }, csrf, fetcher);
    signatures.push({ session: round.session, signature: base64(finishSignature(share, secret, answer)) });
  }
  return postJson(urls.sign, { authorization: ref, signatures }, csrf, fetcher);
}

/**
 * 修改 PIN 码 of a split credential: each half kept here (`keys`: [[usage, public key hex]] of the live shares,
 * `kept`: the same of the encryption halves kept from before renewals) opened with the old PIN (its pepper
 * released after the service counted that PIN) and sealed again under the new one. Returns whether a live half
 * was missing in this browser (the change still goes through on the service); a kept half not here is skipped.
 */
export async function resealHalves({
  url,
  csrf,
  serviceNo,
  keys,
  kept = [],
  oldPin,
  newPin,
  fetcher,
  store = BROWSER_STORE,
}) {
  const opened = [];
  let missing = false;
  for (const [usage, key, archived] of [...keys, ...kept.map(([usage, key]) => [usage, key, true])]) {
    if (!(await store.hasShare(key))) {
      missing ||= !archived;
      continue;
    }
    const body = { service_no: serviceNo, usage, public_key: key, pin: digits(oldPin) };
    const { pepper } = await postJson(url, body, csrf, fetcher);
    opened.push([key, await store.loadShare(key, digits(oldPin), pepper), pepper]);
  }
  for (const [key, share, pepper] of opened) {
    await store.storeShare(key, share, digits(newPin), pepper, { replace: true });
  }
  return missing;
}
