#!/usr/bin/env bash
# The quick start: installs casesearch, starts a local OpenSearch node, loads demo data and
# serves the API and web pages on http://127.0.0.1:8000/ (embedded defaults, no Docker).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/casesearch serve "$@"
