#!/usr/bin/env bash
# Make Debian's Chromium available: Playwright cannot download its own browser here.
set -euo pipefail
for candidate in "${BROWSER_EXECUTABLE_PATH:-}" /usr/bin/chromium /usr/lib/chromium/chromium; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then exit 0; fi
done
echo "Chromium not found: installing Debian's chromium package" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "run as root or install chromium: apt-get install chromium" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium >/dev/null
