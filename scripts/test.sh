#!/usr/bin/env bash
# The test command: installs what is missing, starts real OpenSearch, PostgreSQL and Redis, and
# runs pytest against them. Extra arguments go to pytest (e.g. scripts/test.sh -k search).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

scripts/bootstrap.sh dev
# shellcheck disable=SC1091
source .venv/bin/activate

# Debian's Chromium for the browser tests (tests/browser: Playwright drives it; Playwright's
# own browser download is not used).
if [[ ! -x /usr/bin/chromium && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# PostgreSQL and Redis from Debian packages, on loopback.
scripts/services.sh start
eval "$(scripts/services.sh env)"
export CASESEARCH_TEST_DATABASE_URL=$CASESEARCH_DATABASE_URL
export CASESEARCH_TEST_BROKER_URL=$CASESEARCH_BROKER_URL
unset CASESEARCH_DATABASE_URL CASESEARCH_BROKER_URL

# A dedicated local OpenSearch node for the tests (its own port and data directory).
export CASESEARCH_TEST_DATA_DIR=${CASESEARCH_TEST_DATA_DIR:-$PWD/.data/test}
export CASESEARCH_TEST_OPENSEARCH_PORT=${CASESEARCH_TEST_OPENSEARCH_PORT:-9250}
CASESEARCH_DATA_DIR=$CASESEARCH_TEST_DATA_DIR CASESEARCH_OPENSEARCH_PORT=$CASESEARCH_TEST_OPENSEARCH_PORT \
  casesearch opensearch install
CASESEARCH_DATA_DIR=$CASESEARCH_TEST_DATA_DIR CASESEARCH_OPENSEARCH_PORT=$CASESEARCH_TEST_OPENSEARCH_PORT \
  casesearch opensearch start
export CASESEARCH_TEST_OPENSEARCH_URL=http://127.0.0.1:$CASESEARCH_TEST_OPENSEARCH_PORT
export CASESEARCH_REQUIRE_SERVICES=1

echo "services ready after $(( $(date +%s) - started ))s; running pytest"
status=0
python -m pytest "$@" || status=$?
echo "scripts/test.sh finished in $(( $(date +%s) - started ))s (pytest exit $status)"
exit $status
