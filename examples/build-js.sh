#!/usr/bin/env bash
# Builds a Spin JavaScript app (run from its directory, as `spin build` does) with the
# official build tools pinned in its package-lock.json (@spinframework/build-tools:
# componentize-js, StarlingMonkey), from the npm registry:
#   ../build-js.sh [ENTRY]     ENTRY defaults to src/index.js; writes app.wasm
# The build is skipped when app.wasm is newer than every source file.
set -euo pipefail
ENTRY=${1:-src/index.js}
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules
fi
if [ -f app.wasm ] && [ -z "$(find src package-lock.json -newer app.wasm)" ]; then
  exit 0
fi
npx --no-install j2w -i "$ENTRY" -o app.wasm.tmp
mv app.wasm.tmp app.wasm
