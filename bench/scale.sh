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
#   - the database's size after seeding;
#   - online backups, while that server still runs (idle, after the loads):
#     `certd backup --out FILE --data DIR` wall time and FILE's size and, as
#     a baseline on the same database, SQLite's own `sqlite3 DB "VACUUM INTO
#     'x.db'"` (what certd backup does, without its table and checks) and
#     `sqlite3 DB ".backup 'y.db'"` (the backup API): wall times and sizes;
#     then, the server stopped, `certd restore FILE --data NEWDIR` wall time
#     (it checks the copy: integrity check, CA, audit chain).
# Prints two Markdown tables (one row per size each): the server, and backups.
#
#   bash bench/scale.sh    # SIZES="1000000 5000000 10000000" REVOKED_PERCENT=10 LOAD=10 CONNECTIONS=32
#   SIZES="100000 200000" bash bench/scale.sh
#
# Bounded: every load runs LOAD seconds; each size's data is deleted before
# the next (10,000,000 certificates take about 3 GB; the database, a backup
# and its restore exist at once, each SQLite copy is deleted once measured: a
# size that would not fit on the disk four times over is skipped); at exit
# certd is stopped and the temporary directory removed.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"1000000 5000000 10000000"}
REVOKED_PERCENT=${REVOKED_PERCENT:-10}
LOAD=${LOAD:-10}
CONNECTIONS=${CONNECTIONS:-32}
# Measured: about 300 bytes of database per certificate.
BYTES_PER_CERT=300

. bench/tools.sh
need_tools wrk sqlite3
cargo build --release --quiet --bin certd --example bench_seed
CERTD=target/release/certd
SEED=target/release/examples/bench_seed
. bench/certd.sh

WORK=$(mktemp -d)
trap 'certd_stop; rm -rf "$WORK"' EXIT

timed_ms() {  # log command... -> the milliseconds it took; on failure shows the log, fails
    local log=$1 started
    shift
    started=$(date +%s%N)
    if ! "$@" >"$log" 2>&1; then
        echo "scale: failed: $*" >&2
        cat "$log" >&2
        return 1
    fi
    echo $((($(date +%s%N) - started) / 1000000))
}
size_mib() { echo $(($(stat -c %s "$1") >> 20)); }
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
BACKUP_ROWS=()
for size in $SIZES; do
    revoked=$((size * REVOKED_PERCENT / 100))
    free_bytes=$(df -B1 --output=avail "$WORK" | tail -1)
    if [ $((size * BYTES_PER_CERT * 4)) -gt "$free_bytes" ]; then
        echo "scale: skipping $size certificates: $((free_bytes >> 30)) GiB free" >&2
        ROWS+=("| $size | skipped: not enough disk ($((free_bytes >> 30)) GiB free) |||||||||")
        BACKUP_ROWS+=("| $size | skipped |||||")
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
    # Backups of the running server's database (idle now: the loads are over).
    live_mib=$(size_mib "$data/certd.db")
    wal_mib=0
    [ ! -f "$data/certd.db-wal" ] || wal_mib=$(size_mib "$data/certd.db-wal")
    backup_ms=$(timed_ms "$WORK/backup.log" "$CERTD" backup --data "$data" --out "$WORK/certd.backup")
    backup_mib=$(size_mib "$WORK/certd.backup")
    vacuum_ms=$(timed_ms "$WORK/vacuum.log" sqlite3 "$data/certd.db" "VACUUM INTO '$WORK/vacuum.db'")
    vacuum_mib=$(size_mib "$WORK/vacuum.db")
    rm -f "$WORK/vacuum.db"
    dot_backup_ms=$(timed_ms "$WORK/dot-backup.log" sqlite3 "$data/certd.db" ".backup '$WORK/dot-backup.db'")
    dot_backup_mib=$(size_mib "$WORK/dot-backup.db")
    rm -f "$WORK/dot-backup.db"
    certd_stop
    restore_ms=$(timed_ms "$WORK/restore.log" "$CERTD" restore "$WORK/certd.backup" --data "$WORK/restored")
    restored_mib=$(size_mib "$WORK/restored/certd.db")
    rm -rf "$WORK/certd.backup" "$WORK/restored"
    signing_ms=$(sed -n 's/.*signed all CRL shards.*elapsed_ms=\([0-9]*\).*/\1/p' "$data.log" | head -1)

    ROWS+=("| $size | $revoked | ${seed_rate:-?}/s | $startup_ms ms (signing ${signing_ms:-?} ms) | $rss_start MiB | $rss_load MiB | $ocsp_rps/s (p99 $ocsp_p99, non-2xx $ocsp_bad) | $api_rps/s (p99 $api_p99, non-2xx $api_bad) | $revoke_rps/s (p99 $revoke_p99, non-2xx $revoke_bad) | $crl_ms ms, $((crl_bytes >> 10)) KiB | $db_mib MiB |")
    BACKUP_ROWS+=("| $size | $live_mib MiB + $wal_mib MiB | $backup_ms ms, $backup_mib MiB | $restore_ms ms ($restored_mib MiB) | $vacuum_ms ms, $vacuum_mib MiB | $dot_backup_ms ms, $dot_backup_mib MiB |")
    rm -rf "$data" "$data.out" "$data.log" "$WORK/set" "$WORK/crl"
done

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end. wrk -t2 on the same machine, ${LOAD}s per load, $CONNECTIONS connections (revocations: 4); OCSP and reads over 100,000 certificates spread over the set.

| certificates | revoked | seeding | start-up | RSS after start-up | RSS after OCSP + reads | OCSP GET | certificate reads | revocations, 4 connections | \`certd crl\` (64 shards) | database |
|---|---|---|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${ROWS[@]}")

Backups, taken while that server runs, idle, after the loads; the restore once it has stopped (into a new directory). \`certd backup\` is \`VACUUM INTO\` plus its table (CA files, counts) and checks; \`certd restore\` copies the file and checks it (integrity check, CA, audit chain).

| certificates | database + WAL | \`certd backup\`: time, file | \`certd restore\` (restored database) | \`sqlite3 DB "VACUUM INTO"\` | \`sqlite3 DB .backup\` |
|---|---|---|---|---|---|
$(printf '%s\n' "${BACKUP_ROWS[@]}")
TABLE
