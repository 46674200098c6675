// The phone's share at rest (issue 20): in IndexedDB, sealed twice with AES-256-GCM.
//  * inner: under a key derived by HKDF-SHA-256 from the 32-byte pepper the service releases after counting the
//    attempt, followed by the PIN (ikm = pepper || UTF-8(PIN), a random 16-byte salt per record, info naming the
//    credential), so the record cannot be opened, nor the PIN guessed, without asking the service;
//  * outer: under a non-extractable AES-GCM CryptoKey generated in this browser and kept in the same record as a
//    CryptoKey object, so the bytes copied off the device are useless elsewhere.
// Both layers bind the credential id as additional data. Wrong PIN or pepper: CosignError "wrong-pin", record kept.

import { CosignError, hexToBytes } from "./curve.js";
import { checkShare } from "./protocol.js";

const DB_NAME = "mobileca-cosign";
const STORE = "shares";
const RECORD_VERSION = 1;
const LABEL = "mobileca-cosign-share-v1";

const subtle = () => {
  if (!globalThis.crypto?.subtle) throw new CosignError("storage", "WebCrypto is not available (a secure page is needed)");
  return globalThis.crypto.subtle;
};

const utf8 = (s) => new TextEncoder().encode(s);
const random = (length) => globalThis.crypto.getRandomValues(new Uint8Array(length));

function additionalData(credentialId) {
  if (typeof credentialId !== "string" || credentialId.length === 0) {
    throw new CosignError("credential", "a credential id is needed");
  }
  return utf8(`${LABEL}\u0000${credentialId}`);
}

function pepperBytes(pepper) {
  const bytes = typeof pepper === "string" ? hexToBytes(pepper) : pepper;
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new CosignError("pepper", "the pepper is 32 bytes");
  return bytes;
}

function pinBytes(pin) {
  if (typeof pin !== "string" || pin.length === 0) throw new CosignError("pin", "the PIN is missing");
  return utf8(pin);
}

async function pinKey(credentialId, pin, pepper, salt) {
  const pepperPart = pepperBytes(pepper);
  const pinPart = pinBytes(pin);
  const ikm = new Uint8Array(pepperPart.length + pinPart.length);
  ikm.set(pepperPart);
  ikm.set(pinPart, pepperPart.length);
  const base = await subtle().importKey("raw", ikm, "HKDF", false, ["deriveKey"]);
  ikm.fill(0);
  return subtle().deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info: additionalData(credentialId) },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** A new non-extractable AES-256-GCM key for the outer layer. */
export function newDeviceKey() {
  return subtle().generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

/** The record to store (without touching IndexedDB): the share sealed under the PIN key, then the device key. */
export async function sealShare(credentialId, share, pin, pepper, deviceKey) {
  checkShare(share);
  const aad = additionalData(credentialId);
  const salt = random(16);
  const innerIv = random(12);
  const outerIv = random(12);
  const plaintext = utf8(JSON.stringify(share));
  const key = await pinKey(credentialId, pin, pepper, salt);
  const inner = await subtle().encrypt({ name: "AES-GCM", iv: innerIv, additionalData: aad }, key, plaintext);
  plaintext.fill(0);
  const outer = await subtle().encrypt({ name: "AES-GCM", iv: outerIv, additionalData: aad }, deviceKey, inner);
  return { credentialId, version: RECORD_VERSION, deviceKey, salt, innerIv, outerIv, sealed: new Uint8Array(outer) };
}

/** The share of a sealed record; a wrong PIN or pepper is CosignError "wrong-pin". */
export async function openShare(record, pin, pepper) {
  if (!record || record.version !== RECORD_VERSION) throw new CosignError("storage", "not a stored share");
  const aad = additionalData(record.credentialId);
  const key = await pinKey(record.credentialId, pin, pepper, record.salt);
  let inner;
  try {
    inner = await subtle().decrypt(
      { name: "AES-GCM", iv: record.outerIv, additionalData: aad },
      record.deviceKey,
      record.sealed,
    );
  } catch {
    throw new CosignError("storage", "the stored share cannot be read in this browser");
  }
  let plaintext;
  try {
    plaintext = await subtle().decrypt({ name: "AES-GCM", iv: record.innerIv, additionalData: aad }, key, inner);
  } catch {
    throw new CosignError("wrong-pin", "wrong PIN (or the service's value for this attempt does not match)");
  }
  const bytes = new Uint8Array(plaintext);
  const share = JSON.parse(new TextDecoder().decode(bytes));
  bytes.fill(0);
  checkShare(share);
  return share;
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase() {
  if (!globalThis.indexedDB) throw new CosignError("storage", "IndexedDB is not available");
  const req = globalThis.indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => {
    if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE, { keyPath: "credentialId" });
  };
  return request(req);
}

async function withStore(mode, action) {
  const db = await openDatabase();
  try {
    const tx = db.transaction(STORE, mode);
    const done = new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new CosignError("storage", "the IndexedDB transaction was aborted"));
    });
    let result;
    try {
      result = await action(tx.objectStore(STORE));
    } catch (error) {
      done.catch(() => {});
      try {
        tx.abort();
      } catch {
        // already finished: nothing was written by this action
      }
      throw error;
    }
    await done;
    return result;
  } finally {
    db.close();
  }
}

const readRecord = (credentialId) => withStore("readonly", (store) => request(store.get(credentialId)));

/**
 * Keeps the share for `credentialId` (sealed as above). Refuses to replace a stored share unless `replace` is true
 * (a replaced share is a lost key).
 */
export async function storeShare(credentialId, share, pin, pepper, { replace = false } = {}) {
  additionalData(credentialId);
  const record = await sealShare(credentialId, share, pin, pepper, await newDeviceKey());
  await withStore("readwrite", async (store) => {
    if (!replace && (await request(store.getKey(credentialId))) !== undefined) {
      throw new CosignError("exists", "a share is already stored for this credential");
    }
    return request(store.put(record));
  });
}

/** The share for `credentialId`; CosignError "missing" if there is none, "wrong-pin" on a wrong PIN or pepper. */
export async function loadShare(credentialId, pin, pepper) {
  additionalData(credentialId);
  const record = await readRecord(credentialId);
  if (record === undefined) throw new CosignError("missing", "no share for this credential in this browser");
  return openShare(record, pin, pepper);
}

/** Deletes the share for `credentialId` (and with it the key: only a re-key after a face check replaces it). */
export async function forgetShare(credentialId) {
  additionalData(credentialId);
  await withStore("readwrite", (store) => request(store.delete(credentialId)));
}

/** Whether a share for `credentialId` is stored in this browser. */
export async function hasShare(credentialId) {
  additionalData(credentialId);
  const key = await withStore("readonly", (store) => request(store.getKey(credentialId)));
  return key !== undefined;
}
