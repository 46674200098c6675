// The phone's module for two-party SM2 (issue 20), bundled to mobileca/shield/static/shield/cosign.js.
export { CosignError, parsePoint, parseScalar, pointToHex, bytesToHex, hexToBytes } from "./curve.js";
export { sm3 } from "./sm3.js";
export { DEFAULT_ID, zOf, messageDigest, verifySignature, encodeSignature, decodeSignature } from "./sm2.js";
export {
  acceptPublicKey,
  checkShare,
  decryptMessage,
  finishSignature,
  generateShare,
  signMessage,
} from "./protocol.js";
export { forgetShare, hasShare, loadShare, storeShare } from "./storage.js";
export {
  Refused,
  approveRequest,
  canKeepHalves,
  digits,
  makeHalves,
  pinProblem,
  postJson,
  resealHalves,
} from "./pages.js";
