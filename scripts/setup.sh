#!/usr/bin/env bash
# Create .venv with the locked packages (uv when present, else installed with pip first).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v uv >/dev/null 2>&1; then
  uv=(uv)
else
  python3 -m uv --version >/dev/null 2>&1 || {
    echo "uv not found: installing it with pip" >&2
    python3 -m pip install --quiet --disable-pip-version-check uv
  }
  uv=(python3 -m uv)
fi
"${uv[@]}" sync --frozen
