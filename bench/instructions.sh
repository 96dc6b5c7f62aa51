#!/usr/bin/env bash
# Instructions per revocation, counted by callgrind: a figure that stays the
# same from run to run on the same binary and inputs, whatever else the
# machine is doing, unlike requests per second on a shared 2-core VM. Use it
# to compare two builds of the revocation path (see docs/benchmarks.md).
#
#   bash bench/instructions.sh        # COUNT=2000 CERTS=20000
#
# certd (the `profiling` profile: release code with line tables) runs under
# callgrind with collection off while it starts; a few revocations warm it up
# (prepared statements, caches), then COUNT skip_approval revocations are
# counted, sent one after another (each its own commit: see instructions.py).
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-2000}
CERTS=${CERTS:-20000}
WARMUP=50

. bench/tools.sh
. bench/certd.sh
need_tools valgrind
# CERTD=path/to/certd compares another build (the seed tool is this tree's).
cargo build --profile profiling --quiet --example bench_seed
[ -n "${CERTD:-}" ] || cargo build --profile profiling --quiet --bin certd
CERTD=${CERTD:-target/profiling/certd}
SEED=target/profiling/examples/bench_seed

WORK=$(mktemp -d)
cleanup() {
    certd_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

# First start creates the CA and the administrator; then the seed goes in.
certd_start "$CERTD" "$WORK/data"
KEY=$(certd_admin_key "$WORK/data")
certd_stop
$SEED "sqlite://$WORK/data/certd.db" "$WORK/data/ca" "$CERTS" 0 "$WORK/set" >/dev/null

# Under callgrind, certd takes a while to start: up to 2 minutes.
CERTD_UNDER=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out")
CERTD_START_TIMEOUT=120 certd_start "$CERTD" "$WORK/data"

head -n "$WARMUP" "$WORK/set/serials.txt" >"$WORK/warmup.txt"
tail -n +"$((WARMUP + 1))" "$WORK/set/serials.txt" >"$WORK/counted.txt"
python3 bench/instructions.py "$BASE" "$KEY" "$WORK/warmup.txt" "$WARMUP"
callgrind_control --instr=on "$CERTD_PID" >/dev/null
python3 bench/instructions.py "$BASE" "$KEY" "$WORK/counted.txt" "$COUNT"
callgrind_control --instr=off "$CERTD_PID" >/dev/null
callgrind_control --dump "$CERTD_PID" >/dev/null
sleep 1

# The dump holds the counted part only (collection was off before and after).
REPORT=$(ls -t "$WORK"/callgrind.out* | head -n 1)
# `totals` is the dump's own sum; `summary` can be 0 when collection started late.
total=$(awk '/^totals:/ {t = $2} /^summary:/ {s = $2} END {print (t > 0 ? t : s)}' "$REPORT")
inclusive() {  # function-name-pattern -> its inclusive instruction count
    callgrind_annotate --inclusive=yes "$REPORT" 2>/dev/null \
        | awk -v pat="$1" '!found && $0 ~ pat {gsub(",", "", $1); print $1; found = 1}'
}
# Lines read `Ir (pct)  file:function [binary]`.
sqlite=$(inclusive ':sqlite3_step ')
printf '| measure | instructions per revocation |\n|---|---:|\n'
printf '| whole process | %s |\n' "$((total / COUNT))"
printf '| inside sqlite3_step (all statements, COMMIT included) | %s |\n' "$(( ${sqlite:-0} / COUNT ))"
printf '(COUNT=%s sequential skip_approval revocations, %s certificates in the database)\n' "$COUNT" "$CERTS"
