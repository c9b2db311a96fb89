#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
bash e2e/setup.sh
# containerd 1.7, runc, CNI plugins, protoc for the shim's end-to-end tests (root).
bash e2e/setup-containerd.sh
(cd examples/hello-js && ../build-js.sh)
(cd examples/hello-python && ../build-python.sh)
(cd examples/hello-python-sdk5 && ../build-python.sh 5.0.0 0.25.1)
(cd examples/hello-python-sdk4 && ../build-python.sh 4.0.0 0.23.0 spin:up/http-trigger@4.0.0)
(cd examples/data-python && ../build-python.sh)
(cd examples/data-python-sdk5 && ../build-python.sh 5.0.0 0.25.1)
(cd examples/chain-python && ../build-python.sh 5.0.0 0.25.1)
(cd examples/otel-python && ../build-python.sh 5.0.0 0.25.1 example:otel-app/http-app@0.1.0)
(cd examples/compose-python/app && ../../build-python.sh 5.0.0 0.25.1 example:app/http-app@0.1.0)
(cd examples/compose-python/greeter && ../../build-python.sh 5.0.0 0.25.1 example:greeter/greeter@0.1.0)
(cd examples/compose-python/middleware && ../../build-python.sh 5.0.0 0.25.1 wasi:http/middleware@0.3.0)
(cd examples/data-python-sdk4 && ../build-python.sh 4.0.0 0.23.0 spin:up/http-trigger@4.0.0)
(cd examples/redis-python && ../build-python.sh 3.4.1 0.16.0 spin-all)
(cd examples/redis-python-sdk5 && ../build-python.sh 5.0.0 0.25.1 spin:up/redis-trigger@4.1.0)
(cd examples/redis-python-sdk4 && ../build-python.sh 4.0.0 0.23.0 spin:up/redis-trigger@4.0.0)
(cd examples/mqtt-python && ../build-python.sh 5.0.0 0.25.1 spin:mqtt-trigger/spin-mqtt@3.0.0)
(cd examples/cron-python && ../build-python.sh 5.0.0 0.25.1 fermyon:spin-cron/spin-cron@2.0.0)
# Real Helm (Go SDK in the pinned PyPI wheel helm-python-sdk) for the chart's tests.
bash charts/helm.sh lint charts/spin-operator
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
# The end-to-end tests run binaries of other packages (the shim under containerd,
# spin-kube, spin-run), which `cargo test` alone does not build.
cargo build --release --workspace --bins
cargo test --release --workspace
# A short fuzzing pass over the parsers of untrusted input (10 s per target).
bash e2e/fuzz.sh 10
