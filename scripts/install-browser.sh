#!/usr/bin/env bash
# The browser the review-page tests drive: Debian's chromium (Playwright's Python package
# is pointed at /usr/bin/chromium; it never downloads a browser).
set -euo pipefail
if command -v chromium >/dev/null; then exit 0; fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
