#!/usr/bin/env bash
# Fails when clients/typescript/src/schema.d.ts is not what openapi-typescript makes of
# api/openapi.yaml now (regenerate with `npm run generate:ts`).
# Usage: tests/contract/check_ts_types.sh SCRATCH_DIR   (from the repository's root)
set -euo pipefail
mkdir -p "$1"
npx --no-install openapi-typescript api/openapi.yaml --default-non-nullable false \
  -o "$1/schema.d.ts" >/dev/null
if ! diff -u clients/typescript/src/schema.d.ts "$1/schema.d.ts"; then
  echo "clients/typescript/src/schema.d.ts is stale: run npm run generate:ts" >&2
  exit 1
fi
