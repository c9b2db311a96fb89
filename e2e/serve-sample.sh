#!/usr/bin/env bash
# Sets up, builds, and serves the bundled sample app (examples/hello-python) with our
# runtime on http://127.0.0.1:3000. No cluster, no containerd. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
bash e2e/setup.sh
(cd examples/hello-python && ../build-python.sh)
cargo build --release -p spin-run
exec "$CARGO_TARGET_DIR/release/spin-run" --from examples/hello-python "$@"
