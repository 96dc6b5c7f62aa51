#!/usr/bin/env bash
# Revocation benchmark (issue 5), rerunnable: skip-approval revokes per second
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

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --quiet --bin certd --example bench_seed
CERTD=target/release/certd
SEED=target/release/examples/bench_seed

WORK=$(mktemp -d)
cleanup() {
    stop_nodes
    wait 2>/dev/null || true
    for db in $(cat "$WORK/databases" 2>/dev/null); do
        psql -q "$PG_ADMIN/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Runs in $(...) subshells, so each node's pid goes to a file, not a variable.
start_node() {  # name data-dir [database-url] -> base URL; key in $WORK/name.key
    local name=$1 data=$2 url=${3:-}
    $CERTD serve --data "$data" --listen 127.0.0.1:0 --rate-limit 0 ${url:+--database-url "$url"} \
        >"$WORK/$name.out" 2>"$WORK/$name.log" &
    echo $! >"$WORK/$name.pid"
    for _ in $(seq 1 600); do
        base=$(sed -n 's/^certd listening on //p' "$WORK/$name.out")
        [ -n "$base" ] && break
        sleep 0.1
    done
    sed -n 's/^Administrator API key.*: //p' "$WORK/$name.out" >"$WORK/$name.key"
    echo "$base"
}

stop_nodes() {
    for pidfile in "$WORK"/*.pid; do
        [ -e "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

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
base=$(start_node sqlite "$WORK/sqlite")
$SEED "sqlite://$WORK/sqlite/certd.db" "$WORK/sqlite/ca" "$CERTS" 0 "$WORK/sqlite-set" >/dev/null
read -r sqlite_rps sqlite_p99 sqlite_bad <<<"$(wrk_revoke "$base" "$(cat "$WORK/sqlite.key")" "$WORK/sqlite-set/serials.txt" "$CONNECTIONS")"
stop_nodes

# --- PostgreSQL, one node -------------------------------------------------------
url=$(new_pg_database one)
base=$(start_node pg1 "$WORK/pg1" "$url")
$SEED "$url" "$WORK/pg1/ca" "$CERTS" 0 "$WORK/pg1-set" >/dev/null
read -r pg1_rps pg1_p99 pg1_bad <<<"$(wrk_revoke "$base" "$(cat "$WORK/pg1.key")" "$WORK/pg1-set/serials.txt" "$CONNECTIONS")"
stop_nodes

# --- PostgreSQL, two nodes, half the connections each ----------------------------
url=$(new_pg_database two)
base_a=$(start_node pg2a "$WORK/pg2" "$url")
base_b=$(start_node pg2b "$WORK/pg2" "$url")   # same data directory: one CA
$SEED "$url" "$WORK/pg2/ca" "$CERTS" 0 "$WORK/pg2-set" >/dev/null
key=$(cat "$WORK/pg2a.key")
awk 'NR % 2 == 1' "$WORK/pg2-set/serials.txt" >"$WORK/pg2-set/a.txt"
awk 'NR % 2 == 0' "$WORK/pg2-set/serials.txt" >"$WORK/pg2-set/b.txt"
wrk_revoke "$base_a" "$key" "$WORK/pg2-set/a.txt" $((CONNECTIONS / 2)) >"$WORK/pg2a.res" &
wrk_revoke "$base_b" "$key" "$WORK/pg2-set/b.txt" $((CONNECTIONS / 2)) >"$WORK/pg2b.res" &
wait %1 %2 2>/dev/null || wait
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
