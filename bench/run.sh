#!/usr/bin/env bash
# The main benchmark: certd's revocation and issuance rates on SQLite through
# the HTTP API, side by side with CFSSL 1.2 (`cfssl serve`, SQLite certdb) and
# `openssl ca`, measured in the same run on the same machine, with the load
# generator (wrk) on that machine too. Prints one Markdown table with ratios.
#
#   bash bench/run.sh   # DURATION=10 REPEAT=3 CONNECTIONS=32 CERTS=450000 BIG=1000000
#
# Bounded: every load runs DURATION seconds, REPEAT times (the median run is
# reported: this machine's figures vary from run to run); the only long step is
# seeding BIG certificates. Everything lives in a temp dir removed at exit, and
# nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
REPEAT=${REPEAT:-3}
CONNECTIONS=${CONNECTIONS:-32}
# Each repeat revokes its own third of CERTS: enough for 15,000/s for DURATION
# (a run that runs out revokes certificates twice: non-2xx in the table).
CERTS=${CERTS:-450000}
# The baselines' sizes stay fixed: CFSSL's certdb rows (each repeat revokes
# fresh ones) and openssl ca's large index.
CFSSL_ROWS=${CFSSL_ROWS:-300000}
OSSL_ENTRIES=${OSSL_ENTRIES:-100000}
BIG=${BIG:-1000000}
BIG_REVOKED=$((BIG / 10))

. bench/baselines/baselines.sh
. bench/certd.sh
_bl_need wrk openssl sqlite3 curl
cargo build --release --quiet --bin certd --example bench_seed
CERTD=target/release/certd
SEED=target/release/examples/bench_seed

WORK=$(mktemp -d)
cleanup() {
    stop_certd
    for dir in cfssl cfssl-full cfssl-journal; do cfssl_stop "$WORK/$dir" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- certd ---------------------------------------------------------------------
PEAK_RSS_KB=0
start_certd() {  # data-dir -> sets BASE, KEY, CERTD_PID
    certd_start "$CERTD" "$1"
    KEY=$(certd_admin_key "$1")
}

stop_certd() {  # also keeps the highest peak memory seen, for the table
    certd_stop
    if [ "${CERTD_PEAK_KB:-0}" -gt "$PEAK_RSS_KB" ]; then PEAK_RSS_KB=$CERTD_PEAK_KB; fi
}

wrk_run() {  # output-file lua-script [env...] -> runs wrk against $BASE (C connections)
    local out=$1 script=$2
    shift 2
    env "$@" WRK_THREADS=2 KEY="$KEY" wrk -t2 -c"${C:-$CONNECTIONS}" -d"${DURATION}s" --latency \
        -s "$script" "$BASE" >"$out" 2>&1 || true
}

median_of() {  # "rps p99 extra" lines on stdin -> the line with the median rps
    sort -n | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}

# Each repeat revokes certificates no earlier repeat touched.
split_serials() {  # serials-file parts -> part files serials-file.1 ... .N (round robin)
    awk -v parts="$2" -v file="$1" '{ print > (file "." (NR % parts + 1)) }' "$1"
}

seeded_certd() {  # name certs revoked -> certd running on $WORK/name, serials in $WORK/name-set
    start_certd "$WORK/$1"
    $SEED "sqlite://$WORK/$1/certd.db" "$WORK/$1/ca" "$2" "$3" "$WORK/$1-set" >/dev/null
    # Restarted, so that its CRL shards are read in full, seeded revocations
    # included, as after any restart.
    local key=$KEY
    stop_certd
    # The seed's writeback would otherwise compete with the first run's fsyncs
    # (p99 tens of milliseconds higher).
    sync
    start_certd "$WORK/$1"
    KEY=$key
}

revocation_runs() {  # name first-part -> median "rps p99 non2xx" of skip_approval revokes
    for i in $(seq "$2" $(($2 + REPEAT - 1))); do
        wrk_run "$WORK/$1-$i.txt" bench/revoke.lua SERIALS="$WORK/$1-set/serials.txt.$i"
        _bl_wrk_summary "$WORK/$1-$i.txt"
    done | median_of
}

echo "certd: skip_approval revocations ($CERTS certificates)" >&2
seeded_certd revoke "$CERTS" 0
split_serials "$WORK/revoke-set/serials.txt" "$REPEAT"
read -r revoke_rps revoke_p99 revoke_bad <<<"$(revocation_runs revoke 1)"
stop_certd

echo "certd: revoke request + approval pairs" >&2
seeded_certd pairs "$CERTS" 0
split_serials "$WORK/pairs-set/serials.txt" "$REPEAT"
for i in $(seq 1 "$REPEAT"); do
    wrk_run "$WORK/pairs-$i.txt" bench/revoke-approve.lua SERIALS="$WORK/pairs-set/serials.txt.$i"
    approved=$(awk '/^approved/ {print $2}' "$WORK/pairs-$i.txt")
    echo "$((approved / DURATION)) $(_bl_wrk_summary "$WORK/pairs-$i.txt" | cut -d' ' -f2-)"
done | median_of >"$WORK/pairs.res"
read -r pairs_rps pairs_p99 pairs_bad <"$WORK/pairs.res"
stop_certd

echo "certd: issuance" >&2
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/leaf.key" \
    -subj /CN=bench.example.com -out "$WORK/leaf.csr" 2>/dev/null
start_certd "$WORK/issue"
for i in $(seq 1 "$REPEAT"); do
    wrk_run "$WORK/issue-$i.txt" bench/issue.lua CSR="$WORK/leaf.csr"
    _bl_wrk_summary "$WORK/issue-$i.txt"
done | median_of >"$WORK/issue.res"
read -r issue_rps issue_p99 issue_bad <"$WORK/issue.res"
issued=$(sqlite3 "$WORK/issue/certd.db" "SELECT COUNT(*) FROM certificates")
stop_certd

echo "certd: revocations with $BIG certificates, $BIG_REVOKED revoked (seeding takes a while)" >&2
seed_started=$(_bl_now_us)
seeded_certd big "$BIG" "$BIG_REVOKED"
seed_s=$(( ($(_bl_now_us) - seed_started) / 1000000 ))
split_serials "$WORK/big-set/serials.txt" $((2 * REPEAT))
read -r big_rps big_p99 big_bad <<<"$(revocation_runs big 1)"
# The same at a light load: what one revocation costs at this size.
read -r light_rps light_p99 light_bad <<<"$(C=4 revocation_runs big $((REPEAT + 1)))"
big_rss_mb=$(( $(awk '/VmRSS/ {print $2}' "/proc/$CERTD_PID/status") / 1024 ))
stop_certd

# The hot queries of a revocation, as certd sends them (src/store), explained
# by SQLite against the 1M-certificate database.
explain() { sqlite3 "$WORK/big/certd.db" "EXPLAIN QUERY PLAN $1" | sed 's/^/    /'; }
PLANS=$(
    for q in \
        "SELECT u.id FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = 'x' AND k.status = 'active'" \
        "SELECT id FROM certificates WHERE serial_number = 'x'" \
        "SELECT id FROM certificates WHERE id = 1" \
        "SELECT o.id, r.id AS pending_id, r.type AS pending_type FROM orders o LEFT JOIN requests r ON r.order_id = o.id AND r.status = 'pending' WHERE o.id = 1" \
        "UPDATE certificates SET status = 'revoked', revoked_at = COALESCE(revoked_at, 1), revocation_reason = 4 WHERE id = 1" \
        "INSERT INTO audit_log (created_at, actor_id, action, object_type, object_id, request_id, details, entry_hash) SELECT column2, column3, column4, column5, column6, column7, column8, column9 FROM (VALUES (0, 0, 1, 'a', 'b', 1, NULL, '{}', 'h1'), (1, 0, 1, 'a', 'b', 1, NULL, '{}', 'h2')) AS v WHERE COALESCE((SELECT entry_hash FROM audit_log ORDER BY id DESC LIMIT 1), 'g') = 'x' ORDER BY column1" \
        "SELECT revoked_at, revocation_reason FROM certificates WHERE serial_number = 'x'" \
        "SELECT serial_number, revoked_at, revocation_reason, valid_till FROM certificates WHERE crl_shard = 1 AND valid_till >= 0 AND revoked_at IS NOT NULL ORDER BY serial_number" \
        "SELECT serial_number, revoked_at, revocation_reason, valid_till FROM certificates WHERE serial_number IN ('x', 'y') AND revoked_at IS NOT NULL"; do
        echo "- \`$q\`"
        echo
        explain "$q"
        echo
    done
)

# --- baselines -----------------------------------------------------------------
echo "CFSSL: revoke and sign" >&2
cfssl_revokes() {  # dir -> one "rps p99 non2xx" line per repeat, each on serials not yet revoked
    for _ in $(seq 1 "$REPEAT"); do
        cfssl_revoke_bench "$1" 18888 "$CONNECTIONS" "$DURATION"
        local sent
        sent=$(awk '/requests in/ {print $1}' "$1/wrk-cfssl-revoke.txt")
        tail -n +"$((sent + CONNECTIONS + 1))" "$1/cfssl-serials.txt" >"$1/rest.txt"
        mv "$1/rest.txt" "$1/cfssl-serials.txt"
    done
}
# Three certdbs: WAL as go-sqlite3 opens it (synchronous=NORMAL: no fsync at
# commit, so a 200 can be lost to a power cut), WAL with synchronous=FULL
# (durable at 200, as certd is at 2xx), and the rollback journal cfssl ships.
cfssl_run() {  # dir wal sync -> "revoke_rps revoke_p99 revoke_bad sign_rps sign_p99 sign_bad"
    CFSSL_SQLITE_WAL=$2 CFSSL_SQLITE_SYNC=$3 cfssl_setup "$1" "$CFSSL_ROWS" >/dev/null
    cfssl_start "$1" 18888
    local revoke sign
    revoke=$(cfssl_revokes "$1" | median_of)
    sign=$(for _ in $(seq 1 "$REPEAT"); do cfssl_sign_bench "$1" 18888 "$CONNECTIONS" "$DURATION"; done | median_of)
    cfssl_stop "$1"
    echo "$revoke $sign"
}
read -r cw_rps cw_p99 cw_bad cws_rps cws_p99 cws_bad <<<"$(cfssl_run "$WORK/cfssl" 1 "")"
read -r cf_rps cf_p99 cf_bad cfs_rps cfs_p99 cfs_bad <<<"$(cfssl_run "$WORK/cfssl-full" 1 FULL)"
read -r cj_rps cj_p99 cj_bad cjs_rps cjs_p99 cjs_bad <<<"$(cfssl_run "$WORK/cfssl-journal" 0 "")"

echo "openssl ca: revoke + gencrl, signing" >&2
openssl_ca_setup "$WORK/ossl2k" 2000 >/dev/null
ossl_2k=$(openssl_ca_revoke_bench "$WORK/ossl2k" "$DURATION")
ossl_sign=$(openssl_ca_sign_bench "$WORK/ossl2k" "$DURATION")
openssl_ca_setup "$WORK/ossl100k" "$OSSL_ENTRIES" >/dev/null
ossl_100k=$(openssl_ca_revoke_bench "$WORK/ossl100k" "$DURATION")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "n/a" }'; }

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(uname -r); wrk on the same machine, ${CONNECTIONS} connections, ${DURATION}s per run, median of ${REPEAT} runs.
CFSSL $(cfssl version 2>/dev/null | head -1 | sed 's/Version: //'), $(openssl version | cut -d' ' -f1-2).

| load | certd | baseline | certd ÷ baseline |
|---|---|---|---|
| revocations/s, skip_approval, $CERTS certificates | $revoke_rps (p99 $revoke_p99, non-2xx ${revoke_bad:-0}) | CFSSL revoke, WAL, synchronous=FULL (durable like certd): $cf_rps (p99 $cf_p99) | $(ratio "$revoke_rps" "$cf_rps") |
| | | CFSSL revoke, WAL, synchronous=NORMAL (not durable): $cw_rps (p99 $cw_p99) | $(ratio "$revoke_rps" "$cw_rps") |
| | | CFSSL revoke, rollback journal (as shipped): $cj_rps (p99 $cj_p99) | $(ratio "$revoke_rps" "$cj_rps") |
| | | openssl ca -revoke + -gencrl, 2,000 entries: $ossl_2k/s | $(ratio "$revoke_rps" "$ossl_2k") |
| | | openssl ca -revoke + -gencrl, $OSSL_ENTRIES entries: $ossl_100k/s | $(ratio "$revoke_rps" "$ossl_100k") |
| revoke request + approval pairs/s | $pairs_rps (p99 $pairs_p99 per call, non-2xx ${pairs_bad:-0}) | | |
| certificates issued/s (P-256 CSR, skip_approval) | $issue_rps (p99 $issue_p99, non-2xx ${issue_bad:-0}; $issued stored) | CFSSL sign, WAL, synchronous=FULL: $cfs_rps (p99 $cfs_p99) | $(ratio "$issue_rps" "$cfs_rps") |
| | | CFSSL sign, WAL, synchronous=NORMAL: $cws_rps (p99 $cws_p99) | $(ratio "$issue_rps" "$cws_rps") |
| | | CFSSL sign, rollback journal: $cjs_rps (p99 $cjs_p99) | $(ratio "$issue_rps" "$cjs_rps") |
| | | openssl ca, 2 processes: $ossl_sign/s | $(ratio "$issue_rps" "$ossl_sign") |
| revocations/s with $BIG certificates, $BIG_REVOKED revoked | $big_rps (p99 $big_p99, non-2xx ${big_bad:-0}; RSS after $big_rss_mb MiB; seeding took ${seed_s}s) | | |
| the same at 4 connections | $light_rps (p99 $light_p99, non-2xx ${light_bad:-0}) | | |
| certd peak memory (VmHWM) over all loads | $((PEAK_RSS_KB / 1024)) MiB | | |

Query plans at $BIG certificates:

$PLANS
TABLE
