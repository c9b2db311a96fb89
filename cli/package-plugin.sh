#!/usr/bin/env bash
# Packages spin-kube as the Spin plugins `kube` and `k8s` (the same binary): for each
# NAME a tar.gz holding the executable NAME and the plugin manifest NAME.json Spin
# installs from:
#   spin plugins install --file OUT_DIR/kube.json --yes   # spin kube --help
#   spin plugins install --file OUT_DIR/k8s.json --yes    # spin k8s --help
# Usage: cli/package-plugin.sh [OUT_DIR]   (default: $SPIN_KUBE_CACHE/plugin)
# SPIN_KUBE_BIN names an already built binary; otherwise it is built in release mode.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../e2e/env.sh"
out="$(mkdir -p "${1:-$SPIN_KUBE_CACHE/plugin}" && cd "${1:-$SPIN_KUBE_CACHE/plugin}" && pwd)"
bin="${SPIN_KUBE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet -p spin-kube --manifest-path "$here/../Cargo.toml"
  bin="$CARGO_TARGET_DIR/release/spin-kube"
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -1)
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) echo "error: Spin has no plugin architecture name for $(uname -m)" >&2; exit 1 ;;
esac
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
# The same binary under two plugin names: `kube` (SpinKube's name) and `k8s`. Spin's
# plugin manifest has no aliases, so each name is a plugin of its own.
for name in kube k8s; do
  mkdir -p "$stage/$name"
  # Stripped: the release profile keeps line tables, which users of the plugin never need.
  install -m 0755 "$bin" "$stage/$name/$name"
  strip "$stage/$name/$name"
  tarball="$out/spin-$name-$version-linux-$arch.tar.gz"
  tar -C "$stage/$name" -czf "$tarball" "$name"
  sha=$(sha256sum "$tarball" | cut -d' ' -f1)
  cat > "$out/$name.json" <<JSON
{
  "name": "$name",
  "description": "Push Spin apps as OCI artifacts, scaffold SpinApp manifests and deploy them to Kubernetes.",
  "version": "$version",
  "spinCompatibility": ">=2.0",
  "license": "Apache-2.0",
  "packages": [
    {
      "os": "linux",
      "arch": "$arch",
      "url": "file://$tarball",
      "sha256": "$sha"
    }
  ]
}
JSON
  echo "$out/$name.json"
done
