#!/usr/bin/env bash
# Soak test: can certd run for months untended? Runs one `certd serve` (fresh
# data directory, default logging, --rate-limit 0) under a fixed, mixed,
# open-loop load for DURATION seconds (examples/soak_load.rs: OCSP GET and
# POST, CRL index and shards, order/certificate/request reads, orders issued
# at once and orders approved later, revoke requests then approvals,
# skip_approval revocations; two administrators' and two users' keys) and,
# every SAMPLE seconds, samples the server from the outside: RSS, open file
# descriptors, threads, database and WAL size, log bytes. Then draws one PNG
# per series into PLOTS and prints a Markdown summary: each series after
# warm-up and at the end with its slope per hour, requests and errors, p50/p99
# per route in the first and last quarter, and PASS/FAIL lines.
#
#   bash bench/soak.sh                            # DURATION=1800 BACKEND=sqlite RATE=2000 SAMPLE=10
#   DURATION=120 BACKEND=postgres bash bench/soak.sh
#
# OUT: results (load.csv, quarters.csv, system.csv, summary.md, the log's
# tail), default target/soak-BACKEND-DATE. PLOTS: default docs/soak/BACKEND.
# WARMUP: percent of the run after which "after warm-up" is read (20).
# RATE 2000/s leaves this 2-core machine about half its CPU for certd's
# own spikes (CRL re-signing, checkpoints) and the sampler.
#
# The flatness checks compare a least-squares line through every sample after
# warm-up, not two single samples: one burst of connections or a tokio
# blocking thread that has not yet retired would otherwise decide the verdict.
#
# PostgreSQL: a fresh database on 127.0.0.1:5432 (user postgres, trust auth),
# dropped at exit; its WAL series is the whole cluster's pg_wal. Bounded: the
# load stops by itself after DURATION; at exit everything this script started
# is stopped and the data directory removed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-1800}
BACKEND=${BACKEND:-sqlite}
RATE=${RATE:-2000}
SAMPLE=${SAMPLE:-10}
WARMUP=${WARMUP:-20}
OUT=${OUT:-target/soak-$BACKEND-$(date +%Y%m%d-%H%M%S)}
PLOTS=${PLOTS:-docs/soak/$BACKEND}
case $BACKEND in sqlite | postgres) ;; *) echo "BACKEND must be sqlite or postgres" >&2; exit 2 ;; esac

# Thresholds of the PASS/FAIL lines.
RSS_TOLERANCE_MIB=8      # or 5 % of RSS after warm-up, whichever is larger
FD_TOLERANCE=16          # client connections come and go
THREAD_TOLERANCE=4       # tokio's blocking threads retire after 10 s idle
WAL_LIMIT_MIB=256        # 2x the 128 MiB at which the writer restarts the WAL
LOG_LIMIT_BYTES=1000000  # per million publication requests
P99_DRIFT=2              # last quarter's p99 at most 2x the first's...
P99_FLOOR_MS=1           # ...or under 1 ms, where the machine's noise decides

. bench/tools.sh
need_tools gnuplot:gnuplot-nox
[ "$BACKEND" = sqlite ] || command -v psql >/dev/null || { echo "psql is needed" >&2; exit 1; }
cargo build --release --quiet --bin certd --example soak_load
CERTD=target/release/certd
. bench/certd.sh

mkdir -p "$OUT" "$PLOTS"
WORK=$(mktemp -d)
DATA=$WORK/data
PG_DB=
LOAD_PID=
pg() { psql -h 127.0.0.1 -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    if [ -n "$LOAD_PID" ]; then
        kill "$LOAD_PID" 2>/dev/null || true
        wait "$LOAD_PID" 2>/dev/null || true
    fi
    certd_stop
    # Only the database this run created.
    [ -z "$PG_DB" ] || pg -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

DB_ARGS=()
if [ "$BACKEND" = postgres ]; then
    PG_DB=certd_soak_$$_$(date +%s)
    pg -c "CREATE DATABASE $PG_DB"
    DB_ARGS=(--database-url "postgres://postgres@127.0.0.1:5432/$PG_DB")
fi
certd_start "$CERTD" "$DATA" "${DB_ARGS[@]}"
add_user() {  # email last-name role -> prints the new user's key
    "$CERTD" user add --data "$DATA" "${DB_ARGS[@]}" --email "$1" --first-name Soak --last-name "$2" --role "$3" 2>>"$OUT/user-add.log"
}
ADMINS="$(certd_admin_key "$DATA"),$(add_user soak-admin@example.com Admin administrator)"
USERS="$(add_user soak-ana@example.com Ana user),$(add_user soak-bo@example.com Bo user)"

sample() {  # t_s -> one row of system.csv
    local status=/proc/$CERTD_PID/status db wal
    if [ "$BACKEND" = sqlite ]; then
        db=$(stat -c %s "$DATA/certd.db")
        wal=$(stat -c %s "$DATA/certd.db-wal" 2>/dev/null || echo 0)
    else
        db=$(pg -c "SELECT pg_database_size('$PG_DB')")
        wal=$(pg -c "SELECT COALESCE(sum(size), 0) FROM pg_ls_waldir()")
    fi
    echo "$1,$(awk '/^VmRSS/ {print $2}' "$status"),$(find "/proc/$CERTD_PID/fd" -mindepth 1 | wc -l),$(awk '/^Threads/ {print $2}' "$status"),$db,$wal,$(stat -c %s "$DATA.log")"
}

echo "soak: $BACKEND, $RATE requests/s for ${DURATION}s, results in $OUT" >&2
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
target/release/examples/soak_load "$BASE" "$ADMINS" "$USERS" "$DURATION" "$RATE" "$SAMPLE" "$OUT" \
    2>"$OUT/load.log" &
LOAD_PID=$!
# The load's clock starts after it has made its first certificates.
until grep -q '^soak_load: running' "$OUT/load.log"; do
    kill -0 "$LOAD_PID" 2>/dev/null || { cat "$OUT/load.log" >&2; exit 1; }
    sleep 0.1
done
started=$(date +%s%N)
echo "t_s,rss_kib,fds,threads,db_bytes,wal_bytes,log_bytes" >"$OUT/system.csv"
sample 0 >>"$OUT/system.csv"
CERTD_ALIVE=yes
for ((k = 1; ; k++)); do
    wait_ns=$((started + k * SAMPLE * 1000000000 - $(date +%s%N)))
    [ "$wait_ns" -le 0 ] || sleep "$(awk -v ns="$wait_ns" 'BEGIN { printf "%.3f", ns / 1e9 }')"
    kill -0 "$CERTD_PID" 2>/dev/null || { CERTD_ALIVE=no; break; }
    sample $((k * SAMPLE)) >>"$OUT/system.csv"
    kill -0 "$LOAD_PID" 2>/dev/null || break
done
load_rc=0
wait "$LOAD_PID" || load_rc=$?
LOAD_PID=
LOAD_AT_END=$(cut -d' ' -f1-3 /proc/loadavg)
tail -n 100 "$DATA.log" >"$OUT/certd-log-tail.txt"
# Bytes of the log that are not one line per API call (those are kept on
# purpose): what publication traffic, start-up and background work cost.
LOG_TOTAL=$(stat -c %s "$DATA.log")
LOG_API=$(sed 's/\x1b\[[0-9;]*m//g' "$DATA.log" | grep -aE 'route[=":]+/services/v2' | wc -c || true)
certd_stop
if [ "$load_rc" -ne 0 ]; then
    echo "soak_load failed ($load_rc):" >&2
    tail -5 "$OUT/load.log" >&2
    # Its quarters are written at the end: summarise what there is.
    [ -e "$OUT/quarters.csv" ] || echo "route,quarter,count,errors,p50_ms,p99_ms" >"$OUT/quarters.csv"
fi

# --- plots -------------------------------------------------------------------------
awk -F, 'NR > 1 { n[$1] += $3; e[$1] += $4 } END { for (t in n) print t "," n[t] "," e[t] }' \
    "$OUT/load.csv" | sort -n >"$OUT/requests.csv"
ROUTE_NAMES=$(awk -F, 'NR > 1 && !seen[$2]++ { print $2 }' "$OUT/load.csv")
# shellcheck disable=SC2016  # the $N below are gnuplot's columns
{
    cat <<GNUPLOT
set terminal pngcairo noenhanced size 800,300 font ",9"
set datafile separator ","
set xlabel "minutes"
set grid
set key top left
set yrange [0:*]
GNUPLOT
    plot_system() {  # name title using-expression
        echo "set output '$PLOTS/$1.png'; set title '$2 ($BACKEND, $RATE requests/s)'"
        echo "plot '$OUT/system.csv' skip 1 using (\$1/60):($3) with lines lw 2 notitle"
    }
    plot_system rss "certd RSS, MiB" '$2/1024'
    plot_system fds "open file descriptors" '$3'
    plot_system threads "threads" '$4'
    plot_system db "database size, MiB" '$5/1048576'
    plot_system wal "WAL size, MiB$([ "$BACKEND" = postgres ] && echo ' (pg_wal, whole cluster)')" '$6/1048576'
    plot_system log "log size, MiB" '$7/1048576'
    echo "set output '$PLOTS/errors.png'; set title 'errors per ${SAMPLE}s and requests/s ($BACKEND)'"
    # A run without errors would leave gnuplot an empty range to complain about.
    echo "set y2tics; set y2range [0:*]; set yrange [0:$(awk -F, '$3 > 0 { e = 1 } END { print e ? "*" : 1 }' "$OUT/requests.csv")]; set ytics nomirror; set key top right"
    echo "plot '$OUT/requests.csv' using (\$1/60):3 with lines lw 2 title 'errors', '' using (\$1/60):(\$2/$SAMPLE) axes x1y2 with lines title 'requests/s (right)'"
    echo "unset y2tics; set ytics mirror; set logscale y; set yrange [*:*]; set key top left"
    for route in $ROUTE_NAMES; do
        echo "set output '$PLOTS/latency-$route.png'; set title '$route latency, ms ($BACKEND, $RATE requests/s, log scale)'"
        echo "plot \"< grep ',$route,' '$OUT/load.csv'\" using (\$1/60):(\$3 > 0 ? \$8 : NaN) with lines lw 2 title 'p99', '' using (\$1/60):(\$3 > 0 ? \$7 : NaN) with lines lw 2 title 'p50'"
    done
} >"$OUT/plots.gp"
gnuplot "$OUT/plots.gp"

# --- summary -------------------------------------------------------------------------
WARM_S=$((DURATION * WARMUP / 100))
series() {  # column -> "warm end slope_per_hour fitted_rise max" over samples after warm-up
    awk -F, -v col="$1" -v w="$WARM_S" 'NR > 1 {
        v = $col + 0; if (v > max) max = v; last = v
        if ($1 >= w) {
            if (!n) { warm = v; t0 = $1 }
            n++; st += $1; sv += v; stt += $1 * $1; stv += $1 * v; t1 = $1
        }
    } END {
        d = n * stt - st * st; slope = (n > 1 && d > 0) ? (n * stv - st * sv) / d : 0
        printf "%.0f %.0f %.6f %.6f %.0f\n", warm, last, slope * 3600, slope * (t1 - t0), max
    }' "$OUT/system.csv"
}
WARM_T=$(awk -F, -v w="$WARM_S" 'NR > 1 && $1 >= w { print $1; exit }' "$OUT/system.csv")
END_T=$(tail -1 "$OUT/system.csv" | cut -d, -f1)
row() {  # title column divisor unit -> a table row; sets RISE (fitted, in unit) and WARM
    read -r w e s r m <<<"$(series "$2")"
    awk -v t="$1" -v w="$w" -v e="$e" -v s="$s" -v r="$r" -v m="$m" -v d="$3" -v u="$4" 'BEGIN {
        f = (d == 1) ? "%.0f" : "%.1f"; if (u != "") u = " " u
        printf "| %s | " f "%s | " f "%s | %+" substr(f, 2) " | %+" substr(f, 2) " | %+" substr(f, 2) " | " f "%s |\n", \
            t, w / d, u, e / d, u, (e - w) / d, r / d, s / d, m / d, u
    }'
    RISE=$(awk -v r="$r" -v d="$3" 'BEGIN { print r / d }')
    WARM=$(awk -v w="$w" -v d="$3" 'BEGIN { print w / d }')
}
verdict() {  # condition-awk-expression -> PASS or FAIL
    awk "BEGIN { print (($1) ? \"PASS\" : \"FAIL\") }"
}
read -r TOTAL ERRORS DROPPED STARVED PUBLICATION <<<"$(awk -F, 'NR > 1 {
    n += $3; e += $4; d += $5; s += $6
    if ($2 ~ /^(ocsp|crl)/) p += $3
} END { print n + 0, e + 0, d + 0, s + 0, p + 0 }' "$OUT/load.csv")"
LOG_OTHER=$((LOG_TOTAL - LOG_API))
LOG_PER_MILLION=$(awk -v b="$LOG_OTHER" -v p="$PUBLICATION" 'BEGIN { printf "%.0f", (p > 0 ? b * 1e6 / p : b) }')

{
    echo "## Soak: $BACKEND, $RATE requests/s, ${DURATION}s ($(date -u +%Y-%m-%d))"
    echo
    echo "Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $LOAD_AT_START at the start, $LOAD_AT_END at the end. Samples every ${SAMPLE}s; warm-up: the first ${WARMUP} % (values \"after warm-up\" at t=${WARM_T:-?}s, end at t=${END_T}s)."
    echo
    echo "| series | after warm-up | end | end − warm-up | fitted rise after warm-up | slope per hour | max |"
    echo "|---|---|---|---|---|---|---|"
    row "RSS" 2 1024 MiB; RSS_RISE=$RISE RSS_WARM=$WARM
    row "open fds" 3 1 ""; FD_RISE=$RISE
    row "threads" 4 1 ""; THREAD_RISE=$RISE
    row "database size" 5 1048576 MiB
    row "WAL size$([ "$BACKEND" = postgres ] && echo ' (pg_wal, cluster)')" 6 1048576 MiB
    WAL_MAX_MIB=$(awk -F, 'NR > 1 && $6 > m { m = $6 } END { printf "%.1f", m / 1048576 }' "$OUT/system.csv")
    row "log size" 7 1048576 MiB
    echo
    echo "Requests: $TOTAL ($(awk -v n="$TOTAL" -v d="$DURATION" 'BEGIN { printf "%.0f", n / d }')/s), errors $ERRORS (dropped $DROPPED), starved $STARVED; publication requests $PUBLICATION. Log: $LOG_TOTAL bytes, of which $LOG_API in API access lines; the rest is $LOG_PER_MILLION bytes per million publication requests. certd peak RSS (VmHWM) $((CERTD_PEAK_KB / 1024)) MiB."
    echo
    echo "| route | requests | errors | p50 first quarter | p99 first quarter | p50 last quarter | p99 last quarter |"
    echo "|---|---|---|---|---|---|---|"
    awk -F, 'NR > 1 {
        n[$1] += $3; e[$1] += $4
        if ($2 == 1) { p50a[$1] = $5; p99a[$1] = $6 }
        if ($2 == 4) { p50d[$1] = $5; p99d[$1] = $6 }
        if (!seen[$1]++) order[++k] = $1
    } END {
        for (i = 1; i <= k; i++) { r = order[i]
            printf "| %s | %d | %d | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", r, n[r], e[r], p50a[r], p99a[r], p50d[r], p99d[r] }
    }' "$OUT/quarters.csv"
    echo
    DRIFTED=$(awk -F, -v k="$P99_DRIFT" -v floor="$P99_FLOOR_MS" 'NR > 1 && $3 > 0 {
        if ($2 == 1) first[$1] = $6
        if ($2 == 4 && ($1 in first) && $6 > k * first[$1] && $6 > floor) printf "%s %s (%.2f → %.2f ms)", sep, $1, first[$1], $6
        if ($2 == 4 && ($1 in first) && $6 > k * first[$1] && $6 > floor) sep = ","
    }' "$OUT/quarters.csv")
    RSS_TOL=$(awk -v w="$RSS_WARM" -v t="$RSS_TOLERANCE_MIB" 'BEGIN { print (w * 0.05 > t) ? w * 0.05 : t }')
    echo "- $([ "$CERTD_ALIVE" = yes ] && [ "$load_rc" -eq 0 ] && echo PASS || echo FAIL) certd served to the end (load generator exit $load_rc)"
    echo "- $(verdict "$RSS_RISE <= $RSS_TOL") RSS flat: fitted rise after warm-up $(printf %.1f "$RSS_RISE") MiB (limit $(printf %.1f "$RSS_TOL") MiB)"
    echo "- $(verdict "$FD_RISE <= $FD_TOLERANCE") fds flat: fitted rise $(printf %.1f "$FD_RISE") (limit $FD_TOLERANCE)"
    echo "- $(verdict "$THREAD_RISE <= $THREAD_TOLERANCE") threads flat: fitted rise $(printf %.1f "$THREAD_RISE") (limit $THREAD_TOLERANCE)"
    if [ "$BACKEND" = sqlite ]; then
        echo "- $(verdict "$WAL_MAX_MIB <= $WAL_LIMIT_MIB") WAL bounded: at most $WAL_MAX_MIB MiB (limit $WAL_LIMIT_MIB MiB)"
    else
        echo "- n/a WAL bounded: pg_wal is the whole cluster's (at most $WAL_MAX_MIB MiB), PostgreSQL bounds it by max_wal_size"
    fi
    echo "- $(verdict "$LOG_PER_MILLION <= $LOG_LIMIT_BYTES") log: $LOG_PER_MILLION bytes per million publication requests (limit $LOG_LIMIT_BYTES)"
    echo "- $(verdict "$ERRORS == 0") no errors: $ERRORS"
    echo "- $([ -z "$DRIFTED" ] && echo PASS || echo FAIL) p99 not drifting (last quarter ≤ ${P99_DRIFT}× first, or ≤ ${P99_FLOOR_MS} ms)${DRIFTED:+:$DRIFTED}"
    echo
    echo "Plots: $PLOTS/*.png; data: $OUT."
} | tee "$OUT/summary.md"
