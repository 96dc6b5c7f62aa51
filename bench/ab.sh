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
. bench/tools.sh
need_tools wrk
cargo build --release --quiet --example bench_seed
SEED=target/release/examples/bench_seed

WORK=$(mktemp -d)
. bench/certd.sh
cleanup() { certd_stop; rm -rf "$WORK"; }
trap cleanup EXIT

# One seeded data directory; A creates the CA and the administrator.
certd_start "$A" "$WORK/seed"
KEY=$(certd_admin_key "$WORK/seed")
certd_stop
$SEED "sqlite://$WORK/seed/certd.db" "$WORK/seed/ca" "$CERTS" 0 "$WORK/set" >/dev/null

for run in $(seq 1 "$RUNS"); do
    for side in A B; do
        binary=$A
        [ "$side" = B ] && binary=$B
        rm -rf "$WORK/run" && cp -r "$WORK/seed" "$WORK/run"
        sync
        certd_start "$binary" "$WORK/run"
        WRK_THREADS=2 KEY="$KEY" SERIALS="$WORK/set/serials.txt" \
            wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/revoke.lua "$BASE" \
            >"$WORK/wrk.txt" 2>&1 || true
        certd_stop
        echo "$side $run $(_bl_wrk_summary "$WORK/wrk.txt")"
    done
done | tee "$WORK/runs.txt" >&2

printf '| build | revocations/s (median of %s) | p99 |\n|---|---:|---:|\n' "$RUNS"
for side in A B; do
    awk -v side="$side" '$1 == side {print $3, $4}' "$WORK/runs.txt" | sort -n \
        | awk -v side="$side" '{ line[NR] = $0 } END { split(line[int((NR + 1) / 2)], m, " "); printf "| %s | %s | %s |\n", side, m[1], m[2] }'
done
