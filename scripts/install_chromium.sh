#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/e2e, driven by Playwright with executable_path=/usr/bin/chromium;
# Playwright's own browser download does not work here). Idempotent: does nothing when chromium is installed.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
