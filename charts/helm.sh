#!/usr/bin/env bash
# Real Helm (Helm v4's Go SDK, bundled in the pinned PyPI wheel helm-python-sdk) for
# machines without the `helm` binary: `charts/helm.sh template|lint|package ...`
# (see charts/helm.py). Installed once into a cached virtualenv.
set -euo pipefail
HELM_PYTHON_SDK=0.2.2
cache="${SPIN_KUBE_CACHE:-$HOME/.cache/spin-kube}"
venv="$cache/helm-python-sdk-$HELM_PYTHON_SDK"
if ! "$venv/bin/python" -c 'import helm_python' 2>/dev/null; then
  mkdir -p "$cache"
  # Tests call this in parallel: one of them installs, the others wait.
  exec 9>"$venv.lock"
  flock 9
  if ! "$venv/bin/python" -c 'import helm_python' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "helm-python-sdk==$HELM_PYTHON_SDK"
  fi
  exec 9>&-
fi
exec "$venv/bin/python" "$(dirname "$0")/helm.py" "$@"
