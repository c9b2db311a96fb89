#!/usr/bin/env bash
# Builds a Spin Python app (run from its directory, as `spin build` does) with the
# pinned official toolchain, installed into a cached virtualenv:
#   ../build-python.sh                 spin-sdk 3.4.1 + componentize-py 0.16.0 (WASI 0.2)
#   ../build-python.sh 5.0.0 0.25.1    spin-sdk 5.0.0 + componentize-py 0.25.1 (WASIp3)
#   ../build-python.sh 3.4.1 0.16.0 spin-all   another world of the SDK (default: its
#                                      HTTP world: spin-http, spin:up/http-trigger@4.1.0)
# Cache: $SPIN_KUBE_CACHE (default ~/.cache/spin-kube). The build is skipped when
# app.wasm is newer than every source file.
set -euo pipefail
SPIN_SDK=${1:-3.4.1}
COMPONENTIZE_PY=${2:-0.16.0}
WORLD=${3:-}
cache="${SPIN_KUBE_CACHE:-$HOME/.cache/spin-kube}"
venv="$cache/python-sdk-$SPIN_SDK-componentize-$COMPONENTIZE_PY"
if [ ! -x "$venv/bin/componentize-py" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY" "spin-sdk==$SPIN_SDK"
fi
if [ -f app.wasm ] && [ -z "$(find src -newer app.wasm -name '*.py')" ] &&
  { [ ! -d wit ] || [ -z "$(find wit -newer app.wasm)" ]; }; then
  exit 0
fi
case "$SPIN_SDK" in
  3.*)
    site=$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')
    "$venv/bin/componentize-py" -d "$site/spin_sdk/wit" -w "${WORLD:-spin-http}" componentize app -p src -p "$site" -o app.wasm.tmp
    ;;
  *)
    # spin-sdk 4+ registers its WIT with componentize-py; it is found from the venv.
    # An app with a `wit/` folder of its own (a trigger plugin's world, a world that
    # imports a dependency) uses that. A WASI world of the SDK's WIT that its bindings
    # do not cover (`wasi:http/middleware@0.3.0`) is built from that WIT alone (outside
    # the venv, so the registered copy does not clash), with bindings generated now
    # (module `wit_world`).
    if [[ "${WORLD:-}" == wasi:* ]]; then
      site=$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')
      "$venv/bin/componentize-py" -d "$site/spin_sdk/wit" -w "$WORLD" componentize app -p src -o app.wasm.tmp
    else
      wit=()
      if [ -d wit ]; then wit=(-d wit); fi
      PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" \
        "$venv/bin/componentize-py" "${wit[@]}" -w "${WORLD:-spin:up/http-trigger@4.1.0}" componentize app -p src -o app.wasm.tmp
    fi
    ;;
esac
mv app.wasm.tmp app.wasm
