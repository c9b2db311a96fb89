#!/usr/bin/env bash
# Redis trigger benchmark: messages published to a redis-server of its own, handled
# by the Python Redis examples on spin-run (examples/redis-python: spin-sdk 3.4.1,
# WASI 0.2; examples/redis-python-sdk5: spin-sdk 5, WASIp3), each message a fresh
# instance that appends it to a list on the same server (one outbound connect and
# RPUSH). Measured in one run, against the server's raw publish rate
# (redis-benchmark PUBLISH on a channel nobody subscribes to):
#   throughput  N messages published at once (pipelined); messages/s until the list
#               holds all N
#   latency     one message at a time: PUBLISH until the list has grown (p50, p99)
#   ./e2e/bench-redis.sh [--messages N] [--samples N]
set -euo pipefail
cd "$(dirname "$0")/.."
source e2e/env.sh
SPIN_KUBE_BENCH=1 bash e2e/setup.sh
messages=2000
samples=200
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    *) echo "usage: $0 [--messages N] [--samples N]" >&2; exit 2 ;;
  esac
done
cargo build --release --workspace --bins
(cd examples/redis-python && ../build-python.sh 3.4.1 0.16.0 spin-all)
(cd examples/redis-python-sdk5 && ../build-python.sh 5.0.0 0.25.1 spin:up/redis-trigger@4.1.0)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
for _ in $(seq 100); do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then break; fi
  sleep 0.1
done

raw=$(redis-benchmark -p "$port" -n 200000 -c 8 -P 1 -q PUBLISH bench-raw x | tr '\r' '\n' |
  grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)

echo "$(nproc) cores; $messages messages for throughput, $samples one at a time for latency"
printf '%-36s %12s %10s %10s %12s\n' what msgs/s p50 p99 "vs raw"
printf '%-36s %12.0f %10s %10s %12s\n' "redis-benchmark PUBLISH (raw)" "$raw" - - 1.00x
for app in redis-python redis-python-sdk5; do
  list=received
  [ "$app" = redis-python-sdk5 ] && list=received-sdk5
  log="$work/$app.log"
  SPIN_VARIABLE_REDIS_ADDRESS="redis://127.0.0.1:$port" RUST_LOG=info NO_COLOR=1 \
    "$CARGO_TARGET_DIR/release/spin-run" --from "examples/$app" --listen 127.0.0.1:0 \
    --cache-dir "$HOME/.cache/spin-kube/bench-redis-compiled" >/dev/null 2>"$log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1200); do
    if grep -q "Redis trigger subscribed" "$log"; then break; fi
    sleep 0.1
  done
  python3 - "$port" "$list" "$messages" "$samples" "$raw" "$app" <<'PY'
import socket, sys, time

port, key, n, samples, raw, app = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]

def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

sock = socket.create_connection(("127.0.0.1", port))
reader = sock.makefile("rb")

def reply():
    line = reader.readline()
    if line[:1] == b"$":
        size = int(line[1:])
        return None if size < 0 else reader.read(size + 2)[:-2]
    return line[1:].strip()

def call(*args):
    sock.sendall(command(*args))
    return reply()

def length():
    return int(call("LLEN", key))

call("DEL", key)
start = time.perf_counter()
sock.sendall(b"".join(command("PUBLISH", "messages", "m%d" % i) for i in range(n)))
for _ in range(n):
    reply()
deadline = start + 120
while length() < n and time.perf_counter() < deadline:
    time.sleep(0.001)
elapsed = time.perf_counter() - start
handled = length()

latencies = []
for i in range(samples):
    before = length()
    t0 = time.perf_counter()
    call("PUBLISH", "messages", "l%d" % i)
    while length() <= before:
        if time.perf_counter() - t0 > 10:
            break
    latencies.append((time.perf_counter() - t0) * 1000)
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
rate = handled / elapsed
print("%-36s %12.0f %8.2fms %8.2fms %11.3fx" % (app + " (trigger -> RPUSH)", rate, p(0.5), p(0.99), rate / raw))
if handled < n:
    print("  only %d of %d messages handled within 120 s" % (handled, n))
PY
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
