#!/usr/bin/env bash
# HTTP benchmark: our runtime vs `wasmtime serve` (wasmtime-cli at the same Wasmtime
# version, installed from crates.io into the cache on first use) vs native hyper, all
# serving hello-world under the same bounded wrk load on 127.0.0.1; then the Python SDK
# samples (WASI 0.2 and WASIp3, the latter also with instance reuse) on our runtime;
# then the SDK-built samples (JavaScript, both Pythons) end to end: first start with an
# empty compile cache and from it, idle RSS after each, throughput against
# `wasmtime serve` (JavaScript) and against reference figures.
#   ./e2e/bench-http.sh [--duration SECS] [--connections N]
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
SPIN_KUBE_BENCH=1 bash e2e/setup.sh
WASMTIME_VERSION=$(cargo tree -p spin-runtime -i wasmtime --depth 0 -e normal 2>/dev/null | head -1 | sed -E 's/wasmtime v([^ ]+).*/\1/')
root="$SPIN_KUBE_CACHE/wasmtime-cli-$WASMTIME_VERSION"
if [ ! -x "$root/bin/wasmtime" ]; then
  echo "installing wasmtime-cli $WASMTIME_VERSION (once; this compiles Wasmtime)..." >&2
  cargo install --quiet --locked wasmtime-cli --version "$WASMTIME_VERSION" --root "$root"
fi
cargo build --release --workspace --bins
# Our server as the images ship it (whole-program optimized; the first build takes
# about 12 minutes on 2 cores).
cargo build --profile dist -p spin-run
(cd examples/hello-js && ../build-js.sh)
(cd examples/hello-python && ../build-python.sh)
(cd examples/hello-python-sdk5 && ../build-python.sh 5.0.0 0.25.1)
exec "$CARGO_TARGET_DIR/release/bench-http" \
  --spin-run "$CARGO_TARGET_DIR/dist/spin-run" \
  --spin-run-release "$CARGO_TARGET_DIR/release/spin-run" \
  --wasmtime "$root/bin/wasmtime" \
  --native "$CARGO_TARGET_DIR/release/native-hello" \
  --python-p2 examples/hello-python --python-p3 examples/hello-python-sdk5 \
  --js examples/hello-js "$@"
