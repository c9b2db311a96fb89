#!/usr/bin/env bash
# Soak benchmark: sustained load on a CRI pod (our shim, real containerd) and on
# spin-run, same app, same run. Needs root. Bounded: --duration SECS (default 60) per
# server after a --warmup (default 5), --connections N (default 64), loopback and the
# test's own CNI bridge only.
#   sudo ./e2e/soak.sh [--duration SECS] [--connections N]
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
bash e2e/setup.sh
bash e2e/setup-containerd.sh >/dev/null
cargo build --release -p containerd-shim-spin -p spin-kube -p spin-run -p spin-kube-e2e
exec "$CARGO_TARGET_DIR/release/soak" "$@"
