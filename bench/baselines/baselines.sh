# shellcheck shell=bash
# Baseline benchmarks to put beside certd's numbers. Source this file, then
# call the functions; each works in a directory given as its first argument
# (created if missing) and installs what it needs (golang-cfssl wrk openssl
# sqlite3 curl) with apt-get when missing. Nothing is left running: cfssl_stop
# stops the only background server. Every load is bounded by SECONDS.
#
#   . bench/baselines/baselines.sh
#
# CFSSL (Debian golang-cfssl, cfssl 1.2.0 from 2016, `cfssl serve` + SQLite certdb)
#   cfssl_setup DIR N               P-256 CA (cfssl gencert -initca), signing config,
#                                   SQLite certdb with cfssl 1.2's schema and N 'good'
#                                   rows; writes DIR/cfssl-serials.txt (decimal serials,
#                                   shuffled) and DIR/cfssl-aki.txt (lowercase hex AKI).
#   cfssl_start DIR PORT            cfssl serve on 127.0.0.1:PORT in the background
#                                   (pid in DIR/cfssl.pid, log DIR/cfssl-serve.log),
#                                   returns once it answers HTTP. CFSSL_DB=0: without
#                                   -db-config (sign stores nothing; revoke is disabled).
#   cfssl_stop DIR                  stops it.
#   cfssl_revoke_bench DIR PORT C S wrk -t2 -cC -dSs of POST /api/v1/cfssl/revoke, one
#                                   new serial per request -> "rps p99 non2xx"
#   cfssl_sign_bench DIR PORT C S   wrk of POST /api/v1/cfssl/sign with one P-256 CSR
#                                   -> "rps p99 non2xx"
#   cfssl_revoked_count DIR         rows with status 'revoked' in DIR/certs.db
#   wrk runs with its default 2 s timeout (WRK_TIMEOUT=10s to change it): requests
#   slower than that count as socket timeouts, not in p99; the benches print wrk's
#   "Socket errors" line to stderr when there is one. Full wrk output is kept in
#   DIR/wrk-cfssl-{revoke,sign}.txt.
#   Caveats: a cfssl revoke only flips one certdb row (UPDATE ... SET
#   status='revoked'); it signs no OCSP response and builds no CRL (cfssl 1.2
#   does those in separate batch commands: `cfssl ocsprefresh`, `cfssl gencrl`).
#   Revoking the same row twice also answers 200, so the serials file must
#   hold more lines than the run sends (the bench warns when it does not).
#   A cfssl sign does ECDSA P-256 signing plus one INSERT into the certdb.
#   Seeded rows carry the CA's real AKI, but this Debian build (Go 1.19) stores
#   an EMPTY authority_key_identifier for certificates it signs itself (its
#   signer relies on x509.CreateCertificate filling the template's AKI, which
#   newer Go does not do): revoking those needs "authority_key_id": "".
#   Revoke of an unknown serial/AKI pair -> 400, error code 11200.
#   SQLite is used as cfssl opens it: go-sqlite3 defaults (rollback journal,
#   synchronous=NORMAL, 5 s busy timeout, no WAL); CFSSL_SQLITE_WAL=1 before
#   cfssl_setup switches the file to WAL (persistent in the file) for a
#   comparison with a WAL store. In WAL mode go-sqlite3's synchronous=NORMAL
#   never fsyncs at commit (strace: 2 fdatasync calls for 972 revokes), so a
#   200 is not durable against power loss; CFSSL_SQLITE_SYNC=FULL before
#   cfssl_setup adds _synchronous=FULL to the data source, one fdatasync per
#   commit, the durability certd gives every 2xx. cfssl logs at CFSSL_LOGLEVEL
#   (default 2 = warning; 1 = info adds an access-log line per request).
#
# openssl ca (OpenSSL 3, flat-file CA: index.txt rewritten on every change)
#   openssl_ca_setup DIR N          P-256 CA in DIR/ca with an `openssl ca` config
#                                   (unique_subject = no, copy_extensions none, sha256),
#                                   a pool of real certificates signed by it
#                                   (OPENSSL_CA_POOL, default 1000, DIR/ca/newcerts)
#                                   plus N padding 'V' entries in index.txt.
#   openssl_ca_revoke_bench DIR S   for S seconds: `openssl ca -revoke CERT -crl_reason
#                                   superseded` then `openssl ca -gencrl` per pool cert,
#                                   on a fresh copy of DIR/ca -> revocations per second
#                                   (one decimal). Both commands load and the revoke
#                                   rewrites the whole index: cost grows with N.
#                                   The last pair may end past S (at 1M entries one
#                                   pair takes seconds); the rate uses the real time.
#   openssl_ca_sign_bench DIR S     2 parallel loops (one per core, each on its own copy
#                                   of DIR/ca, since `openssl ca` is not safe to run
#                                   twice on one index) of `openssl ca -batch -notext
#                                   -in p256.csr` -> certificates per second (one
#                                   decimal). Each signing also loads and rewrites the
#                                   N-entry index.
#   openssl_x509_sign_bench DIR S   2 parallel loops of stateless `openssl x509 -req
#                                   -CA -CAkey -set_serial` -> certificates per second
#                                   (one decimal). Run with SSL_CERT_FILE=/dev/null:
#                                   OpenSSL 3.0's x509 app otherwise reads the whole
#                                   system trust store (~30 ms) on every call.
#   Caveats: every openssl number is one process per operation, so process start
#   and config/provider loading (a few ms) are in it; nothing is served over
#   HTTP. The pool bounds revocations per run: the bench stops early and warns
#   when it runs out.

BASELINES_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BASELINES_HOME/../tools.sh"

_bl_need() {  # apt-get install the Debian packages of the tools that are missing
    need_tools cfssl:golang-cfssl wrk openssl sqlite3 curl shuf:coreutils
}

_bl_now_us() { echo "${EPOCHREALTIME/./}"; }  # wall clock in microseconds

_bl_wrk_summary() {  # wrk-output-file -> "rps p99 non2xx"
    local out=$1
    local rps p99 non2xx
    rps=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses/ {print $5}' "$out")
    grep -q 'Socket errors' "$out" && echo "baselines: wrk $(grep 'Socket errors' "$out" | sed 's/^ *//')" >&2
    echo "${rps:-0} ${p99:-?} ${non2xx:-0}"
}

# ---------------------------------------------------------------- CFSSL ---

cfssl_setup() {  # DIR N
    local dir=$1 n=${2:?usage: cfssl_setup DIR N}
    _bl_need || return 1
    mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
    (
        set -e
        cd "$dir"
        rm -f certs.db certs.db-wal certs.db-shm certs.db-journal
        cat >ca-csr.json <<'EOF'
{"CN": "certd baseline cfssl CA", "key": {"algo": "ecdsa", "size": 256},
 "names": [{"O": "certd bench"}], "ca": {"expiry": "87600h"}}
EOF
        cfssl gencert -initca ca-csr.json 2>cfssl-setup.log | cfssljson -bare ca   # ca.pem ca-key.pem
        # Unauthenticated default profile, so /api/v1/cfssl/sign accepts requests.
        cat >config.json <<'EOF'
{"signing": {"default": {"expiry": "8760h",
  "usages": ["digital signature", "key encipherment", "server auth", "client auth"]}}}
EOF
        local sync=${CFSSL_SQLITE_SYNC:+?_synchronous=$CFSSL_SQLITE_SYNC}
        printf '{"driver":"sqlite3","data_source":"%s/certs.db%s"}\n' "$dir" "$sync" >db-config.json
        # One P-256 CSR: the sign bench's request, and (signed once) the pem of every seeded row.
        cat >p256-csr.json <<'EOF'
{"CN": "bench.example.com", "hosts": ["bench.example.com"], "key": {"algo": "ecdsa", "size": 256}}
EOF
        cfssl genkey p256-csr.json 2>>cfssl-setup.log | cfssljson -bare p256     # p256.csr p256-key.pem
        cfssl sign -ca ca.pem -ca-key ca-key.pem -config config.json p256.csr 2>>cfssl-setup.log \
            | cfssljson -bare leaf                                               # leaf.pem
        # The AKI cfssl stores: hex.EncodeToString(cert.AuthorityKeyId) = the CA's SKI, lowercase.
        openssl x509 -in ca.pem -noout -ext subjectKeyIdentifier | sed -n '2{s/[ :]//g;p}' \
            | tr 'A-F' 'a-f' >cfssl-aki.txt
        local aki; aki=$(cat cfssl-aki.txt)
        [ -n "$aki" ]
        # cfssl 1.2's certdb schema: certdb/sqlite/migrations/001_CreateCertificates.sql
        # (goose migration, not shipped by the Debian packages; copied here).
        cat >cfssl-schema.sql <<'EOF'
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);

CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);
EOF
        # Rows as cfssl's local signer writes them: serial = big.Int decimal string,
        # status 'good', reason 0, times in go-sqlite3's format, revoked_at = Go's zero time.
        # Serials: a pseudo-random 12-digit head (so keys land all over the index, like
        # random 20-byte serials do) + a 20-digit counter (so they are unique).
        sqlite3 certs.db >/dev/null <<EOF
.read cfssl-schema.sql
PRAGMA cache_size = -262144;
BEGIN;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $n)
INSERT INTO certificates (serial_number, authority_key_identifier, ca_label, status, reason, expiry, revoked_at, pem)
SELECT printf('%d%020d', 100000000000 + (i * 2654435761) % 899999999999, i),
       '$aki', '', 'good', 0, '2035-01-01 00:00:00+00:00', '0001-01-01 00:00:00+00:00',
       (SELECT CAST(readfile('leaf.pem') AS TEXT))
FROM s;
COMMIT;
EOF
        if [ "${CFSSL_SQLITE_WAL:-0}" = 1 ]; then
            sqlite3 certs.db 'PRAGMA journal_mode = WAL;' >/dev/null
        fi
        # Shuffled (deterministically) so revocations hit random rows.
        sqlite3 certs.db 'SELECT serial_number FROM certificates;' \
            | shuf --random-source=<(yes) >cfssl-serials.txt
        [ "$(wc -l <cfssl-serials.txt)" -eq "$n" ]
    ) || { echo "cfssl_setup: failed (see $dir/cfssl-setup.log)" >&2; return 1; }
}

cfssl_start() {  # DIR PORT
    local dir=$1 port=${2:?usage: cfssl_start DIR PORT}
    _bl_need || return 1
    dir=$(cd "$dir" && pwd) || return 1
    cfssl_stop "$dir"
    local -a db=(-db-config "$dir/db-config.json")
    [ "${CFSSL_DB:-1}" = 0 ] && db=()
    cfssl serve -address 127.0.0.1 -port "$port" \
        -ca "$dir/ca.pem" -ca-key "$dir/ca-key.pem" \
        "${db[@]}" -config "$dir/config.json" \
        -loglevel "${CFSSL_LOGLEVEL:-2}" \
        </dev/null >"$dir/cfssl-serve.log" 2>&1 &
    echo $! >"$dir/cfssl.pid"
    local pid; pid=$(cat "$dir/cfssl.pid")
    local code
    for _ in $(seq 1 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "cfssl_start: cfssl serve exited:" >&2; tail -5 "$dir/cfssl-serve.log" >&2
            rm -f "$dir/cfssl.pid"; return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' \
            "http://127.0.0.1:$port/api/v1/cfssl/info" 2>/dev/null) || true
        [ "$code" = 200 ] && return 0
        sleep 0.05
    done
    echo "cfssl_start: no answer on port $port after 10 s" >&2
    cfssl_stop "$dir"; return 1
}

cfssl_stop() {  # DIR
    local dir=${1:?usage: cfssl_stop DIR} pid
    [ -e "$dir/cfssl.pid" ] || return 0
    pid=$(cat "$dir/cfssl.pid")
    # Only signal it if that pid is still our cfssl serve.
    if grep -q 'cfssl' "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/cfssl.pid"
    return 0
}

cfssl_revoked_count() {  # DIR -> rows with status 'revoked'
    sqlite3 -cmd '.timeout 30000' "$1/certs.db" "SELECT count(*) FROM certificates WHERE status = 'revoked';"
}

cfssl_revoke_bench() {  # DIR PORT CONNECTIONS SECONDS -> "rps p99 non2xx"
    local dir=$1 port=$2 conns=$3 secs=${4:?usage: cfssl_revoke_bench DIR PORT CONNECTIONS SECONDS}
    _bl_need || return 1
    local out="$dir/wrk-cfssl-revoke.txt"
    CFSSL_SERIALS="$dir/cfssl-serials.txt" CFSSL_AKI_FILE="$dir/cfssl-aki.txt" WRK_THREADS=2 \
        wrk -t2 -c"$conns" -d"${secs}s" ${WRK_TIMEOUT:+--timeout "$WRK_TIMEOUT"} --latency -s "$BASELINES_HOME/cfssl-revoke.lua" \
        "http://127.0.0.1:$port" >"$out" 2>&1 || { echo "baselines: wrk failed:" >&2; cat "$out" >&2; return 1; }
    local sent lines
    sent=$(awk '/requests in/ {print $1}' "$out")
    lines=$(wc -l <"$dir/cfssl-serials.txt")
    if [ "${sent:-0}" -gt "$lines" ]; then
        echo "cfssl_revoke_bench: $sent requests > $lines serials: some rows were revoked twice; seed more" >&2
    fi
    _bl_wrk_summary "$out"
}

cfssl_sign_bench() {  # DIR PORT CONNECTIONS SECONDS -> "rps p99 non2xx"
    local dir=$1 port=$2 conns=$3 secs=${4:?usage: cfssl_sign_bench DIR PORT CONNECTIONS SECONDS}
    _bl_need || return 1
    local out="$dir/wrk-cfssl-sign.txt"
    CFSSL_CSR="$dir/p256.csr" \
        wrk -t2 -c"$conns" -d"${secs}s" ${WRK_TIMEOUT:+--timeout "$WRK_TIMEOUT"} --latency -s "$BASELINES_HOME/cfssl-sign.lua" \
        "http://127.0.0.1:$port" >"$out" 2>&1 || { echo "baselines: wrk failed:" >&2; cat "$out" >&2; return 1; }
    _bl_wrk_summary "$out"
}

# ----------------------------------------------------------- openssl ca ---

openssl_ca_setup() {  # DIR N
    local dir=$1 n=${2:?usage: openssl_ca_setup DIR N}
    local pool=${OPENSSL_CA_POOL:-1000}
    _bl_need || return 1
    mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
    rm -rf "$dir/ca"
    mkdir -p "$dir/ca/newcerts"
    (
        set -e
        cd "$dir/ca"
        # `dir = .`: every command runs inside the CA directory, so copies of it work.
        cat >openssl.cnf <<'EOF'
[ ca ]
default_ca = CA_default

[ CA_default ]
dir              = .
database         = $dir/index.txt
new_certs_dir    = $dir/newcerts
certificate      = $dir/ca.pem
private_key      = $dir/ca.key
serial           = $dir/serial
crlnumber        = $dir/crlnumber
default_md       = sha256
default_days     = 365
default_crl_days = 7
policy           = policy_any
copy_extensions  = none
unique_subject   = no
email_in_dn      = no
x509_extensions  = leaf_ext
crl_extensions   = crl_ext

[ policy_any ]
commonName = supplied

[ leaf_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = bench.example.com

[ ca_ext ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
EOF
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
        openssl req -new -x509 -config openssl.cnf -key ca.key -sha256 -days 3650 \
            -subj '/O=certd bench/CN=certd baseline openssl CA' -extensions ca_ext -out ca.pem
        openssl ecparam -name prime256v1 -genkey -noout -out p256.key 2>/dev/null
        openssl req -new -config openssl.cnf -key p256.key -sha256 -out p256.csr
        : >index.txt
        echo 'unique_subject = no' >index.txt.attr
        echo 1000 >serial
        echo 1000 >crlnumber
        # The pool: real certificates that -revoke can be given, one process for all.
        local -a infiles=()
        for _ in $(seq 1 "$pool"); do infiles+=(p256.csr); done
        openssl ca -batch -notext -config openssl.cnf -out /dev/null -infiles "${infiles[@]}" \
            >setup.log 2>&1
        ls newcerts | sort >pool.txt
        [ "$(wc -l <pool.txt)" -eq "$pool" ]
        # Padding: N valid entries (no files), serials AA<12 hex> apart from the pool's.
        awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++)
            printf "V\t350101000000Z\t\tAA%012X\tunknown\t/CN=x%d\n", i, i }' >>index.txt
        [ "$(wc -l <index.txt)" -eq $((n + pool)) ]
        openssl ca -gencrl -config openssl.cnf -out crl.pem 2>>setup.log
    ) || { echo "openssl_ca_setup: failed (see $dir/ca/setup.log)" >&2; return 1; }
}

openssl_ca_revoke_bench() {  # DIR SECONDS -> revocations per second
    local dir=$1 secs=${2:?usage: openssl_ca_revoke_bench DIR SECONDS}
    _bl_need || return 1
    local run="$dir/run-revoke"
    rm -rf "$run" && cp -a "$dir/ca" "$run" || return 1
    local count
    count=$(
        cd "$run" || exit 1
        local n=0 start end f
        start=$(_bl_now_us); end=$((start + secs * 1000000))
        while read -r f; do
            [ "$(_bl_now_us)" -lt "$end" ] || break
            openssl ca -config openssl.cnf -revoke "newcerts/$f" -crl_reason superseded 2>>bench.log || break
            openssl ca -config openssl.cnf -gencrl -out crl.pem 2>>bench.log || break
            n=$((n + 1))
        done <pool.txt
        echo "$n $(( $(_bl_now_us) - start ))"
    )
    local n=${count% *} us=${count#* }
    [ "$n" -eq "$(wc -l <"$run/pool.txt")" ] && echo "openssl_ca_revoke_bench: pool used up after $n revocations ($((us / 1000)) ms); raise OPENSSL_CA_POOL" >&2
    local revoked; revoked=$(grep -c '^R' "$run/index.txt" || true)
    [ "$revoked" -eq "$n" ] || echo "openssl_ca_revoke_bench: $revoked revoked entries in index.txt, expected $n (see $run/bench.log)" >&2
    rm -rf "$run"
    awk -v n="$n" -v us="$us" 'BEGIN { printf "%.1f\n", n / (us / 1e6) }'
}

_bl_parallel_loops() {  # SECONDS CMD-FUNCTION -> ops per second over 2 loops (one per core)
    local secs=$1 fn=$2 base=$3
    local start end
    start=$(_bl_now_us); end=$((start + secs * 1000000))
    local k
    for k in 1 2; do
        (
            local n=0
            while [ "$(_bl_now_us)" -lt "$end" ]; do
                "$fn" "$k" "$n" || { echo "baselines: $fn failed in loop $k" >&2; break; }
                n=$((n + 1))
            done
            echo "$n" >"$base.$k.count"
        ) &
    done
    wait
    local total=$(( $(cat "$base.1.count") + $(cat "$base.2.count") ))
    rm -f "$base.1.count" "$base.2.count"
    awk -v n="$total" -v us="$(( $(_bl_now_us) - start ))" 'BEGIN { printf "%.1f\n", n / (us / 1e6) }'
}

_bl_ca_sign_one() {  # loop-index iteration: one `openssl ca` signing in its own CA copy
    (cd "$_BL_SIGN_BASE-$1" && openssl ca -batch -notext -config openssl.cnf \
        -in p256.csr -out out.pem 2>>bench.log && rm -f "newcerts/$(cat serial.old).pem")
}

openssl_ca_sign_bench() {  # DIR SECONDS -> certificates per second
    local dir=$1 secs=${2:?usage: openssl_ca_sign_bench DIR SECONDS}
    _bl_need || return 1
    _BL_SIGN_BASE="$dir/run-sign"
    local k
    for k in 1 2; do rm -rf "$_BL_SIGN_BASE-$k" && cp -a "$dir/ca" "$_BL_SIGN_BASE-$k" || return 1; done
    _bl_parallel_loops "$secs" _bl_ca_sign_one "$_BL_SIGN_BASE"
    rm -rf "$_BL_SIGN_BASE-1" "$_BL_SIGN_BASE-2"
}

_bl_x509_sign_one() {  # loop-index iteration: stateless signing, serial from loop and count
    # OpenSSL 3.0's x509 app loads the default trust store (~140 roots, ~30 ms) even
    # when it verifies nothing: point it at an empty one, signing needs none.
    SSL_CERT_FILE=/dev/null SSL_CERT_DIR=/nonexistent openssl x509 -req -in "$_BL_X509_CA/p256.csr" -CA "$_BL_X509_CA/ca.pem" -CAkey "$_BL_X509_CA/ca.key" \
        -set_serial "$(( $1 * 1000000000 + $2 ))" -days 365 -sha256 \
        -extfile "$_BL_X509_CA/openssl.cnf" -extensions leaf_ext \
        -out "$_BL_X509_OUT.$1.pem" 2>/dev/null
}

openssl_x509_sign_bench() {  # DIR SECONDS -> certificates per second
    local dir=$1 secs=${2:?usage: openssl_x509_sign_bench DIR SECONDS}
    _bl_need || return 1
    _BL_X509_CA="$dir/ca"
    _BL_X509_OUT="$dir/run-x509"
    _bl_parallel_loops "$secs" _bl_x509_sign_one "$dir/run-x509"
    rm -f "$dir/run-x509".*.pem
}
