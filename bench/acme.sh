#!/usr/bin/env bash
# ACME benchmark (issue 20), rerunnable: the whole ACME flow at CLIENTS
# concurrent clients (accounts made beforehand; newOrder, http-01 answered by
# the driver's own responder, finalize, download), then revokeCert of what the
# accounts got; beside it, in the same run and on a fresh server each, the same
# certificates through the REST API (the floor ACME adds to) and `openssl req`
# + `openssl x509 -req` (bare crypto, one process per step). Prints Markdown:
# a summary table, then each run's breakdown (steps, requests, CPU seconds of
# certd and of the driver).
#
#   bash bench/acme.sh                       # SQLite
#   BACKENDS="sqlite postgres" bash bench/acme.sh
#   DURATION=30 WARMUP=3 CLIENTS=32 POLL_MS=5 REVOKE_SECONDS=30 REASON=superseded|none
#   OPENSSL_SECONDS=10; CERTD_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432,
#   where the script creates its databases certd_acme_bench_PID_*, dropped at exit)
#   PERF=1: certd sampled by `perf record` (cpu-clock, DWARF call graphs; the
#           release binary keeps its symbols and unwind tables) during each ACME
#           issuance window; its CPU by activity (bench/acme-load/perf_breakdown.py)
#           is printed after the run's breakdown, the data kept in target/acme-perf/.
#
# The driver is bench/acme-load, a Cargo project of its own (instant-acme over
# plain http, a DNS server answering every A query with 127.0.0.1 for certd's
# --acme-dns-resolver, an http-01 responder for --acme-http01-port), built
# here and nowhere else. Bounded: each load runs WARMUP + DURATION seconds and
# revocation at most REVOKE_SECONDS; the databases it creates are dropped and
# nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30}
WARMUP=${WARMUP:-3}
CLIENTS=${CLIENTS:-32}
POLL_MS=${POLL_MS:-5}
REVOKE_SECONDS=${REVOKE_SECONDS:-30}
REASON=${REASON:-superseded}
BACKENDS=${BACKENDS:-sqlite}
OPENSSL_SECONDS=${OPENSSL_SECONDS:-10}
PG_ADMIN=${CERTD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}

. bench/tools.sh
. bench/certd.sh
. bench/baselines/baselines.sh  # _bl_parallel_loops
need_tools openssl
case " $BACKENDS " in *" postgres "*) need_tools psql:postgresql-client ;; esac
[ "${PERF:-0}" = 1 ] && need_tools perf:linux-perf python3
echo "bench: building certd and the driver" >&2
cargo build --release --quiet --bin certd
CERTD=target/release/certd
cargo build --release --quiet --manifest-path bench/acme-load/Cargo.toml
LOAD=bench/acme-load/target/release/acme-load

WORK=$(mktemp -d)
cleanup() {
    certd_stop
    for db in $(cat "$WORK/databases" 2>/dev/null); do
        psql -q "$PG_ADMIN/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

new_pg_database() {  # name -> URL of a database made for this run (dropped at exit)
    local db="certd_acme_bench_$$_$1"
    psql -q "$PG_ADMIN/postgres" -c "CREATE DATABASE $db" >/dev/null
    echo "$db" >>"$WORK/databases"
    echo "$PG_ADMIN/$db"
}

COMMON=(--clients "$CLIENTS" --warmup "$WARMUP" --duration "$DURATION" --revoke-seconds "$REVOKE_SECONDS" --reason "$REASON")

acme_run() {  # name label [serve-args...] -> $WORK/name-acme.{md,env}
    local name=$1 label=$2 http01 dns
    shift 2
    read -r http01 dns <<<"$($LOAD ports)"
    certd_start "$CERTD" "$WORK/$name-acme" --auto-approve orders --acme-eab optional \
        --acme-http01-port "$http01" --acme-dns-resolver "127.0.0.1:$dns" "$@"
    if [ "${PERF:-0}" = 1 ]; then
        mkdir -p target/acme-perf
        (sleep "$WARMUP" && perf record -e cpu-clock -F 249 -g --call-graph dwarf,32768 -p "$CERTD_PID" \
            -o "target/acme-perf/$name.data" -- sleep "$DURATION" >/dev/null 2>&1) &
        PERF_JOB=$!
    fi
    echo "bench: ACME on $label" >&2
    $LOAD acme --directory "$BASE/acme/directory" --http01-port "$http01" --dns-port "$dns" \
        --certd-pid "$CERTD_PID" --poll-ms "$POLL_MS" --label "$label" --out "$WORK/$name-acme.env" \
        ${PG_URL:+--pg-url "$PG_URL"} "${COMMON[@]}" >"$WORK/$name-acme.md"
    certd_stop
    if [ "${PERF:-0}" = 1 ]; then
        wait "$PERF_JOB" || true
        {
            echo
            echo "certd's CPU during the ACME issuance window on $label, by activity (perf, cpu-clock at 249 Hz):"
            echo
            perf script -i "target/acme-perf/$name.data" -F comm,tid,ip,sym 2>/dev/null | python3 bench/acme-load/perf_breakdown.py
        } >>"$WORK/$name-acme.md"
    fi
}

rest_run() {  # name label [serve-args...] -> $WORK/name-rest.{md,env}
    local name=$1 label=$2
    shift 2
    certd_start "$CERTD" "$WORK/$name-rest" "$@"
    echo "bench: REST on $label" >&2
    $LOAD rest --base "$BASE" --key "$(certd_admin_key "$WORK/$name-rest")" \
        --certd-pid "$CERTD_PID" --label "$label" --out "$WORK/$name-rest.env" \
        ${PG_URL:+--pg-url "$PG_URL"} "${COMMON[@]}" >"$WORK/$name-rest.md"
    certd_stop
}

for backend in $BACKENDS; do
    case $backend in
        sqlite)
            acme_run sqlite SQLite
            rest_run sqlite SQLite
            ;;
        postgres)
            url=$(new_pg_database acme)
            PG_URL=$url acme_run postgres PostgreSQL --database-url "$url"
            url=$(new_pg_database rest)
            PG_URL=$url rest_run postgres PostgreSQL --database-url "$url"
            ;;
        *) echo "bench: unknown backend $backend (sqlite, postgres)" >&2; exit 2 ;;
    esac
done

# --- bare crypto: openssl, one process per step, two loops (one per core) ---------
echo "bench: openssl req + openssl x509 -req" >&2
mkdir -p "$WORK/ossl"
(
    cd "$WORK/ossl"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -new -x509 -key ca.key -sha256 -days 3650 -subj '/CN=bench openssl CA' -out ca.pem 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >leaf.ext
)
_acme_ossl_one() {  # loop iteration: a fresh key and CSR, then the certificate
    local d=$WORK/ossl name="o$1-$2.load.acme.test"
    SSL_CERT_FILE=/dev/null openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/k$1.pem" -subj "/CN=$name" -addext "subjectAltName=DNS:$name" -out "$d/r$1.csr" 2>/dev/null &&
        SSL_CERT_FILE=/dev/null SSL_CERT_DIR=/nonexistent openssl x509 -req -in "$d/r$1.csr" -CA "$d/ca.pem" \
            -CAkey "$d/ca.key" -set_serial "$(($1 * 1000000000 + $2))" -days 90 -sha256 \
            -extfile "$d/leaf.ext" -out "$d/c$1.pem" 2>/dev/null
}
ossl_rate=$(_bl_parallel_loops "$OPENSSL_SECONDS" _acme_ossl_one "$WORK/ossl/loop")
speed=$(openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print $(NF-1), $NF}')
read -r ossl_sign ossl_verify <<<"${speed:-0 0}"

# --- the table -----------------------------------------------------------------
row() {  # name label kind
    local f="$WORK/$1-$3.env"
    [ -f "$f" ] || return 0
    # shellcheck disable=SC1090
    . "$f"
    local p=${3^^}
    local rate="${p}_RATE" p50="${p}_P50" p95="${p}_P95" p99="${p}_P99" certd="${p}_CERTD_MS" pg="${p}_PG_MS" \
        driver="${p}_DRIVER_MS" errors="${p}_ERRORS" rr="${p}_REVOKE_RATE" rp99="${p}_REVOKE_P99" rn="${p}_REVOKES" \
        rs="${p}_REVOKE_SECS" rc="${p}_REVOKE_CERTD_MS"
    local what="ACME: newOrder … download"
    [ "$3" = rest ] && what="REST: POST order (skip_approval) + GET download"
    local pgcol=""
    # Every `postgres` process counts, so only where certd uses PostgreSQL.
    [ "$1" = postgres ] && pgcol=" + PostgreSQL ${!pg}"
    echo "| $2 | $what | ${!rate} | ${!p50} / ${!p95} / ${!p99} ms | ${!certd}$pgcol | ${!driver} | ${!errors} | ${!rr} (p99 ${!rp99} ms; ${!rn} in ${!rs} s) | ${!rc} |"
}

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(uname -r); $(openssl version | cut -d' ' -f1-2)$(case " $BACKENDS " in *" postgres "*) echo "; PostgreSQL $(psql -tA "$PG_ADMIN/postgres" -c 'SHOW server_version')" ;; esac).
Driver (bench/acme-load) on the same machine: $CLIENTS clients, ${WARMUP}s warm-up, ${DURATION}s timed, polling every ${POLL_MS} ms; revocation reason $REASON, timed until the first client has revoked all its certificates (at most ${REVOKE_SECONDS}s).

| backend | load | certificates/s | p50 / p95 / p99 | certd CPU ms per certificate | driver CPU ms per certificate | errors | revocations/s | certd CPU ms per revocation |
|---|---|---|---|---|---|---|---|---|
$(for b in $BACKENDS; do
    label=SQLite
    [ "$b" = postgres ] && label=PostgreSQL
    row "$b" "$label" acme
    row "$b" "$label" rest
done)
| — | openssl req (new P-256 key + CSR) + openssl x509 -req, 2 processes at a time | $ossl_rate | | | | | | |

openssl speed ecdsap256, one core: $ossl_sign signatures/s, $ossl_verify verifications/s.

TABLE
for b in $BACKENDS; do
    for k in acme rest; do
        [ -f "$WORK/$b-$k.md" ] && cat "$WORK/$b-$k.md"
        echo
    done
done
