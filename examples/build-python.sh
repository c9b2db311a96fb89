#!/usr/bin/env bash
# Builds a Spin Python app (run from its directory, as `spin build` does) with the
# pinned official toolchain, installed into a cached virtualenv.
# Cache: $SPIN_KUBE_CACHE (default ~/.cache/spin-kube). The build is skipped when
# app.wasm is newer than every source file.
set -euo pipefail
COMPONENTIZE_PY=0.16.0
SPIN_SDK=3.4.1
cache="${SPIN_KUBE_CACHE:-$HOME/.cache/spin-kube}"
venv="$cache/python-sdk-$SPIN_SDK-componentize-$COMPONENTIZE_PY"
if [ ! -x "$venv/bin/componentize-py" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY" "spin-sdk==$SPIN_SDK"
fi
if [ -f app.wasm ] && [ -z "$(find src -newer app.wasm -name '*.py')" ]; then
  exit 0
fi
site=$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')
"$venv/bin/componentize-py" -d "$site/spin_sdk/wit" -w spin-http componentize app -p src -p "$site" -o app.wasm.tmp
mv app.wasm.tmp app.wasm
