# shellcheck shell=bash
# Starting and stopping certd for the bench scripts; source this file.
#
#   certd_start BINARY DATA_DIR [ARG...]
#                                 `BINARY serve` on DATA_DIR, a free loopback port, no rate
#                                 limit (one key sends everything), then ARGs (such as
#                                 --database-url URL); stdout to DATA_DIR.out, log to
#                                 DATA_DIR.log (CERTD_OUT=PATH: to PATH.out and PATH.log, for
#                                 a second node on the same DATA_DIR). Returns once it listens
#                                 (waiting at most CERTD_START_TIMEOUT seconds, default 60);
#                                 sets BASE (its URL) and CERTD_PID. Exits the script if it
#                                 never listens. Each start is a node of its own: nodes run
#                                 side by side until certd_stop. The array CERTD_UNDER, when
#                                 set, is a command that BINARY runs under, such as
#                                 (valgrind --tool=callgrind); CERTD_PID is then that command's.
#   certd_admin_key DATA_DIR      prints the administrator key that the run creating DATA_DIR
#                                 printed (nothing for later runs on it); with CERTD_OUT, give
#                                 that PATH instead.
#   certd_stop                    stops every node started and not yet stopped; sets
#                                 CERTD_PEAK_KB to their highest peak memory (VmHWM) first,
#                                 0 when none ran.

CERTD_PIDS=()

certd_start() {  # binary data-dir [serve-args...]
    local binary=$1 data=$2 out=${CERTD_OUT:-$2}
    shift 2
    # Created first: the first poll below may come before the server's shell has
    # opened it, and a failing sed would end a `set -e` script.
    : >"$out.out"
    "${CERTD_UNDER[@]}" "$binary" serve --data "$data" --listen 127.0.0.1:0 --rate-limit 0 "$@" \
        >"$out.out" 2>"$out.log" &
    CERTD_PID=$!
    CERTD_PIDS+=("$CERTD_PID")
    BASE=
    # Polled every 20 ms, so that bench/scale.sh's start-up times are that precise.
    for _ in $(seq 1 $((${CERTD_START_TIMEOUT:-60} * 50))); do
        BASE=$(sed -n 's/^certd listening on //p' "$out.out")
        [ -n "$BASE" ] && return 0
        kill -0 "$CERTD_PID" 2>/dev/null || break
        sleep 0.02
    done
    cat "$out.log" >&2
    exit 1
}

certd_admin_key() {  # data-dir (or CERTD_OUT)
    sed -n 's/^Administrator API key.*: //p' "$1.out"
}

certd_stop() {
    CERTD_PEAK_KB=0
    local pid peak
    for pid in "${CERTD_PIDS[@]}"; do
        peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ "${peak:-0}" -le "$CERTD_PEAK_KB" ] || CERTD_PEAK_KB=$peak
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${CERTD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    CERTD_PIDS=()
    CERTD_PID=
}
