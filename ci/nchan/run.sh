#!/usr/bin/env bash
# Interop check against a real SSE server nobody here wrote: nginx + nchan
# from Debian packages, started on a free loopback port with the config in
# this folder, events published with curl, and slogate's sse-smoke preset run
# against four streams:
#   1. `event: ping` keep-alives every 1 s (no data line): exit 0, no
#      reconnects, worst gap near 1 s;
#   2. `:hb` comment keep-alives every 1 s: the same;
#   3. subscribers timed out by nchan after 2 s without a message: reconnects
#      counted, every published event read once (resumed from Last-Event-ID),
#      no id counted as lost or repeated;
#   4. no keep-alive, held past the 10 s gap SLO: the silence is reported, exit 1.
# Every step is bounded in time; nginx is stopped by its PID on exit.
#
# Knobs (environment, whole seconds): PING_HOLD (default 8s) and QUIET_HOLD
# (default 12s: the gap counts from the stream's open and nchan says `: hi`
# at once, so a hold of exactly 10s is a silence just under 10s, which should
# not breach). KEEP=1 keeps the work folder.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PING_HOLD_S="${PING_HOLD:-8s}"
QUIET_HOLD_S="${QUIET_HOLD:-12s}"
MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
TOKEN_FOR_NCHAN="nchan-ignores-this-token"

log() { echo "nchan-interop: $*"; }
secs() { echo "${1%s}"; }

install_packages() {
    if command -v nginx >/dev/null 2>&1 && [[ -f "$MODULE" ]]; then
        return
    fi
    local sudo=""
    [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
    log "installing nginx and libnginx-mod-nchan"
    timeout 300 $sudo apt-get update
    timeout 600 $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y nginx libnginx-mod-nchan
}

# SLOGATE_PROFILE=debug reuses the test build (CI does, to save a release
# build); eight streams need no optimiser.
build_slogate() {
    local profile=${SLOGATE_PROFILE:-release}
    log "building slogate ($profile)"
    if [[ "$profile" == "debug" ]]; then
        (cd "$ROOT" && timeout 900 cargo build --locked --bin slogate)
    else
        (cd "$ROOT" && timeout 900 cargo build --release --locked --bin slogate)
    fi
    SLOGATE="$ROOT/target/$profile/slogate"
}

NGINX_PID=""
PUBLISHER_PID=""
WORK=""

stop_pid() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_pid "$PUBLISHER_PID"
    stop_pid "$NGINX_PID"
    if [[ -n "$WORK" && "${KEEP:-0}" != 1 ]]; then
        rm -rf "$WORK"
    elif [[ -n "$WORK" ]]; then
        log "work folder kept: $WORK"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Starts nginx on a free port; retries if another process took the port
# between choosing and binding it.
start_nginx() {
    mkdir -p "$WORK/tmp"
    for _ in 1 2 3; do
        PORT="$(free_port)"
        sed "s/@PORT@/$PORT/" "$HERE/nginx.conf" >"$WORK/nginx.conf"
        nginx -p "$WORK" -c nginx.conf -e "$WORK/error.log" &
        NGINX_PID=$!
        for _ in $(seq 50); do
            kill -0 "$NGINX_PID" 2>/dev/null || break
            # The subscriber answers 403 without `Accept: text/event-stream`:
            # any answer means nginx is up.
            if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/api/jobs/quiet"; then
                log "nginx $(nginx -v 2>&1 | cut -d/ -f2) + nchan up on" \
                    "127.0.0.1:$PORT (pid $NGINX_PID)"
                return 0
            fi
            sleep 0.1
        done
        stop_pid "$NGINX_PID"
        NGINX_PID=""
    done
    log "nginx did not start; its error log:"
    cat "$WORK/error.log" >&2 || true
    return 1
}

publish() {
    curl -sS -o /dev/null --max-time 2 -d "$2" "http://127.0.0.1:$PORT/pub/$1"
}

# An event every 3 s on a channel, bounded in count, while streams run.
# Sparser than the 1 s keep-alive on purpose: if keep-alives went
# uncounted, the worst gap would be about 3 s and the check would fail.
start_publisher() {
    local channel="$1" n="$2"
    (
        for i in $(seq "$n"); do
            sleep 3
            publish "$channel" "{\"job\":$i}" || true
        done
    ) &
    PUBLISHER_PID=$!
}

stop_publisher() {
    stop_pid "$PUBLISHER_PID"
    PUBLISHER_PID=""
}

# Runs sse-smoke against one stream path; sets RUN_DIR and RUN_CODE.
smoke() {
    local label="$1" path="$2" hold="$3"
    local out="$WORK/reports/$label"
    mkdir -p "$out"
    log "slogate run scenarios/sse-smoke.toml  SSE_PATH=$path HOLD=$hold"
    set +e
    (cd "$ROOT" && timeout $(($(secs "$hold") + 60)) "$SLOGATE" run scenarios/sse-smoke.toml \
        -e "BASE_URL=http://127.0.0.1:$PORT/api" -e "SSE_PATH=$path" -e "HOLD=$hold" \
        -e "TOKEN=$TOKEN_FOR_NCHAN" --out "$out" --quiet)
    RUN_CODE=$?
    set -e
    RUN_DIR="$(find "$out" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
    log "$label: exit code $RUN_CODE, evidence $RUN_DIR"
    if [[ -z "$RUN_DIR" ]]; then
        log "$label: no evidence folder written"
        return 1
    fi
}

# Checks the last run's evidence: check.py MODE ... (see check.py).
check() {
    [[ -n "$RUN_DIR" ]] || return 1
    python3 "$HERE/check.py" "$1" "$RUN_DIR" "$RUN_CODE" "${@:2}"
}

main() {
    local h
    for h in "$PING_HOLD_S" "$QUIET_HOLD_S"; do
        [[ "$h" =~ ^[0-9]+s$ ]] || { log "holds are whole seconds like 8s, not '$h'"; return 2; }
    done
    install_packages
    build_slogate
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/slogate-nchan.XXXXXX")"
    trap cleanup EXIT
    trap "exit 143" TERM INT
    start_nginx
    publish jobs '{"job":0}'

    local failed=0 name
    for name in stream stream-comment; do
        start_publisher jobs $(($(secs "$PING_HOLD_S") / 3))
        smoke "$name" "/jobs/$name" "$PING_HOLD_S" || failed=1
        stop_publisher
        check ping || failed=1
    done

    # Three events: one before the streams open, two while they run; the
    # last at 6 s, so 3 s before the hold ends (a 2 s timeout later).
    publish resume '{"job":0}'
    start_publisher resume 2
    smoke resume /jobs/resume 9s || failed=1
    stop_publisher
    check resume 3 || failed=1

    smoke quiet /jobs/quiet "$QUIET_HOLD_S" || failed=1
    check quiet "$(secs "$QUIET_HOLD_S")" || failed=1

    if [[ "$failed" -ne 0 ]]; then
        log "FAILED"
        return 1
    fi
    log "all checks passed"
}

main "$@"
