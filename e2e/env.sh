# Sourced by the scripts: one build directory outside the clone, reused across runs.
export SPIN_KUBE_CACHE="${SPIN_KUBE_CACHE:-$HOME/.cache/spin-kube}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SPIN_KUBE_CACHE/target}"
