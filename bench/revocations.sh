#!/usr/bin/env bash
# Revocation benchmark, rerunnable: skip-approval revokes per second
# through the HTTP API on SQLite, on PostgreSQL with one node, and with two
# nodes sharing one PostgreSQL database. Prints a Markdown table. Bounded:
# each load runs DURATION seconds; the databases it creates are dropped.
#
#   bash bench/revocations.sh     # DURATION=10 CONNECTIONS=32 CERTS=100000
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
CERTS=${CERTS:-100000}
PG_ADMIN=${CERTD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}

. bench/tools.sh
. bench/certd.sh
need_tools wrk
cargo build --release --quiet --bin certd --example bench_seed
CERTD=target/release/certd
SEED=target/release/examples/bench_seed

WORK=$(mktemp -d)
cleanup() {
    certd_stop
    wait 2>/dev/null || true
    for db in $(cat "$WORK/databases" 2>/dev/null); do
        psql -q "$PG_ADMIN/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

wrk_revoke() {  # base key serials-file connections -> "rps p99 non2xx"
    local out="$WORK/wrk-$RANDOM.txt"
    SERIALS=$3 KEY=$2 WRK_THREADS=2 wrk -t2 -c"$4" -d"${DURATION}s" --latency -s bench/revoke.lua "$1" >"$out" 2>&1 || true
    echo "$(awk '/Requests\/sec/ {print int($2)}' "$out") $(awk '$1 == "99%" {print $2}' "$out") $(awk '/Non-2xx/ {print $5}' "$out")"
}

new_pg_database() {  # runs in a subshell too: the name goes to a file
    local db="certd_bench_$$_$1"
    psql -q "$PG_ADMIN/postgres" -c "CREATE DATABASE $db" >/dev/null
    echo "$db" >>"$WORK/databases"
    echo "$PG_ADMIN/$db"
}

# --- SQLite --------------------------------------------------------------------
certd_start "$CERTD" "$WORK/sqlite"
$SEED "sqlite://$WORK/sqlite/certd.db" "$WORK/sqlite/ca" "$CERTS" 0 "$WORK/sqlite-set" >/dev/null
read -r sqlite_rps sqlite_p99 sqlite_bad <<<"$(wrk_revoke "$BASE" "$(certd_admin_key "$WORK/sqlite")" "$WORK/sqlite-set/serials.txt" "$CONNECTIONS")"
certd_stop

# --- PostgreSQL, one node -------------------------------------------------------
url=$(new_pg_database one)
certd_start "$CERTD" "$WORK/pg1" --database-url "$url"
$SEED "$url" "$WORK/pg1/ca" "$CERTS" 0 "$WORK/pg1-set" >/dev/null
read -r pg1_rps pg1_p99 pg1_bad <<<"$(wrk_revoke "$BASE" "$(certd_admin_key "$WORK/pg1")" "$WORK/pg1-set/serials.txt" "$CONNECTIONS")"
certd_stop

# --- PostgreSQL, two nodes, half the connections each ----------------------------
url=$(new_pg_database two)
certd_start "$CERTD" "$WORK/pg2" --database-url "$url"
base_a=$BASE
key=$(certd_admin_key "$WORK/pg2")
# The second node: same data directory (one CA), its own output files.
CERTD_OUT=$WORK/pg2b certd_start "$CERTD" "$WORK/pg2" --database-url "$url"
base_b=$BASE
$SEED "$url" "$WORK/pg2/ca" "$CERTS" 0 "$WORK/pg2-set" >/dev/null
awk 'NR % 2 == 1' "$WORK/pg2-set/serials.txt" >"$WORK/pg2-set/a.txt"
awk 'NR % 2 == 0' "$WORK/pg2-set/serials.txt" >"$WORK/pg2-set/b.txt"
wrk_revoke "$base_a" "$key" "$WORK/pg2-set/a.txt" $((CONNECTIONS / 2)) >"$WORK/pg2a.res" &
wrk_a=$!
wrk_revoke "$base_b" "$key" "$WORK/pg2-set/b.txt" $((CONNECTIONS / 2)) >"$WORK/pg2b.res" &
# By pid: the two nodes are this shell's background jobs too, and never end by themselves.
wait "$wrk_a" "$!"
read -r pg2a_rps pg2a_p99 pg2a_bad <"$WORK/pg2a.res"
read -r pg2b_rps pg2b_p99 pg2b_bad <"$WORK/pg2b.res"

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(psql -tA "$PG_ADMIN/postgres" -c 'SHOW server_version'); wrk on the same machine, ${DURATION}s, $CONNECTIONS connections in all.
Each request: PUT /services/v2/certificate/{serial}/revoke {"skip_approval": true}, a different certificate each time, $CERTS certificates (one order each) in the database.

| backend | revocations/s (HTTP 204) | p99 | non-2xx |
|---|---|---|---|
| SQLite, one node | $sqlite_rps | $sqlite_p99 | ${sqlite_bad:-0} |
| PostgreSQL, one node | $pg1_rps | $pg1_p99 | ${pg1_bad:-0} |
| PostgreSQL, two nodes | $((pg2a_rps + pg2b_rps)) ($pg2a_rps + $pg2b_rps) | $pg2a_p99 / $pg2b_p99 | $(( ${pg2a_bad:-0} + ${pg2b_bad:-0} )) |
TABLE
