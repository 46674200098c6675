// A test driver for the Python tests (tests/test_cosign_js.py): one JSON request on stdin, one JSON answer on stdout.
// The round's secret k1 crosses the process boundary here only because each step is a fresh process in the tests.

import { CosignError, bytesToHex, hexToBytes, scalarToHex } from "../curve.js";
import { acceptPublicKey, decryptMessage, finishSignature, generateShare, signMessage } from "../protocol.js";
import { messageDigest } from "../sm2.js";

const ops = {
  keygen: ({ session }) => generateShare(session),
  accept: ({ share, response }) => ({ share: acceptPublicKey(share, response) }),
  digest: ({ publicKey, message }) => ({ e: bytesToHex(messageDigest(publicKey, hexToBytes(message))) }),
  sign: ({ share, session, e }) => {
    const { message, secret } = signMessage(share, session, e);
    return { message, secret: { ...secret, k1: scalarToHex(secret.k1) } };
  },
  finish: ({ share, secret, response }) => ({
    der: bytesToHex(finishSignature(share, { ...secret, k1: BigInt(`0x${secret.k1}`) }, response)),
  }),
  decrypt: ({ share, session, c1 }) => decryptMessage(share, session, c1),
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
try {
  process.stdout.write(JSON.stringify(ops[request.op](request)));
} catch (error) {
  if (!(error instanceof CosignError)) throw error;
  process.stdout.write(JSON.stringify({ error: error.code }));
}
