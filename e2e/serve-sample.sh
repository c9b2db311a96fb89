#!/usr/bin/env bash
# Sets up, builds, and serves the bundled sample app with our runtime on
# http://127.0.0.1:3000. No cluster, no containerd. Ctrl-C stops it.
#   e2e/serve-sample.sh          examples/hello-python-sdk5 (spin-sdk 5: what `pip install
#                                spin-sdk` gives a new user today; WASIp3)
#   SAMPLE=hello-python e2e/serve-sample.sh    the spin-sdk 3.4.1 sample (WASI 0.2)
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
bash e2e/setup.sh
sample="${SAMPLE:-hello-python-sdk5}"
case "$sample" in
  hello-python-sdk5) (cd examples/hello-python-sdk5 && ../build-python.sh 5.0.0 0.25.1) ;;
  *) (cd "examples/$sample" && ../build-python.sh) ;;
esac
cargo build --release -p spin-run
exec "$CARGO_TARGET_DIR/release/spin-run" --from "examples/$sample" "$@"
