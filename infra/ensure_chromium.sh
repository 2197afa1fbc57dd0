#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser (e2e) test of the
# live-operations page. Idempotent: exits 0 at once when it is already there.
# Playwright drives this system browser; never run `playwright install`.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "chromium: $CHROMIUM present, nothing to do" >&2
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "chromium: $CHROMIUM missing and not root (nor passwordless sudo):" \
        "run 'apt-get update && apt-get install -y --no-install-recommends chromium' as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "chromium: $CHROMIUM missing; running apt-get update" >&2
"${SUDO[@]}" apt-get update -qq
echo "chromium: apt-get install -y --no-install-recommends chromium" >&2
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
    echo "chromium: installed, but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")" >&2
