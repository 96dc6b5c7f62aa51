#!/usr/bin/env bash
# Publication benchmark, rerunnable: OCSP responses per second over
# random serials, CRL rebuild time at 100k and 1M revoked, server memory, each
# beside a baseline measured in the same run (`openssl ocsp -index`,
# `openssl ca -gencrl`). Prints a Markdown table. Bounded: every load runs for
# a fixed time, every process is stopped at the end.
#
#   bash bench/publication.sh            # DURATION=10 CONNECTIONS=64 by default
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
CERTS=${CERTS:-200000}         # of which REVOKED are revoked
REVOKED=${REVOKED:-100000}
MORE_REVOKED=${MORE_REVOKED:-900000}   # added for the 1M rebuild

. bench/tools.sh
. bench/certd.sh
need_tools wrk openssl curl
cargo build --release --quiet --bin certd --example bench_seed
CERTD=target/release/certd
SEED=target/release/examples/bench_seed

WORK=$(mktemp -d)
cleanup() {
    stop_openssl_ocsp
    certd_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
. bench/ocsp.sh


ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

openssl_gencrl_ms() {  # index dir -> ms for `openssl ca -gencrl`
    cat >"$1/ca.cnf" <<CNF
[ca]
default_ca = bench
[bench]
database = $1/index.txt
crlnumber = $1/crlnumber
default_md = sha256
default_crl_days = 7
CNF
    echo 01 >"$1/crlnumber"
    t=$(date +%s%N)
    openssl ca -config "$1/ca.cnf" -gencrl -keyfile "$WORK/data/ca/intermediate.key" \
        -cert "$WORK/data/ca/intermediate.pem" -out "$1/openssl.crl" 2>/dev/null
    ms_since "$t"
}

# --- seed -----------------------------------------------------------------
certd_start "$CERTD" "$WORK/data"   # creates the database, CA and administrator
$SEED "sqlite://$WORK/data/certd.db" "$WORK/data/ca" "$CERTS" "$REVOKED" "$WORK/set" >/dev/null
# `openssl ca -gencrl` below reads the index too.
echo "unique_subject = no" >"$WORK/set/index.txt.attr"
certd_stop

# --- CRL rebuild at 100k ------------------------------------------------------
t=$(date +%s%N)
crl_100k=$($CERTD crl --data "$WORK/data" --out "$WORK/crl-100k")
crl_100k_wall=$(ms_since "$t")
crl_100k_ms=$(echo "$crl_100k" | sed -n 's/.* in \([0-9]*\) ms$/\1/p')
crl_100k_largest=$(echo "$crl_100k" | sed -n 's/.*largest \([0-9]*\) bytes.*/\1/p')
openssl_100k_ms=$(openssl_gencrl_ms "$WORK/set")
openssl_100k_bytes=$(stat -c %s "$WORK/set/openssl.crl")

# --- OCSP load ------------------------------------------------------------------
certd_start "$CERTD" "$WORK/data"
read -r cold_rps cold_p99 cold_bad <<<"$(ocsp_wrk "$BASE" "$WORK/set/ocsp-paths.txt")"
read -r warm_rps warm_p99 warm_bad <<<"$(ocsp_wrk "$BASE" "$WORK/set/ocsp-paths.txt")"
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$CERTD_PID/status")
certd_stop

openssl_ocsp_start "$WORK/set" "$WORK/data/ca" 18099
read -r ossl_rps ossl_p99 ossl_bad <<<"$(ocsp_wrk http://127.0.0.1:18099 "$WORK/set/openssl-paths.txt")"
stop_openssl_ocsp

# --- CRL rebuild at 1M ------------------------------------------------------------
$SEED "sqlite://$WORK/data/certd.db" "$WORK/data/ca" "$MORE_REVOKED" "$MORE_REVOKED" "$WORK/more" >/dev/null
cat "$WORK/more/index.txt" >>"$WORK/set/index.txt"
total_revoked=$((REVOKED + MORE_REVOKED))
crl_1m=$($CERTD crl --data "$WORK/data" --out "$WORK/crl-1m")
crl_1m_ms=$(echo "$crl_1m" | sed -n 's/.* in \([0-9]*\) ms$/\1/p')
crl_1m_largest=$(echo "$crl_1m" | sed -n 's/.*largest \([0-9]*\) bytes.*/\1/p')
openssl_1m_ms=$(openssl_gencrl_ms "$WORK/set")
openssl_1m_bytes=$(stat -c %s "$WORK/set/openssl.crl")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "n/a" }'; }

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk -t2 -c$CONNECTIONS -d${DURATION}s on the same machine.
Set: $CERTS certificates, $REVOKED revoked; GET requests (SHA-1 CertID, no nonce) for random serials of the set.

| measurement | certd | baseline | ratio |
|---|---|---|---|
| OCSP GET/s, first pass (cache cold) | $cold_rps (p99 $cold_p99, non-2xx $cold_bad) | openssl ocsp -multi 2: $ossl_rps (p99 $ossl_p99, non-2xx $ossl_bad) | $(ratio "$cold_rps" "$ossl_rps") |
| OCSP GET/s, second pass (cache warm) | $warm_rps (p99 $warm_p99, non-2xx $warm_bad) | same | $(ratio "$warm_rps" "$ossl_rps") |
| server memory (RSS) after both passes | $((rss_kib / 1024)) MiB | | |
| full CRL rebuild, $REVOKED revoked | $crl_100k_ms ms signing, $crl_100k_wall ms whole command, 64 shards, largest $crl_100k_largest B | openssl ca -gencrl: $openssl_100k_ms ms, one CRL of $openssl_100k_bytes B | $(ratio "$openssl_100k_ms" "$crl_100k_ms") |
| full CRL rebuild, $total_revoked revoked | $crl_1m_ms ms, largest shard $crl_1m_largest B | openssl ca -gencrl: $openssl_1m_ms ms, $openssl_1m_bytes B | $(ratio "$openssl_1m_ms" "$crl_1m_ms") |
TABLE
