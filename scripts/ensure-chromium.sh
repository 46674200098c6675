#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never a downloaded build), with CJK fonts so screenshots are readable.
# Install them when missing and we may; otherwise say how.
set -euo pipefail
if [ "${MOBILECA_SKIP_BROWSER:-}" = "1" ]; then
  exit 0
fi
if [ -x /usr/bin/chromium ] && [ -d /usr/share/fonts/opentype/noto ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium and fonts-noto-cjk for the browser tests..."
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  exit 0
fi
if [ -x /usr/bin/chromium ]; then
  echo "Note: fonts-noto-cjk is missing; screenshots will show boxes for Chinese text." >&2
  exit 0
fi
echo "The browser tests need Debian's Chromium. Install it with:  sudo apt-get install chromium fonts-noto-cjk" >&2
echo "(or set MOBILECA_SKIP_BROWSER=1 to skip them)" >&2
exit 1
