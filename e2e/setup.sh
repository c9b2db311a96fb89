#!/usr/bin/env bash
# Installs what building, serving and testing need on a fresh Debian machine.
# Safe to run again: it only installs what is missing.
set -euo pipefail

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v curl >/dev/null || need_apt+=(curl)
# build-images strips the binaries it puts in the chart's images.
command -v strip >/dev/null || need_apt+=(binutils)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# The OCI registry the push and deploy tests push to (CNCF Distribution, on loopback).
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
# Servers the data-service tests start on free loopback ports.
command -v redis-server >/dev/null || need_apt+=(redis-server)
# Node.js and npm for the JavaScript example (its build tools come from the npm registry).
command -v npm >/dev/null || need_apt+=(npm)
command -v mosquitto >/dev/null || need_apt+=(mosquitto)
command -v mosquitto_sub >/dev/null || need_apt+=(mosquitto-clients)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
if [ "${SPIN_KUBE_BENCH:-}" = 1 ]; then
  command -v wrk >/dev/null || need_apt+=(wrk)
  # The benchmark stops its servers with `kill -TERM`, so they clean up after themselves.
  [ -x /bin/kill ] || need_apt+=(procps)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Rust: Wasmtime 48 needs rustc 1.95 or newer. Debian's own rustc is older, so this
# uses the machine's rustup toolchain and says so plainly when there is none.
if ! command -v cargo >/dev/null; then
  echo "error: cargo is not installed; install Rust 1.95 or newer (rustup) and run this again" >&2
  exit 1
fi
rustc_minor=$(rustc --version | sed -E 's/rustc 1\.([0-9]+).*/\1/')
if [ "$rustc_minor" -lt 95 ]; then
  echo "error: $(rustc --version) is too old; Wasmtime 48 needs rustc 1.95 or newer" >&2
  exit 1
fi
