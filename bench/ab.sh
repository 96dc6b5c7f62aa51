#!/usr/bin/env bash
# A/B comparison of two certd builds on the skip_approval revocation load:
# the same seeded database (a fresh copy per run, so every run revokes the
# same certificates), runs alternating A B A B ... so that this shared
# machine's drift hits both builds alike. Prints each run and the medians.
#
#   bash bench/ab.sh path/to/certd-a path/to/certd-b   # RUNS=3 DURATION=10 CONNECTIONS=32 CERTS=100000
#
# Build the older commit with e.g. `git worktree add /tmp/old COMMIT` and
# `CARGO_TARGET_DIR=$PWD/target cargo build --release --bin certd` there.
set -euo pipefail
cd "$(dirname "$0")/.."

A=$(realpath "${1:?usage: bench/ab.sh CERTD_A CERTD_B}")
B=$(realpath "${2:?usage: bench/ab.sh CERTD_A CERTD_B}")
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
CERTS=${CERTS:-100000}

. bench/baselines/baselines.sh
_bl_need wrk
cargo build --release --quiet --example bench_seed
SEED=target/release/examples/bench_seed

WORK=$(mktemp -d)
PID=
stop() {
    [ -n "$PID" ] || return 0
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}
cleanup() { stop; rm -rf "$WORK"; }
trap cleanup EXIT

start() {  # binary data-dir -> sets BASE and PID
    "$1" serve --data "$2" --listen 127.0.0.1:0 --rate-limit 0 >"$2.out" 2>"$2.log" &
    PID=$!
    BASE=
    for _ in $(seq 1 600); do
        BASE=$(sed -n 's/^certd listening on //p' "$2.out")
        [ -n "$BASE" ] && return
        sleep 0.1
    done
    cat "$2.log" >&2
    exit 1
}

# One seeded data directory; A creates the CA and the administrator.
start "$A" "$WORK/seed"
KEY=$(sed -n 's/^Administrator API key.*: //p' "$WORK/seed.out")
stop
$SEED "sqlite://$WORK/seed/certd.db" "$WORK/seed/ca" "$CERTS" 0 "$WORK/set" >/dev/null

for run in $(seq 1 "$RUNS"); do
    for side in A B; do
        binary=$A
        [ "$side" = B ] && binary=$B
        rm -rf "$WORK/run" && cp -r "$WORK/seed" "$WORK/run"
        sync
        start "$binary" "$WORK/run"
        WRK_THREADS=2 KEY="$KEY" SERIALS="$WORK/set/serials.txt" \
            wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/revoke.lua "$BASE" \
            >"$WORK/wrk.txt" 2>&1 || true
        stop
        echo "$side $run $(_bl_wrk_summary "$WORK/wrk.txt")"
    done
done | tee "$WORK/runs.txt" >&2

printf '| build | revocations/s (median of %s) | p99 |\n|---|---:|---:|\n' "$RUNS"
for side in A B; do
    awk -v side="$side" '$1 == side {print $3, $4}' "$WORK/runs.txt" | sort -n \
        | awk -v side="$side" '{ line[NR] = $0 } END { split(line[int((NR + 1) / 2)], m, " "); printf "| %s | %s | %s |\n", side, m[1], m[2] }'
done
