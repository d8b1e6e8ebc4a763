# pims-sync: API + scheduler + worker (`serve`, the default) or jobs only (`worker`).
# Python slim + Debian's Chromium (no Playwright browser download), non-root, HEALTHCHECK.
#
# The base image is pinned by digest: a tag can be moved to other content, a digest cannot.
# This digest of python:3.11-slim-bookworm is the one two unrelated public projects pin;
# it could not be checked against the registry from the machine this was written on.
# Re-pin (and so verify) with ./scripts/pin-base-image.sh (docker buildx imagetools
# inspect; rewrites this line) and commit the result, or build with
#   --build-arg PYTHON_BASE=python:3.11-slim-bookworm@sha256:<digest you verified>
ARG PYTHON_BASE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${PYTHON_BASE} AS build

ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# uv itself pinned and hashed (docker/uv-requirements.txt): no other file is installed.
COPY docker/uv-requirements.txt /tmp/uv-requirements.txt
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: --no-deps \
        -r /tmp/uv-requirements.txt
WORKDIR /app
# Dependencies first (cached while only the code changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable


FROM ${PYTHON_BASE}

# Debian's Chromium and the fonts a page needs; tini reaps Chromium's children and
# passes SIGTERM on, so a stop is graceful (running syncs get SHUTDOWN_GRACE_SECONDS).
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation tini ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin pims \
    && mkdir -p /data && chown pims:pims /data

COPY --from=build --chown=pims:pims /app /app

# Production by default through NODE_ENV, the name pims-sync reads only when ENVIRONMENT is
# unset: `docker run -e NODE_ENV=development` replaces it and `-e ENVIRONMENT=…` outranks it,
# so a user's choice always wins (development, with no LOG_LEVEL, logs at debug).
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    BROWSER_EXECUTABLE_PATH=/usr/bin/chromium \
    HEADLESS=true \
    NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3001 \
    DATABASE_URL=sqlite:////data/pims-sync.db

USER pims
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3001

# /health answers 200 while the process is healthy (503 otherwise); no curl in slim.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3001')}/health\", timeout=4)"]

# Docker sends SIGTERM and waits 10 s by default: run with `--stop-timeout 45` (or set
# the orchestrator's grace period) so running syncs get their 30 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "pims-sync"]
CMD ["serve"]
