#!/usr/bin/env bash
# OCSP with the CA's keys in a PKCS#11 token (SoftHSM2), rerunnable: the same
# certificate set served by certd with its keys in the token, by certd with
# its keys in a file, and by `openssl ocsp -index` (the baseline, keys in a
# file), each under the same wrk load; beside them, how fast each key signs
# (`certd ca signing-rate`) and how long the token took to sign every answer
# ahead. Prints a Markdown table. Bounded: fixed-time loads, every process
# stopped at the end.
#
#   bash bench/ocsp-token.sh          # CERTS=200000 REVOKED=100000 DURATION=10 CONNECTIONS=64
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
CERTS=${CERTS:-200000}
REVOKED=${REVOKED:-100000}
MODULE=${MODULE:-/usr/lib/softhsm/libsofthsm2.so}

. bench/tools.sh
. bench/certd.sh
need_tools wrk openssl curl softhsm2-util
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

# A private SoftHSM2 store with one token.
mkdir -p "$WORK/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$WORK/tokens" >"$WORK/softhsm2.conf"
export SOFTHSM2_CONF=$WORK/softhsm2.conf
softhsm2-util --init-token --free --label certd --pin 1234 --so-pin 87654321 >/dev/null
echo 1234 >"$WORK/pin"
TOKEN=(--pkcs11-module "$MODULE" --pkcs11-token certd --pkcs11-pin-file "$WORK/pin")


metric() {  # name -> value from /metrics (0 when absent)
    curl -s "$BASE/metrics" | awk -v n="$1" '$1 == n {print int($2); found=1} END {if (!found) print 0}'
}

# Seeds DATA (whose CA exists) with the set; serves it with ARGS until every
# answer is signed ahead; prints "seconds-to-presign cold-rps cold-p99 cold-bad
# warm-rps warm-p99 warm-bad rss-MiB".
run_certd() {  # data set-dir [serve-args...]
    local data=$1 set=$2
    shift 2
    certd_start "$CERTD" "$data" "$@"   # creates the database and administrator
    certd_stop
    $SEED "sqlite://$data/certd.db" "$data/ca" "$CERTS" "$REVOKED" "$set" >/dev/null
    local t0
    t0=$(date +%s%N)
    certd_start "$CERTD" "$data" "$@"
    # Done when every certificate has its two answers and nothing is queued.
    for _ in $(seq 1 3000); do
        [ "$(metric certd_ocsp_presigned_total)" -ge $((2 * CERTS)) ] &&
            [ "$(metric certd_ocsp_presign_backlog)" -eq 0 ] && break
        sleep 0.2
    done
    local presign_s
    presign_s=$(awk -v ns=$(( $(date +%s%N) - t0 )) 'BEGIN {printf "%.1f", ns / 1e9}')
    read -r cold_rps cold_p99 cold_bad <<<"$(ocsp_wrk "$BASE" "$set/ocsp-paths.txt")"
    read -r warm_rps warm_p99 warm_bad <<<"$(ocsp_wrk "$BASE" "$set/ocsp-paths.txt")"
    local on_demand
    on_demand=$(metric certd_ocsp_signed_on_demand_total)
    local rss_kib
    rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$CERTD_PID/status")
    certd_stop
    echo "$presign_s $cold_rps $cold_p99 $cold_bad $warm_rps $warm_p99 $warm_bad $((rss_kib / 1024)) $on_demand"
}

# --- keys in the token ----------------------------------------------------------
$CERTD ca init --data "$WORK/token" "${TOKEN[@]}" >/dev/null
token_rate=$($CERTD ca signing-rate --data "$WORK/token" "${TOKEN[@]}" --seconds 5 --threads 2 | awk '{print $1}')
read -r t_presign t_cold t_cold_p99 t_cold_bad t_warm t_warm_p99 t_warm_bad t_rss t_demand \
    <<<"$(run_certd "$WORK/token" "$WORK/token-set" "${TOKEN[@]}")"

# --- keys in a file -------------------------------------------------------------
$CERTD ca init --data "$WORK/file" >/dev/null
file_rate=$($CERTD ca signing-rate --data "$WORK/file" --seconds 5 --threads 2 | awk '{print $1}')
read -r f_presign f_cold f_cold_p99 f_cold_bad f_warm f_warm_p99 f_warm_bad f_rss f_demand \
    <<<"$(run_certd "$WORK/file" "$WORK/file-set")"

# --- openssl ocsp over the same set, keys in the file ------------------------------
openssl_ocsp_start "$WORK/file-set" "$WORK/file/ca" 18098
read -r o_rps o_p99 o_bad <<<"$(ocsp_wrk http://127.0.0.1:18098 "$WORK/file-set/openssl-paths.txt")"
stop_openssl_ocsp

cat <<TABLE
Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); SoftHSM2 $(dpkg-query -W -f '${Version}' softhsm2 2>/dev/null || echo '?'); wrk -t2 -c$CONNECTIONS -d${DURATION}s on the same machine.
Set: $CERTS certificates, $REVOKED revoked; GET requests (SHA-1 CertID, no nonce) for random serials of the set.

| measurement | certd, keys in SoftHSM2 | certd, keys in a file | openssl ocsp -multi 2, keys in a file |
|---|---|---|---|
| P-256 signatures/s (\`certd ca signing-rate\`, 2 threads) | $token_rate | $file_rate | |
| every answer signed ahead ($((2 * CERTS)) answers) after start | $t_presign s | $f_presign s | |
| OCSP GET/s, first pass (cache cold) | $t_cold (p99 $t_cold_p99, non-2xx $t_cold_bad) | $f_cold (p99 $f_cold_p99, non-2xx $f_cold_bad) | $o_rps (p99 $o_p99, non-2xx $o_bad) |
| OCSP GET/s, second pass (cache warm) | $t_warm (p99 $t_warm_p99, non-2xx $t_warm_bad) | $f_warm (p99 $f_warm_p99, non-2xx $f_warm_bad) | |
| answers signed on the request path during the loads | $t_demand | $f_demand | every one |
| server memory (RSS) after both passes | $t_rss MiB | $f_rss MiB | |
TABLE
