#!/usr/bin/env bash
# Creates .venv and installs casesearch with its extras. Idempotent and quick when done before.
#   scripts/bootstrap.sh            runtime only (the quick start)
#   scripts/bootstrap.sh dev        + test, lint and evaluation tools
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: casesearch needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian's python3 splits venv into its own package.
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv .venv
    else
      echo "error: python3 -m venv failed: install your distribution's python3-venv" >&2
      exit 1
    fi
  fi
fi

extras=""
[[ ${1:-} == dev ]] && extras="[dev,eval]"
stamp=".venv/.installed${extras}"
# Reinstall only when pyproject.toml changed since the last install.
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi

# Web pages (issue #7): GOV.UK Frontend from npm, pinned by package-lock.json; its built CSS, JS,
# fonts and images are copied into search_api/web/static/govuk (gitignored) and served from
# there. Nothing is fetched at run time. Quick when node_modules and the copy are current.
if command -v npm >/dev/null && command -v node >/dev/null; then
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  node search_api/web/build-assets.mjs >/dev/null
elif [[ ! -f search_api/web/static/govuk/govuk-frontend.min.css ]]; then
  echo "warning: Node.js and npm are missing, so the web pages will be unstyled: install them" \
       "(e.g. apt-get install nodejs npm) and run scripts/bootstrap.sh again" >&2
fi
