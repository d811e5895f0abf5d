#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: uv (pinned, from PyPI), the locked virtual environment,
# and the Kafka jars (from Maven Central). Safe to run again; fast when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
uv sync --frozen --quiet
uv run --frozen --no-sync python -c "from csms.infra import kafka; kafka.fetch()"
