#!/usr/bin/env bash
# Start-up, memory and density of Spin pods on a real containerd over CRI, against the
# local runner (spin-run) in the same run. Needs root. Bounded: --pods N (default 20).
#   sudo ./e2e/bench-start.sh [--pods N]
# Also measures the Python SDK sample (examples/hello-python) pod first, alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
bash e2e/setup.sh
bash e2e/setup-containerd.sh >/dev/null
cargo build --release --workspace --bins
(cd examples/hello-python && ../build-python.sh)
exec "$CARGO_TARGET_DIR/release/bench-start" --python examples/hello-python "$@"
