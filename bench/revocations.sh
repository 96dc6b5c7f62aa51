#!/usr/bin/env bash
# Revocation benchmark, rerunnable: skip-approval revokes per second
# through the HTTP API on SQLite, on PostgreSQL with one node, and with two
# nodes sharing one PostgreSQL database; on one node of each backend also
# revoke request + approval pairs and issuance. Prints a Markdown table.
# Bounded: each load runs DURATION seconds; the databases it creates are
# dropped.
#
#   bash bench/revocations.sh     # DURATION=10 CONNECTIONS=32 CERTS=100000
#   RUNS="pg1" bash bench/revocations.sh   # only some of: sqlite pg1 pg2
#   PG_PARAMS=sslmode=disable bash bench/revocations.sh
#                                   # connection parameters for certd (sqlx's default
#                                   # sslmode=prefer speaks TLS to a server with ssl=on,
#                                   # Debian's default, even over loopback)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
CERTS=${CERTS:-100000}
RUNS=" ${RUNS:-sqlite pg1 pg2} "
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

# Revoke request + approval pairs on serials the revocations did not reach
# (the second half of the file), then issuance.
other_loads() {  # base key serials-file -> "pairs/s p99 issued/s p99"
    local out="$WORK/other-$RANDOM"
    awk -v half="$(($(wc -l <"$3") / 2))" 'NR > half' "$3" >"$out.serials"
    SERIALS=$out.serials KEY=$2 wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/revoke-approve.lua "$1" >"$out.pairs" 2>&1 || true
    SUBJ=/CN=bench.example.com
    [ -f "$WORK/leaf.csr" ] || openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$WORK/leaf.key" -subj "$SUBJ" -out "$WORK/leaf.csr" 2>/dev/null
    CSR=$WORK/leaf.csr KEY=$2 wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/issue.lua "$1" >"$out.issue" 2>&1 || true
    echo "$(($(awk '/^approved/ {print $2}' "$out.pairs") / DURATION)) $(awk '$1 == "99%" {print $2}' "$out.pairs") $(awk '/Requests\/sec/ {print int($2)}' "$out.issue") $(awk '$1 == "99%" {print $2}' "$out.issue")"
}

# CPU time (utime + stime, in clock ticks) of processes, to split a run's
# cost between certd and PostgreSQL (the machine is otherwise idle).
cpu_ticks() {  # pids... -> "pid ticks" lines
    local pid
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] && echo "$pid $(awk '{print $14 + $15}' "/proc/$pid/stat")"
    done
    true
}

# Ticks spent since the snapshot $1 by the processes now alive ($2...):
# all of a process born since (PostgreSQL starts a backend per connection).
ticks_since() {  # snapshot-file pids... -> ticks
    local before=$1
    shift
    cpu_ticks "$@" | awk 'NR == FNR { start[$1] = $2; next } { total += $2 - start[$1] } END { print total + 0 }' "$before" -
}

# wrk_revoke, with the CPU each side spent per revocation, in microseconds.
wrk_revoke_cpu() {  # base key serials-file connections -> "rps p99 non2xx certd-us pg-us"
    local hz rps p99 bad certd pg made snap=$WORK/ticks-$RANDOM
    hz=$(getconf CLK_TCK)
    # shellcheck disable=SC2046
    cpu_ticks "${CERTD_PIDS[@]}" $(pgrep -u postgres) >"$snap"
    read -r rps p99 bad <<<"$(wrk_revoke "$@")"
    certd=$(ticks_since "$snap" "${CERTD_PIDS[@]}")
    # shellcheck disable=SC2046
    pg=$(ticks_since "$snap" $(pgrep -u postgres))
    made=$((rps * DURATION > 0 ? rps * DURATION : 1))
    echo "$rps $p99 ${bad:-0} $((certd * 1000000 / hz / made)) $((pg * 1000000 / hz / made))"
}

new_pg_database() {  # runs in a subshell too: the name goes to a file
    local db="certd_bench_$$_$1"
    psql -q "$PG_ADMIN/postgres" -c "CREATE DATABASE $db" >/dev/null
    echo "$db" >>"$WORK/databases"
    echo "$PG_ADMIN/$db${PG_PARAMS:+?$PG_PARAMS}"
}

wanted() { [[ $RUNS == *" $1 "* ]]; }

# --- SQLite --------------------------------------------------------------------
if wanted sqlite; then
certd_start "$CERTD" "$WORK/sqlite"
$SEED "sqlite://$WORK/sqlite/certd.db" "$WORK/sqlite/ca" "$CERTS" 0 "$WORK/sqlite-set" >/dev/null
read -r sqlite_rps sqlite_p99 sqlite_bad sqlite_certd_us _ <<<"$(wrk_revoke_cpu "$BASE" "$(certd_admin_key "$WORK/sqlite")" "$WORK/sqlite-set/serials.txt" "$CONNECTIONS")"
read -r sqlite_pairs sqlite_pairs_p99 sqlite_issue sqlite_issue_p99 <<<"$(other_loads "$BASE" "$(certd_admin_key "$WORK/sqlite")" "$WORK/sqlite-set/serials.txt")"
certd_stop
fi

# --- PostgreSQL, one node -------------------------------------------------------
if wanted pg1; then
url=$(new_pg_database one)
certd_start "$CERTD" "$WORK/pg1" --database-url "$url"
$SEED "$url" "$WORK/pg1/ca" "$CERTS" 0 "$WORK/pg1-set" >/dev/null
read -r pg1_rps pg1_p99 pg1_bad pg1_certd_us pg1_pg_us <<<"$(wrk_revoke_cpu "$BASE" "$(certd_admin_key "$WORK/pg1")" "$WORK/pg1-set/serials.txt" "$CONNECTIONS")"
read -r pg1_pairs pg1_pairs_p99 pg1_issue pg1_issue_p99 <<<"$(other_loads "$BASE" "$(certd_admin_key "$WORK/pg1")" "$WORK/pg1-set/serials.txt")"
certd_stop
fi

# --- PostgreSQL, two nodes, half the connections each ----------------------------
if wanted pg2; then
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
fi

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(psql -tA "$PG_ADMIN/postgres" -c 'SHOW server_version') (ssl=$(psql -tA "$PG_ADMIN/postgres" -c 'SHOW ssl'), certd's connection parameters: ${PG_PARAMS:-none}); wrk on the same machine, ${DURATION}s, $CONNECTIONS connections in all.
Each request: PUT /services/v2/certificate/{serial}/revoke {"skip_approval": true}, a different certificate each time, $CERTS certificates (one order each) in the database.

Pairs: revoke request (201) + approval (204), counted by approvals. Issuance: POST /services/v2/order/certificate/ssl_basic with skip_approval, one P-256 CSR.

CPU per revocation: certd's and PostgreSQL's processes' CPU time during the revocation run over the revocations made.

| backend | revocations/s (HTTP 204) | p99 | non-2xx | CPU µs per revocation: certd / PostgreSQL | pairs/s, p99 | issued/s, p99 |
|---|---|---|---|---|---|---|
TABLE
wanted sqlite && echo "| SQLite, one node | $sqlite_rps | $sqlite_p99 | ${sqlite_bad:-0} | $sqlite_certd_us / - | $sqlite_pairs, $sqlite_pairs_p99 | $sqlite_issue, $sqlite_issue_p99 |"
wanted pg1 && echo "| PostgreSQL, one node | $pg1_rps | $pg1_p99 | ${pg1_bad:-0} | $pg1_certd_us / $pg1_pg_us | $pg1_pairs, $pg1_pairs_p99 | $pg1_issue, $pg1_issue_p99 |"
wanted pg2 && echo "| PostgreSQL, two nodes | $((pg2a_rps + pg2b_rps)) ($pg2a_rps + $pg2b_rps) | $pg2a_p99 / $pg2b_p99 | $(( ${pg2a_bad:-0} + ${pg2b_bad:-0} )) | | | |"
true
