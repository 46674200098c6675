import assert from "node:assert/strict";
import { test } from "node:test";
import smCrypto from "sm-crypto";
import { sm3 } from "../sm3.js";
import { bytesToHex } from "../curve.js";

const ascii = (s) => new TextEncoder().encode(s);

test("SM3 gives the GB/T 32905-2016 Annex A examples", () => {
  assert.equal(bytesToHex(sm3(ascii("abc"))), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
  assert.equal(
    bytesToHex(sm3(ascii("abcd".repeat(16)))),
    "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
  );
});

test("SM3 agrees with sm-crypto on every length across the padding boundaries", () => {
  for (let length = 0; length < 200; length++) {
    const data = new Uint8Array(length);
    crypto.getRandomValues(data);
    assert.equal(bytesToHex(sm3(data)), smCrypto.sm3(Array.from(data)), `length ${length}`);
  }
});

test("SM3 refuses what is not bytes", () => {
  assert.throws(() => sm3("abc"), TypeError);
});
