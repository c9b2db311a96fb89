#!/usr/bin/env bash
# Data-service benchmark: the Python data examples (spin-sdk 3.4.1 / WASI 0.2 and
# spin-sdk 5 / WASIp3) on spin-run, each route under the same bounded wrk load on
# 127.0.0.1, against a redis-server and a PostgreSQL server of its own:
#   /hello  plain text (the peer: the same app doing no data work)
#   /query  one SQLite query and one key-value get
#   /redis  seven Redis commands on one connection (SET, INCR, SADD, SMEMBERS, PING,
#           ECHO, GET: one connect per request, then round-trips on it)
#   /pg     one PostgreSQL connect per request, then three statements on it (CREATE
#           TABLE IF NOT EXISTS, INSERT with parameters, SELECT)
# Prints requests/s and p50/p99 per route and the ratios to /hello.
#   ./e2e/bench-data.sh [--duration SECS] [--connections N]
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
SPIN_KUBE_BENCH=1 bash e2e/setup.sh
duration=10
connections=8
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    *) echo "usage: $0 [--duration SECS] [--connections N]" >&2; exit 2 ;;
  esac
done
cargo build --release -p spin-run
(cd examples/data-python && ../build-python.sh)
(cd examples/data-python-sdk5 && ../build-python.sh 5.0.0 0.25.1)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # URL
  for _ in $(seq 1200); do
    if curl -fs -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "no answer from $1" >&2
  exit 1
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null; then break; fi
  sleep 0.1
done

# PostgreSQL refuses to run as root: a cluster of the package's `postgres` user.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_port=$(free_port)
chmod 755 "$work" && mkdir -p "$work/pg" && chown postgres: "$work/pg"
setpriv --reuid=postgres --regid=postgres --init-groups \
  "$pg_bin/initdb" -D "$work/pg/data" -U postgres -A trust --no-sync >/dev/null
setpriv --reuid=postgres --regid=postgres --init-groups \
  "$pg_bin/postgres" -D "$work/pg/data" -p "$pg_port" -k "$work/pg" \
  -c listen_addresses=127.0.0.1 -c fsync=off >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then break; fi
  sleep 0.1
done

echo "load: wrk -t2 -c$connections -d${duration}s on loopback, $(nproc) cores"
printf '%-24s %-8s %10s %10s %10s %12s\n' app route req/s p50 p99 "vs /hello"
for app in data-python data-python-sdk5; do
  port=$(free_port)
  SPIN_VARIABLE_REDIS_ADDRESS="redis://127.0.0.1:$redis_port" RUST_LOG=warn \
    SPIN_VARIABLE_PG_ADDRESS="postgres://postgres@127.0.0.1:$pg_port/postgres" \
    "$CARGO_TARGET_DIR/release/spin-run" --from "examples/$app" \
    --runtime-config-file "examples/$app/runtime-config.toml" \
    --state-dir "$work/$app" --listen "127.0.0.1:$port" >/dev/null 2>"$work/$app.log" &
  pid=$!
  pids+=($pid)
  wait_for "http://127.0.0.1:$port/hello"
  hello_rps=""
  for route in hello query redis pg; do
    curl -fs -o /dev/null "http://127.0.0.1:$port/$route"
    out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$port/$route")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if grep -q "Non-2xx" <<<"$out"; then
      echo "warning: $app /$route: $(grep Non-2xx <<<"$out")" >&2
    fi
    [ -n "$hello_rps" ] || hello_rps=$rps
    ratio=$(awk -v a="$rps" -v b="$hello_rps" 'BEGIN {printf "%.2fx", a / b}')
    printf '%-24s %-8s %10.0f %10s %10s %12s\n' "$app" "/$route" "$rps" "$p50" "$p99" "$ratio"
  done
  kill "$pid"
done
