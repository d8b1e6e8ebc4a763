#!/usr/bin/env bash
# Pin the Dockerfile's base image to the digest its tag names today, and rewrite the
# `ARG PYTHON_BASE=` line with it (needs docker buildx and access to the registry).
# Review the diff, then commit it: later builds use exactly that image until pinned again.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-python:3.11-slim-bookworm}
digest=$(docker buildx imagetools inspect "$tag" --format '{{json .Manifest}}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')
if ! [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "unexpected digest for $tag: $digest" >&2
  exit 1
fi
sed -i "s|^ARG PYTHON_BASE=.*|ARG PYTHON_BASE=$tag@$digest|" Dockerfile
echo "Dockerfile: ARG PYTHON_BASE=$tag@$digest"
