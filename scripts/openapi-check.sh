#!/bin/sh
# Validates the OpenAPI document (src/api/openapi.json by default) with swagger-parser, an
# OpenAPI 3.1 validator from npm, installed into tools/openapi-check/node_modules from its lock
# file on first use (npm ci). Exit status 77, with one line, when node or npm is not installed
# (scripts/install-deps.sh installs them): CTest reports the check as skipped.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOL="$ROOT/tools/openapi-check"
DOC=${1:-"$ROOT/src/api/openapi.json"}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "openapi-check: node/npm are not installed (scripts/install-deps.sh installs them): skipped"
  exit 77
fi
# npm ci only when the lock file changed since the last install: it deletes node_modules first.
if [ ! -f "$TOOL/node_modules/.package-lock.json" ] ||
  [ "$TOOL/package-lock.json" -nt "$TOOL/node_modules/.package-lock.json" ]; then
  (cd "$TOOL" && npm ci --silent --no-audit --no-fund) >&2 || {
    echo "openapi-check: npm ci in $TOOL failed" >&2
    exit 1
  }
fi
exec node "$TOOL/check.js" "$DOC"
