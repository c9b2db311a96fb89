#!/usr/bin/env bash
# Fuzzes the parsers of what the node reads from app authors and clients (spin.toml,
# the locked app, OCI manifests, routes, allowed hosts) with cargo-fuzz (libFuzzer).
#   e2e/fuzz.sh [SECONDS per target, default 10]
# The committed seeds are in shim/app/fuzz/corpus/<target>; what a run discovers goes
# to $SPIN_KUBE_CACHE/fuzz-corpus/<target>, so the committed corpus stays small. A
# crash stops the script and leaves its input in shim/app/fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
seconds="${1:-10}"
# cargo-fuzz from crates.io; libFuzzer's instrumentation needs nightly features, which
# the stable toolchain allows with RUSTC_BOOTSTRAP=1.
if ! cargo fuzz --version 2>/dev/null | grep -q '0.13.2'; then
  cargo install --locked --quiet cargo-fuzz@0.13.2
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$SPIN_KUBE_CACHE/fuzz-target"
cd shim/app/fuzz
for target in manifest locked_app oci_manifest routes allowed_hosts; do
  found="$SPIN_KUBE_CACHE/fuzz-corpus/$target"
  mkdir -p "$found"
  echo "fuzzing $target for ${seconds}s"
  log="$SPIN_KUBE_CACHE/fuzz-$target.log"
  if ! cargo fuzz run --release "$target" "$found" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1; then
    tail -60 "$log" >&2
    echo "error: fuzz target $target failed; the input is in shim/app/fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added)' "$log" | tr '\n' ' '
  echo
done
