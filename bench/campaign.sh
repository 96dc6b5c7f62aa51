#!/usr/bin/env bash
# Revocation campaign benchmark, rerunnable: CERTS certificates (one order
# each, all `bench.example.com`) seeded into a fresh certd, then one campaign
# selecting all of them by domain, on SQLite and on PostgreSQL (one node).
# Measures:
#   - the baseline first: the same revocations one API call each
#     (`PUT /certificate/{serial}/revoke` with skip_approval, wrk at 32
#     connections for BASELINE seconds, default 10), as a rate and the time a
#     million would take at it; the certificates it revokes are then counted
#     `already_revoked` by the campaign;
#   - the dry run's answer time (it counts the whole selection and samples it);
#   - the final approval's answer time (it freezes the selection) and the time
#     from approval to `completed` (the runner's batches);
#   - while it runs: OCSP GETs (wrk, OCSP_CONNECTIONS connections, over a
#     sample of the certificates) and certificate reads through the API (wrk,
#     API_CONNECTIONS connections): rate and p99 of each;
#   - how long after `completed` the CRLs list every revoked certificate
#     (`certd_crl_entries` in /metrics);
#   - certd's peak memory (VmHWM).
# Prints a Markdown table.
#
#   bash bench/campaign.sh            # CERTS=1000000 RUNS="sqlite pg"
#   CERTS=100000 RUNS=sqlite bash bench/campaign.sh
#   PG_PARAMS=sslmode=disable bash bench/campaign.sh
#   LOADS=0 bash bench/campaign.sh    # the campaign alone, without the loads
#
# Bounded: the loads stop when the campaign completes (or after LIMIT
# seconds, default 300); the databases it creates are dropped and the
# temporary directory removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

CERTS=${CERTS:-1000000}
RUNS=" ${RUNS:-sqlite pg} "
LIMIT=${LIMIT:-300}
BASELINE=${BASELINE:-10}
LOADS=${LOADS:-1}
OCSP_CONNECTIONS=${OCSP_CONNECTIONS:-16}
API_CONNECTIONS=${API_CONNECTIONS:-4}
PG_ADMIN=${CERTD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}

. bench/tools.sh
. bench/certd.sh
need_tools wrk curl jq
cargo build --release --quiet --bin certd --example bench_seed
CERTD=target/release/certd
SEED=target/release/examples/bench_seed

WORK=$(mktemp -d)
cleanup() {
    certd_stop
    pkill -P $$ wrk 2>/dev/null || true
    wait 2>/dev/null || true
    for db in $(cat "$WORK/databases" 2>/dev/null); do
        psql -q "$PG_ADMIN/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

api() {  # method path key [body] -> the answer's body
    curl -sS -X "$1" -H "X-DC-DEVKEY: $3" -H 'Content-Type: application/json' \
        ${4:+--data "$4"} "$BASE/services/v2$2"
}

# The seconds, with milliseconds, between two now_ms values.
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }

# The baseline: revocations one API call each, on the serials in the file.
# Prints "revocations/s seconds-for-a-million".
one_call_each() {  # key serials-file
    local out=$WORK/baseline-$RANDOM rps
    SERIALS=$2 KEY=$1 wrk -t2 -c32 -d"${BASELINE}s" -s bench/revoke.lua "$BASE" >"$out" 2>&1 || true
    rps=$(awk '/Requests\/sec/ {print int($2)}' "$out")
    echo "$rps $((1000000 / (rps > 0 ? rps : 1)))"
}

# One campaign over every seeded certificate, with the loads beside it.
# Prints "dry-run-s approval-s run-s crl-lag-s ocsp-rps ocsp-p99 api-rps api-p99 matched".
run_campaign() {  # name key approver-key ocsp-paths api-paths
    local name=$1 key=$2 approver=$3 dir=$WORK/$1 t0 t1 t2 t3 id status entries matched
    local selector='{"domain": "bench.example.com"}'
    t0=$(now_ms)
    api POST /campaign "$key" "{\"name\": \"bench\", \"reason\": \"superseded\", \"dry_run\": true, \"selector\": $selector}" >"$dir.dry.json"
    t1=$(now_ms)
    matched=$(jq .matched "$dir.dry.json")
    [ $((matched + $(jq .already_revoked "$dir.dry.json"))) = "$CERTS" ] || { echo "dry run: $(head -c 300 "$dir.dry.json")" >&2; exit 1; }
    id=$(api POST /campaign "$key" "{\"name\": \"bench\", \"reason\": \"superseded\", \"selector\": $selector}" | jq .id)
    local loads=()
    if [ "$LOADS" = 1 ]; then
        OCSP_PATHS=$4 wrk -t1 -c"$OCSP_CONNECTIONS" -d"${LIMIT}s" --latency -s bench/ocsp.lua "$BASE" >"$dir.ocsp" 2>&1 &
        loads+=($!)
        PATHS=$5 KEY=$key wrk -t1 -c"$API_CONNECTIONS" -d"${LIMIT}s" --latency -s bench/get.lua "$BASE" >"$dir.get" 2>&1 &
        loads+=($!)
    fi
    touch "$dir.ocsp" "$dir.get"
    sleep 1
    t2=$(now_ms)
    status=$(api PUT "/campaign/$id/status" "$approver" '{"status": "approved"}' | jq -r .status)
    t3=$(now_ms)
    [ "$status" != null ] || { echo "approval failed" >&2; exit 1; }
    while :; do
        status=$(api GET "/campaign/$id" "$key" | jq -r .status)
        [ "$status" = completed ] && break
        [ $(( $(now_ms) - t2 )) -lt $((LIMIT * 1000)) ] || { echo "campaign not completed: $status" >&2; exit 1; }
        sleep 0.2
    done
    local done_at
    done_at=$(now_ms)
    # wrk prints its summary when interrupted.
    if [ ${#loads[@]} -gt 0 ]; then
        kill -INT "${loads[@]}"
        wait "${loads[@]}" || true
    fi
    while :; do
        entries=$(curl -s "$BASE/metrics" | awk '/^certd_crl_entries\{/ {sum += $2} END {print int(sum)}')
        [ "${entries:-0}" -ge "$CERTS" ] && break
        [ $(( $(now_ms) - done_at )) -lt 60000 ] || { echo "CRLs list $entries" >&2; break; }
        sleep 0.1
    done
    echo "$(seconds "$t0" "$t1") $(seconds "$t2" "$t3") $(seconds "$t2" "$done_at") $(seconds "$done_at" "$(now_ms)") \
$(load_result "$dir.ocsp") $(load_result "$dir.get") $matched"
}

# A load's rate and p99, or "- -" when it did not run (LOADS=0).
load_result() {  # wrk-output
    local rps p99
    rps=$(awk '/Requests\/sec/ {print int($2)}' "$1")
    p99=$(awk '$1 == "99%" {print $2}' "$1")
    echo "${rps:--} ${p99:--}"
}

new_pg_database() {
    local db="certd_campaign_$$_$1"
    psql -q "$PG_ADMIN/postgres" -c "CREATE DATABASE $db" >/dev/null
    echo "$db" >>"$WORK/databases"
    echo "$PG_ADMIN/$db${PG_PARAMS:+?$PG_PARAMS}"
}

approver_key() {  # certd-args...
    $CERTD user add --email "approver@bench.example" --first-name A --last-name B \
        --role administrator "$@"
}

wanted() { [[ $RUNS == *" $1 "* ]]; }

# --- SQLite --------------------------------------------------------------------
if wanted sqlite; then
    # Created by a first start, then seeded with the server stopped (the fast
    # seeder writes without a journal), then served again.
    certd_start "$CERTD" "$WORK/sqlite"
    key=$(certd_admin_key "$WORK/sqlite")
    certd_stop
    $SEED --fast "$WORK/sqlite/certd.db" "$WORK/sqlite/ca" "$CERTS" 0 "$WORK/sqlite-set" >/dev/null
    approver=$(approver_key --data "$WORK/sqlite")
    certd_start "$CERTD" "$WORK/sqlite"
    read -r s_base s_base_million <<<"$(one_call_each "$key" "$WORK/sqlite-set/serials.txt")"
    read -r s_dry s_approve s_run s_lag s_ocsp s_ocsp_p99 s_api s_api_p99 s_matched <<<"$(run_campaign sqlite "$key" "$approver" "$WORK/sqlite-set/ocsp-paths.txt" "$WORK/sqlite-set/api-paths.txt")"
    certd_stop
    s_peak=$((CERTD_PEAK_KB / 1024))
fi

# --- PostgreSQL, one node -------------------------------------------------------
if wanted pg; then
    url=$(new_pg_database one)
    certd_start "$CERTD" "$WORK/pg" --database-url "$url"
    key=$(certd_admin_key "$WORK/pg")
    $SEED "$url" "$WORK/pg/ca" "$CERTS" 0 "$WORK/pg-set" >/dev/null
    # The same sample sizes as the fast seeder's.
    shuf -n 100000 "$WORK/pg-set/ocsp-paths.txt" >"$WORK/pg-set/ocsp-sample.txt"
    psql -tA "${url%%\?*}" -c "SELECT '/services/v2/certificate/' || id FROM certificates ORDER BY random() LIMIT 100000" >"$WORK/pg-set/api-paths.txt"
    approver=$(approver_key --database-url "$url" --data "$WORK/pg")
    shuf -n 100000 "$WORK/pg-set/serials.txt" >"$WORK/pg-set/serials-sample.txt"
    read -r p_base p_base_million <<<"$(one_call_each "$key" "$WORK/pg-set/serials-sample.txt")"
    read -r p_dry p_approve p_run p_lag p_ocsp p_ocsp_p99 p_api p_api_p99 p_matched <<<"$(run_campaign pg "$key" "$approver" "$WORK/pg-set/ocsp-sample.txt" "$WORK/pg-set/api-paths.txt")"
    certd_stop
    p_peak=$((CERTD_PEAK_KB / 1024))
fi

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(psql -tA "$PG_ADMIN/postgres" -c 'SHOW server_version' 2>/dev/null || echo 'no PostgreSQL'); everything on the same machine.
$CERTS certificates seeded, all \`bench.example.com\`. Baseline: revocations one API call each (skip_approval, wrk -c32, ${BASELINE} s), and what a million would take at that rate. Then one campaign selecting all of them by domain (\`{"domain": "bench.example.com"}\`; those the baseline revoked count as already revoked), approved by a second administrator; default batch size. Loads while it runs (LOADS=$LOADS): OCSP GETs at $OCSP_CONNECTIONS connections, \`GET /services/v2/certificate/ID\` at $API_CONNECTIONS connections.

| backend | baseline: one call each, /s (a million in) | campaign: certificates | dry run | final approval (freezes the selection) | approval to completed | CRLs complete after | OCSP during the run: /s, p99 | API reads during the run: /s, p99 | peak memory |
|---|---|---|---|---|---|---|---|---|---|
TABLE
wanted sqlite && echo "| SQLite | $s_base ($s_base_million s) | $s_matched | ${s_dry} s | ${s_approve} s | ${s_run} s | ${s_lag} s | $s_ocsp, $s_ocsp_p99 | $s_api, $s_api_p99 | $s_peak MiB |"
wanted pg && echo "| PostgreSQL, one node | $p_base ($p_base_million s) | $p_matched | ${p_dry} s | ${p_approve} s | ${p_run} s | ${p_lag} s | $p_ocsp, $p_ocsp_p99 | $p_api, $p_api_p99 | $p_peak MiB |"
true
