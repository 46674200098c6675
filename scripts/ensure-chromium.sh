#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never a downloaded build). Install it when missing and we may.
set -euo pipefail
if [ -x /usr/bin/chromium ] || [ "${MOBILECA_SKIP_BROWSER:-}" = "1" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser tests..."
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  exit 0
fi
echo "The browser tests need Debian's Chromium. Install it with:  sudo apt-get install chromium" >&2
echo "(or set MOBILECA_SKIP_BROWSER=1 to skip them)" >&2
exit 1
