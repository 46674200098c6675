// SM3 (GB/T 32905-2016), the hash of SM2's e = SM3(Z || M). Small and self-contained: see frontend/README.md for why
// it is not an npm package. Checked against the standard's Annex A examples and an independent implementation.

const IV = [
  0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e,
];

const rotl = (x, n) => ((x << (n & 31)) | (x >>> (32 - (n & 31)))) >>> 0;
const p0 = (x) => (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
const p1 = (x) => (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;

function compress(v, block, offset) {
  const w = new Uint32Array(68);
  const w1 = new Uint32Array(64);
  for (let j = 0; j < 16; j++) {
    const i = offset + 4 * j;
    w[j] = ((block[i] << 24) | (block[i + 1] << 16) | (block[i + 2] << 8) | block[i + 3]) >>> 0;
  }
  for (let j = 16; j < 68; j++) {
    w[j] = (p1(w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15)) ^ rotl(w[j - 13], 7) ^ w[j - 6]) >>> 0;
  }
  for (let j = 0; j < 64; j++) w1[j] = (w[j] ^ w[j + 4]) >>> 0;
  let [a, b, c, d, e, f, g, h] = v;
  for (let j = 0; j < 64; j++) {
    const t = j < 16 ? 0x79cc4519 : 0x7a879d8a;
    const ss1 = rotl((rotl(a, 12) + e + rotl(t, j)) >>> 0, 7);
    const ss2 = (ss1 ^ rotl(a, 12)) >>> 0;
    const ff = j < 16 ? a ^ b ^ c : (a & b) | (a & c) | (b & c);
    const gg = j < 16 ? e ^ f ^ g : (e & f) | (~e & g);
    const tt1 = (ff + d + ss2 + w1[j]) >>> 0;
    const tt2 = (gg + h + ss1 + w[j]) >>> 0;
    d = c;
    c = rotl(b, 9);
    b = a;
    a = tt1;
    h = g;
    g = rotl(f, 19);
    f = e;
    e = p0(tt2);
  }
  return [a, b, c, d, e, f, g, h].map((x, i) => (x ^ v[i]) >>> 0);
}

/** SM3 of `data` (a Uint8Array): 32 bytes. */
export function sm3(data) {
  if (!(data instanceof Uint8Array)) throw new TypeError("sm3 hashes a Uint8Array");
  const bitLength = BigInt(data.length) * 8n;
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  new DataView(padded.buffer).setBigUint64(padded.length - 8, bitLength, false);
  let v = IV.slice();
  for (let offset = 0; offset < padded.length; offset += 64) v = compress(v, padded, offset);
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  v.forEach((x, i) => view.setUint32(4 * i, x, false));
  return out;
}
