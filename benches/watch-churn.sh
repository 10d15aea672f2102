#!/usr/bin/env bash
# `watch` under churn: RATE status changes per second for SECONDS against a real mosquitto.
# Measures, in one run: the event stream's lag behind the publisher (each payload carries
# its publish time), the watcher's RSS over time, mosquitto_sub on the same stream as the
# peer (what it received), and the terminal view's key-to-screen latency under the same load.
#
#   bash benches/watch-churn.sh [RATE=20000] [SECONDS=30] [DEVICES=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-20000}
SECONDS_=${2:-30}
DEVICES=${3:-1000}
export PATH="$PATH:/usr/sbin"

cargo build --release --quiet --bin mqtt-scan --example churn --example seed
BIN=target/release/mqtt-scan
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$DIR/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
user root
CONF
mosquitto -c "$DIR/mosquitto.conf" 2> "$DIR/mosquitto.log" &
BROKER=$!
PIDS=("$BROKER")
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; tmux -L churn-bench kill-server 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done

echo "machine: $(nproc) cores, $(uname -r); mosquitto $(mosquitto -h | head -1 | awk '{print $3}')"
echo "load: $RATE changes/s for $SECONDS_ s over $DEVICES devices (QoS 0, retained)"

# Phase 1: the event stream, with mosquitto_sub as the peer on the same broker.
$BIN watch -b "127.0.0.1:$PORT" --format jsonl > "$DIR/events.jsonl" &
WATCH=$!
PIDS+=("$WATCH")
mosquitto_sub -p "$PORT" -t 'sensors/connected/#' > "$DIR/sub.txt" &
SUB=$!
PIDS+=("$SUB")
sleep 1
( while kill -0 "$WATCH" 2>/dev/null; do
    echo "$(date +%s.%N) $(awk '/VmRSS/ {print $2}' /proc/$WATCH/status 2>/dev/null)"; sleep 1
  done ) > "$DIR/rss.txt" &
PIDS+=("$!")
target/release/examples/churn 127.0.0.1 "$PORT" "$RATE" "$SECONDS_" "$DEVICES" 2> "$DIR/churn.txt"
sleep 2
kill -INT "$WATCH" "$SUB"
wait "$WATCH" "$SUB" 2>/dev/null || true

python3 - "$DIR" <<'PY'
import json, sys, datetime, statistics
d = sys.argv[1]
published = int(open(f"{d}/churn.txt").read().split("published ")[1].split()[0])
lags, events = [], 0
for line in open(f"{d}/events.jsonl"):
    e = json.loads(line)
    if e.get("event") != "change" or not e["name"].startswith("churn") or e["from"] is None:
        continue
    events += 1
    t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() * 1000
    lags.append(t - e["payload"]["ts"])
sub = sum(1 for _ in open(f"{d}/sub.txt"))
rss = [int(l.split()[1]) for l in open(f"{d}/rss.txt") if len(l.split()) == 2]
def pct(v, p): return sorted(v)[min(len(v) - 1, int(len(v) * p))] if v else float("nan")
tail = lags[-1000:]
print(f"published: {published}")
print(f"mosquitto_sub received: {sub} ({sub / published:.1%})")
print(f"watch change events: {events} ({events / published:.1%}; the first change of each device is a first sighting)")
print(f"lag ms: median {statistics.median(lags):.1f}, p99 {pct(lags, .99):.1f}, max {max(lags):.1f}; last 1000 events: median {statistics.median(tail):.1f}, max {max(tail):.1f}")
if rss:
    n = max(1, len(rss) // 4)
    print(f"watch RSS KB: first quarter max {max(rss[:n])}, last quarter max {max(rss[-n:])}, overall min {min(rss)} max {max(rss)}")
PY

# Phase 2: the terminal view under the same load: key-to-screen latency of `s` (sort).
tmux -L churn-bench new-session -d -x 160 -y 40 "$BIN watch -b 127.0.0.1:$PORT --color never; sleep 5"
target/release/examples/churn 127.0.0.1 "$PORT" "$RATE" 12 "$DEVICES" 2>/dev/null &
PIDS+=("$!")
sleep 2
python3 - <<'PY'
import subprocess, time
def screen():
    return subprocess.run(["tmux", "-L", "churn-bench", "capture-pane", "-p"], capture_output=True, text=True).stdout
order = ["state", "since", "name"]
lat = []
for i in range(9):
    want = "sort: " + order[i % 3]
    t0 = time.monotonic()
    subprocess.run(["tmux", "-L", "churn-bench", "send-keys", "s"])
    while want not in screen():
        if time.monotonic() - t0 > 5:
            break
        time.sleep(0.005)
    lat.append((time.monotonic() - t0) * 1000)
    time.sleep(0.5)
lat.sort()
print(f"terminal view under load, key to screen ms: median {lat[len(lat)//2]:.0f}, max {lat[-1]:.0f} (capture polling adds a few ms)")
PY
