#!/usr/bin/env bash
# Does anything in certd grow with the number of certificates? For each size
# in SIZES, seeds that many certificates (REVOKED_PERCENT of them revoked, one
# order each) straight into a fresh certd SQLite database
# (`bench_seed --fast`), then measures:
#   - `certd serve` start-up: from exec to its "certd listening on" line
#     (it signs every CRL shard before it listens);
#   - RSS just after start-up, and after LOAD seconds of OCSP GETs and LOAD
#     seconds of certificate reads (`GET /services/v2/certificate/ID`), wrk at
#     CONNECTIONS connections over a sample of 100,000 certificates;
#   - skip_approval revocations at 4 connections for LOAD seconds: rate, p99;
#   - `certd crl --out DIR` on the seeded database: wall time and the 64
#     shards' total bytes;
#   - the database's size after seeding.
# Prints a Markdown table (one row per size).
#
#   bash bench/scale.sh    # SIZES="1000000 5000000 10000000" REVOKED_PERCENT=10 LOAD=10 CONNECTIONS=32
#   SIZES="100000 200000" bash bench/scale.sh
#
# Bounded: every load runs LOAD seconds; each size's data is deleted before
# the next (10,000,000 certificates take about 3 GB; a size that would not
# fit on the disk twice over is skipped); at exit certd is stopped and the
# temporary directory removed.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"1000000 5000000 10000000"}
REVOKED_PERCENT=${REVOKED_PERCENT:-10}
LOAD=${LOAD:-10}
CONNECTIONS=${CONNECTIONS:-32}
# Measured: about 300 bytes of database per certificate.
BYTES_PER_CERT=300

need=()
for tool in wrk sqlite3; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet --bin certd --example bench_seed
CERTD=target/release/certd
SEED=target/release/examples/bench_seed
. bench/certd.sh

WORK=$(mktemp -d)
trap 'certd_stop; rm -rf "$WORK"' EXIT

rss_mib() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$CERTD_PID/status"; }
wrk_run() {  # connections script [env...] -> "requests/s p99 non-2xx"
    local connections=$1 script=$2
    shift 2
    env "$@" KEY="$KEY" WRK_THREADS=2 wrk -t2 -c"$connections" -d"${LOAD}s" --latency -s "$script" "$BASE" \
        >"$WORK/wrk.txt" 2>&1 || true
    awk '/^Requests\/sec/ { rps = int($2) } $1 == "99%" { p99 = $2 } /Non-2xx/ { bad = $5 }
         END { print rps + 0, (p99 == "" ? "?" : p99), bad + 0 }' "$WORK/wrk.txt"
}

ROWS=()
for size in $SIZES; do
    revoked=$((size * REVOKED_PERCENT / 100))
    free_bytes=$(df -B1 --output=avail "$WORK" | tail -1)
    if [ $((size * BYTES_PER_CERT * 2)) -gt "$free_bytes" ]; then
        echo "scale: skipping $size certificates: $((free_bytes >> 30)) GiB free" >&2
        ROWS+=("| $size | skipped: not enough disk ($((free_bytes >> 30)) GiB free) |||||||||")
        continue
    fi
    data=$WORK/data
    echo "scale: $size certificates, $revoked revoked" >&2
    certd_start "$CERTD" "$data"  # creates the database, the CA and the administrator
    KEY=$(certd_admin_key "$data")
    certd_stop
    seeded=$($SEED --fast "$data/certd.db" "$data/ca" "$size" "$revoked" "$WORK/set" 2>/dev/null)
    seed_rate=$(echo "$seeded" | sed -n 's/.*: \([0-9]*\) a second$/\1/p')
    db_mib=$(($(du -cb "$data"/certd.db* | tail -1 | cut -f1) >> 20))
    # Before any load, so that the CRLs hold exactly the seeded revocations.
    started=$(date +%s%N)
    $CERTD crl --data "$data" --out "$WORK/crl" >/dev/null 2>"$WORK/crl.log"
    crl_ms=$((($(date +%s%N) - started) / 1000000))
    crl_bytes=$(cat "$WORK"/crl/*.crl | wc -c)
    # The seed's writeback would otherwise land in the start-up and the loads.
    sync

    started=$(date +%s%N)
    # Signing 64 shards of 1,000,000 revocations takes a while on a busy machine.
    CERTD_START_TIMEOUT=600 certd_start "$CERTD" "$data"
    startup_ms=$((($(date +%s%N) - started) / 1000000))
    rss_start=$(rss_mib)
    read -r ocsp_rps ocsp_p99 ocsp_bad <<<"$(wrk_run "$CONNECTIONS" bench/get.lua PATHS="$WORK/set/ocsp-paths.txt")"
    read -r api_rps api_p99 api_bad <<<"$(wrk_run "$CONNECTIONS" bench/get.lua PATHS="$WORK/set/api-paths.txt")"
    rss_load=$(rss_mib)
    read -r revoke_rps revoke_p99 revoke_bad <<<"$(wrk_run 4 bench/revoke.lua SERIALS="$WORK/set/serials.txt")"
    certd_stop
    signing_ms=$(sed -n 's/.*signed all CRL shards.*elapsed_ms=\([0-9]*\).*/\1/p' "$data.log" | head -1)

    ROWS+=("| $size | $revoked | ${seed_rate:-?}/s | $startup_ms ms (signing ${signing_ms:-?} ms) | $rss_start MiB | $rss_load MiB | $ocsp_rps/s (p99 $ocsp_p99, non-2xx $ocsp_bad) | $api_rps/s (p99 $api_p99, non-2xx $api_bad) | $revoke_rps/s (p99 $revoke_p99, non-2xx $revoke_bad) | $crl_ms ms, $((crl_bytes >> 10)) KiB | $db_mib MiB |")
    rm -rf "$data" "$data.out" "$data.log" "$WORK/set" "$WORK/crl"
done

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end. wrk -t2 on the same machine, ${LOAD}s per load, $CONNECTIONS connections (revocations: 4); OCSP and reads over 100,000 certificates spread over the set.

| certificates | revoked | seeding | start-up | RSS after start-up | RSS after OCSP + reads | OCSP GET | certificate reads | revocations, 4 connections | \`certd crl\` (64 shards) | database |
|---|---|---|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")
TABLE
