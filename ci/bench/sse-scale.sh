#!/usr/bin/env bash
# SSE scale benchmark: one slogate process holds STREAMS concurrent streams
# against the embedded target (its own process, on loopback), opened at
# RATE per second, and this prints:
#   streams held      connected streams still open at the end of their hold
#   RSS per stream    (peak RSS at STREAMS - peak RSS at BASE_STREAMS) / the
#                     difference in streams held: memory beyond the baseline
#   gap error         heartbeat-gap histogram p50 / p99 (all gaps of all
#                     streams) minus the target's heartbeat interval: over the
#                     whole run, and over the steady state (all streams open,
#                     from the interval log) where the connect ramp's load on
#                     both processes is left out
#   CPU seconds       user + system of the slogate process for the run
# Known shortfall: about 17 KiB per stream against the 16 KiB goal. Per
# stream there are two tasks (stream, hyper connection), eventsource-client's
# state and hyper's header write buffer, which hyper allocates at a fixed
# 8 KiB per connection with no setting to shrink it.
# Past about 14,000 connections to one address and port, new connects get
# slow (TTFB of seconds while ramping): Linux prefers even ephemeral ports
# for connect(). The steady-state figure leaves that ramp out.
# Usage: ci/bench/sse-scale.sh
#   env: STREAMS RATE HOLD HEARTBEAT BASE_STREAMS BASE_HOLD PORT (defaults below)
# KEEP=1 keeps the evidence folders. Needs: cargo, jq, python3 with hdrhistogram
# (as .ci/run installs) for the steady-state figure. Sends traffic to 127.0.0.1 only; every process it
# starts is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

STREAMS=${STREAMS:-20000}
RATE=${RATE:-1000}
HOLD=${HOLD:-60s}
HEARTBEAT=${HEARTBEAT:-1s}
BASE_STREAMS=${BASE_STREAMS:-100}
BASE_HOLD=${BASE_HOLD:-5s}
PORT=${PORT:-18090}

cargo build --release --locked -q
BIN=$PWD/target/release/slogate
WORK=$(mktemp -d)
TARGET_PID=""
cleanup() {
    if [ -n "$TARGET_PID" ]; then kill "$TARGET_PID" 2>/dev/null || true; fi
    if [ -n "${KEEP:-}" ]; then echo "evidence kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Each side needs a socket per stream, plus a few files of its own. Past
# the hard limit only with privilege; without it, hold what fits and say so.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$STREAMS" -gt "$((hard - 100))" ]; then
    ulimit -Hn "$((STREAMS + 1024))" 2>/dev/null || {
        echo "note: the hard open-file limit (RLIMIT_NOFILE) is $hard and cannot be raised" \
            "here: holding $((hard - 100)) streams instead of $STREAMS" >&2
        STREAMS=$((hard - 100))
    }
fi
ulimit -Sn "$(ulimit -Hn)"

"$BIN" serve --addr "127.0.0.1:$PORT" --heartbeat "$HEARTBEAT" --event-interval 0s \
    2>"$WORK/target.log" &
TARGET_PID=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

# Peak RSS (KiB) and final CPU ticks of a PID, sampled every 0.5 s until it exits.
sample() {
    local pid=$1 peak=0 ticks=0 rss
    while [ -d "/proc/$pid" ]; do
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo "$ticks")
        sleep 0.5
    done
    echo "$peak $ticks"
}

# One run of N streams; prints "peak_rss_kib cpu_ticks" and leaves the evidence in $WORK/N.
run() {
    local n=$1 rate=$2 hold=$3
    cat >"$WORK/scale-$n.toml" <<TOML
name = "sse-scale-$n"
base_url = "http://127.0.0.1:$PORT/api"
[defaults]
interval = "5s"
[[stream]]
name = "scale"
path = "/jobs/stream"
connections = $n
connect_rate = "$rate/s"
hold = "$hold"
TOML
    "$BIN" run "$WORK/scale-$n.toml" -q --out "$WORK/$n" >"$WORK/run-$n.out" 2>"$WORK/run-$n.err" &
    local pid=$!
    local s
    s=$(sample "$pid")
    wait "$pid" || echo "note: run of $n streams exited $?" >&2
    echo "$s"
}

read -r base_rss _ <<<"$(run "$BASE_STREAMS" "$RATE" "$BASE_HOLD")"
read -r rss ticks <<<"$(run "$STREAMS" "$RATE" "$HOLD")"

sum() { jq -r "$2" "$(ls -d "$WORK/$1"/*/)summary.json"; }
held_of() { sum "$1" '.streams[0] | .connected - .disconnects'; }
held=$(held_of "$STREAMS")
base_held=$(held_of "$BASE_STREAMS")
interval_ms=$(awk -v h="$HEARTBEAT" 'BEGIN { v = h + 0; if (h ~ /ms$/) print v; else print v * 1000 }')
hz=$(getconf CLK_TCK)

echo "slogate SSE scale: $STREAMS streams at $RATE/s, hold $HOLD, heartbeat $HEARTBEAT"
echo "streams held:        $held of $STREAMS to the end of their hold"
sum "$STREAMS" '.streams[0] | "connections:         \(.connects) attempts, \(.connected) connected, \(.disconnects) disconnects, \(.reconnects) reconnects, errors \(.errors | tostring)"'
sum "$STREAMS" '.streams[0].ttfb | "TTFB p50/p99/max:    \(.p50_ms) / \(.p99_ms) / \(.max_ms) ms"'
awk -v r="$rss" -v b="$base_rss" -v n="$held" -v bn="$base_held" 'BEGIN {
    printf "RSS:                 %.1f MiB peak at %d streams, %.1f MiB at %d (baseline)\n", r/1024, n, b/1024, bn
    printf "RSS per stream:      %.1f KiB beyond the baseline (goal <= 16 KiB)\n", (r - b) / (n - bn) }'
sum "$STREAMS" '.streams[0].gap | "gap p50/p99/max:     \(.p50_ms) / \(.p99_ms) / \(.max_ms) ms over \(.count) gaps"'
sum "$STREAMS" ".streams[0].gap | \"gap error p50/p99:   \(.p50_ms - $interval_ms) / \(.p99_ms - $interval_ms) ms (histogram percentile minus the ${interval_ms} ms interval; goal p99 <= 5 ms)\""
sum "$STREAMS" ".streams[0].stream_max_gap | \"worst gap per stream p99: \(.p99_ms - $interval_ms) ms over the interval\""
awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "CPU seconds:         %.1f (user + system, slogate only)\n", t / hz }'

# Steady state: interval histograms that start once every stream has
# connected and end before the first streams' hold does.
# The steady state starts with the first interval in which no stream was
# still connecting (late connects would bring their first gap along).
settled=$(sum "$STREAMS" '[.intervals[] | select(.requests == 0)][0].t_s // 1e9')
python3 - "$(ls -d "$WORK/$STREAMS"/*/)histograms.hlog" "$settled" "$HOLD" "$interval_ms" <<'PY' ||
import sys
from hdrh.histogram import HdrHistogram
log, settled, hold, interval = sys.argv[1:]
secs = lambda d: float(d[:-2]) / 1000 if d.endswith("ms") else float(d.rstrip("s"))
lo, hi = float(settled) - 5.5, secs(hold)  # the 5 s interval that ended at `settled`
h = HdrHistogram(1, 3_600_000_000, 3)
for line in open(log):
    if line.startswith("Tag=scale.gap,"):
        _, start, length, _, b64 = line.strip().split(",")
        if float(start) >= lo and float(start) + float(length) <= hi:
            h.decode_and_add(b64)
if h.get_total_count() == 0:
    print(f"steady state:        no whole interval between {lo:.0f} s and {hi:.0f} s: raise HOLD")
else:
    q = lambda p: h.get_value_at_percentile(p) / 1000 - float(interval)
    print(f"gap error, steady:   {q(50):.2f} / {q(99):.2f} ms p50/p99 "
          f"({h.get_total_count()} gaps, t = {lo:.0f}..{hi:.0f} s, all streams open)")
PY
    echo "steady state:        needs python3 with hdrhistogram (pip install hdrhistogram)"
