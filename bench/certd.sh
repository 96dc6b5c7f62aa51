# shellcheck shell=bash
# Starting and stopping certd for the bench scripts; source this file.
#
#   certd_start BINARY DATA_DIR [ARG...]
#                                 `BINARY serve` on DATA_DIR, a free loopback port, no rate
#                                 limit (one key sends everything), then ARGs (such as
#                                 --database-url URL); stdout to DATA_DIR.out, log to
#                                 DATA_DIR.log. Returns once it listens (waiting at most
#                                 CERTD_START_TIMEOUT seconds, default 60); sets BASE (its
#                                 URL) and CERTD_PID. Exits the script if it never listens.
#   certd_admin_key DATA_DIR      prints the administrator key that the run creating DATA_DIR
#                                 printed (nothing for later runs on it).
#   certd_stop                    stops the running one, if any; sets CERTD_PEAK_KB to its
#                                 peak memory (VmHWM) first, 0 when none ran.

certd_start() {  # binary data-dir [serve-args...]
    local binary=$1 data=$2
    shift 2
    "$binary" serve --data "$data" --listen 127.0.0.1:0 --rate-limit 0 "$@" >"$data.out" 2>"$data.log" &
    CERTD_PID=$!
    BASE=
    # Polled every 20 ms, so that bench/scale.sh's start-up times are that precise.
    for _ in $(seq 1 $((${CERTD_START_TIMEOUT:-60} * 50))); do
        BASE=$(sed -n 's/^certd listening on //p' "$data.out")
        [ -n "$BASE" ] && return 0
        kill -0 "$CERTD_PID" 2>/dev/null || break
        sleep 0.02
    done
    cat "$data.log" >&2
    exit 1
}

certd_admin_key() {  # data-dir
    sed -n 's/^Administrator API key.*: //p' "$1.out"
}

certd_stop() {
    CERTD_PEAK_KB=0
    [ -n "${CERTD_PID:-}" ] || return 0
    CERTD_PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$CERTD_PID/status" 2>/dev/null || echo 0)
    kill "$CERTD_PID" 2>/dev/null || true
    wait "$CERTD_PID" 2>/dev/null || true
    CERTD_PID=
}
