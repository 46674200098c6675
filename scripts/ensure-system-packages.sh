#!/usr/bin/env bash
# What the tests need from Debian: Chromium for the browser tests (never a downloaded build), CJK fonts so
# screenshots are readable, SoftHSM2 for the PKCS#11 key back-end, openssl for the CA tests, and a JDK with
# BouncyCastle, the peer that checks the SM2 (national-algorithm) certificates, CRLs, OCSP answers and bid files;
# Node.js and npm for the phone's JavaScript (frontend/).
# Install what is missing when we may; otherwise say how.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || [ "${MOBILECA_SKIP_BROWSER:-}" = "1" ] || missing+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
{ [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null; } || [ "${MOBILECA_SKIP_HSM:-}" = "1" ] || missing+=(softhsm2)
command -v openssl >/dev/null || missing+=(openssl)
command -v node >/dev/null || missing+=(nodejs)  # the phone's two-party SM2 code (frontend/) and its tests
command -v npm >/dev/null || missing+=(npm)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
for jar in bcprov bcpkix bcutil; do
  [ -e "/usr/share/java/$jar.jar" ] || missing+=("lib$jar-java")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing ${missing[*]} for the tests..."
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "The tests need: ${missing[*]}. Install them with:  sudo apt-get install ${missing[*]}" >&2
echo "(or set MOBILECA_SKIP_BROWSER=1 / MOBILECA_SKIP_HSM=1 to skip those tests)" >&2
exit 1
