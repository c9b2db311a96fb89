#!/usr/bin/env bash
# Runs a local OCI registry (Debian's docker-registry, CNCF Distribution) in the
# foreground on 127.0.0.1:${1:-5000}, storing under $SPIN_KUBE_CACHE/registry.
# Plain HTTP: push to it with `spin-kube push --insecure`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
"$here/setup.sh"
port="${1:-5000}"
dir="$SPIN_KUBE_CACHE/registry"
mkdir -p "$dir"
cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
YAML
echo "registry on http://127.0.0.1:$port (Ctrl-C stops it)"
exec docker-registry serve "$dir/config.yml"
