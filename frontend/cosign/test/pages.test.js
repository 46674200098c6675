import assert from "node:assert/strict";
import { test } from "node:test";
import { CosignError } from "../curve.js";
import { Refused, approveRequest, digits, makeHalves, pinProblem, postJson, resealHalves } from "../pages.js";
import { verifySignature } from "../sm2.js";
import { SimulatedService } from "./service-sim.js";

// The pages' calls against a simulated service (the test double of the service's half) behind a fake fetch, and a
// share store in memory in place of IndexedDB (storage.test.js and the browser tests cover the real one).

function memoryStore() {
  const kept = new Map();
  return {
    kept,
    async storeShare(id, share, pin, pepper, { replace = false } = {}) {
      if (!replace && kept.has(id)) throw new CosignError("exists", "already stored");
      kept.set(id, { share, pin, pepper });
    },
    async loadShare(id, pin, pepper) {
      const record = kept.get(id);
      if (!record) throw new CosignError("missing", "no share");
      if (record.pin !== pin || record.pepper !== pepper) throw new CosignError("wrong-pin", "does not open");
      return record.share;
    },
    async hasShare(id) {
      return kept.has(id);
    },
  };
}

const json = (status, body) => ({ ok: status < 400, status, json: async () => body });

/** A fake service speaking the JSON endpoints' shapes, with one SimulatedService per usage. */
function fakeService({ pin = "135790", pepper = "ab".repeat(32) } = {}) {
  const halves = { sign: new SimulatedService(), encrypt: new SimulatedService() };
  const sessions = new Map();
  const calls = [];
  let counter = 0;
  const session = (what) => {
    const name = `session-${++counter}`;
    sessions.set(name, what);
    return name;
  };
  const fetcher = async (url, init) => {
    const body = JSON.parse(init.body);
    calls.push([url, body, init.headers["X-CSRFToken"]]);
    if (url === "/keygen/") {
      if (body.usage) return json(200, { session: session(body.usage) });
      const usage = sessions.get(body.session);
      return json(200, { ...halves[usage].keygen(body.session, body.message), pepper });
    }
    if (url === "/approve/") {
      if (body.pin !== pin) return json(403, { code: "wrong_pin", message: "PIN 码错误" });
      return json(200, {
        operation: "sign",
        public_key: halves.sign.publicKey,
        pepper,
        rounds: fakeService.digests.map((e) => ({ session: session("sign"), e })),
      });
    }
    if (url === "/sign/") {
      if (body.signatures) return json(200, { status: "authorized", signatures: body.signatures });
      return json(200, halves.sign.sign(body.session, body.message));
    }
    return json(404, { code: "not_found", message: "" });
  };
  return { halves, fetcher, calls, pin, pepper };
}
fakeService.digests = ["11".repeat(32), "22".repeat(32)];

test("postJson: the service's refusal keeps its code and message; a network failure is code network", async () => {
  await assert.rejects(
    postJson("/x/", {}, "t", async () => json(409, { code: "no_share", message: "该证书没有协同密钥" })),
    (error) => error instanceof Refused && error.code === "no_share" && error.message === "该证书没有协同密钥",
  );
  await assert.rejects(
    postJson("/x/", {}, "t", async () => {
      throw new TypeError("offline");
    }),
    (error) => error instanceof Refused && error.code === "network",
  );
});

test("pinProblem: the service's rules (6 digits, not all the same, not a run) and the repeat", () => {
  assert.equal(pinProblem("135790", "135790"), "");
  assert.equal(pinProblem("１３５７９０", "135790"), "");
  for (const weak of ["12345", "111111", "123456", "654321", "12a456"]) assert.equal(pinProblem(weak, weak), "weak");
  assert.equal(pinProblem("135790", "135791"), "mismatch");
  assert.equal(digits("０９"), "09");
});

test("makeHalves files both halves under their public keys, sealed under the PIN and the pepper", async () => {
  const service = fakeService();
  const store = memoryStore();
  const made = await makeHalves({
    url: "/keygen/", csrf: "token", start: { ticket: "T1" }, pin: "１３５７９０", fetcher: service.fetcher, store,
  });
  assert.deepEqual(made, [service.halves.sign.publicKey, service.halves.encrypt.publicKey]);
  assert.deepEqual([...store.kept.keys()], made);
  for (const record of store.kept.values()) assert.deepEqual([record.pin, record.pepper], ["135790", service.pepper]);
  const begun = service.calls.filter(([, body]) => body.usage).map(([, body]) => body);
  assert.deepEqual(begun, [{ ticket: "T1", usage: "sign" }, { ticket: "T1", usage: "encrypt" }]);
  assert.ok(service.calls.every(([, , csrf]) => csrf === "token"));
});

test("approveRequest signs only the digests shown, and the signatures verify under the public key", async () => {
  const service = fakeService();
  const store = memoryStore();
  await makeHalves({ url: "/keygen/", csrf: "t", start: { ticket: "T" }, pin: service.pin, fetcher: service.fetcher, store });
  const urls = { approve: "/approve/", sign: "/sign/", decrypt: "/decrypt/" };
  const base = { urls, csrf: "t", ref: "R", pin: service.pin, fetcher: service.fetcher, store };

  await assert.rejects(
    approveRequest({ ...base, shown: [fakeService.digests[0]] }),
    (error) => error instanceof CosignError && error.code === "digest",
  );
  assert.ok(!service.calls.some(([url, body]) => url === "/sign/" && body.session), "nothing signed");

  const answer = await approveRequest({ ...base, shown: fakeService.digests });
  assert.equal(answer.status, "authorized");
  for (const [item, e] of answer.signatures.map((s, i) => [s, fakeService.digests[i]])) {
    const der = Uint8Array.from(atob(item.signature), (c) => c.charCodeAt(0));
    assert.ok(verifySignature(service.halves.sign.publicKey, Buffer.from(e, "hex"), der));
    assert.ok(!verifySignature(service.halves.sign.publicKey, Buffer.from("33".repeat(32), "hex"), der));
  }
  await assert.rejects(
    approveRequest({ ...base, pin: "000000", shown: fakeService.digests }),
    (error) => error instanceof Refused && error.code === "wrong_pin",
  );
});

test("resealHalves opens each half with the old PIN and seals it under the new one; a missing half is said", async () => {
  const service = fakeService();
  const store = memoryStore();
  const [signKey, encryptKey] = await makeHalves({
    url: "/keygen/", csrf: "t", start: { ticket: "T" }, pin: "135790", fetcher: service.fetcher, store,
  });
  const pepper = async (url, init) => json(200, { pepper: service.pepper, asked: JSON.parse(init.body) });
  const missing = await resealHalves({
    url: "/pepper/", csrf: "t", serviceNo: "ESD1", keys: [["sign", signKey], ["encrypt", encryptKey]],
    oldPin: "135790", newPin: "246801", fetcher: pepper, store,
  });
  assert.equal(missing, false);
  for (const record of store.kept.values()) assert.equal(record.pin, "246801");
  store.kept.delete(encryptKey);
  const again = await resealHalves({
    url: "/pepper/", csrf: "t", serviceNo: "ESD1", keys: [["sign", signKey], ["encrypt", encryptKey]],
    oldPin: "246801", newPin: "357912", fetcher: pepper, store,
  });
  assert.equal(again, true);
  assert.equal(store.kept.get(signKey).pin, "357912");
  await assert.rejects(
    resealHalves({
      url: "/pepper/", csrf: "t", serviceNo: "ESD1", keys: [["sign", signKey]], oldPin: "000000",
      newPin: "135790", fetcher: pepper, store,
    }),
    (error) => error instanceof CosignError && error.code === "wrong-pin",
  );
  assert.equal(store.kept.get(signKey).pin, "357912", "a refused reseal leaves the half as it was");
});

test("resealHalves seals a half kept from before a renewal too, naming its public key; one not here is skipped", async () => {
  const service = fakeService();
  const store = memoryStore();
  const [signKey, encryptKey] = await makeHalves({
    url: "/keygen/", csrf: "t", start: { ticket: "T" }, pin: "135790", fetcher: service.fetcher, store,
  });
  const oldKey = "04" + "cd".repeat(64);
  await store.storeShare(oldKey, { old: true }, "135790", "ef".repeat(32));
  const asked = [];
  const pepper = async (url, init) => {
    const body = JSON.parse(init.body);
    asked.push(body);
    return json(200, { pepper: body.public_key === oldKey ? "ef".repeat(32) : service.pepper });
  };
  const missing = await resealHalves({
    url: "/pepper/", csrf: "t", serviceNo: "ESD1", keys: [["sign", signKey], ["encrypt", encryptKey]],
    kept: [["encrypt", oldKey], ["encrypt", "04" + "00".repeat(64)]], oldPin: "135790", newPin: "246801",
    fetcher: pepper, store,
  });
  assert.equal(missing, false, "a kept half that is not in this browser does not count as missing");
  assert.deepEqual(asked.map((body) => body.public_key), [signKey, encryptKey, oldKey]);
  assert.equal(store.kept.get(oldKey).pin, "246801");
  assert.deepEqual(store.kept.get(oldKey).share, { old: true });
});
