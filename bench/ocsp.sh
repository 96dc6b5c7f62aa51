# shellcheck shell=bash
# OCSP loads for the bench scripts; source this file once WORK, DURATION and
# CONNECTIONS are set.
#
#   ocsp_wrk URL PATHS-FILE       `wrk -t2 -c$CONNECTIONS -d${DURATION}s` sending GET requests
#                                 for the paths in PATHS-FILE (bench/ocsp.lua) to URL; prints
#                                 "requests/s p99 non-2xx".
#   openssl_ocsp_start SET CA PORT
#                                 `openssl ocsp -index SET/index.txt -multi 2` on PORT, signing
#                                 with CA/intermediate.{pem,key} (the baseline); writes
#                                 SET/openssl-paths.txt (SET/ocsp-paths.txt without /ocsp)
#                                 and returns once it answers.
#   stop_openssl_ocsp             stops it.

ocsp_wrk() {  # url paths-file
    OCSP_PATHS=$2 wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/ocsp.lua "$1" >"$WORK/wrk.txt" 2>&1 || true
    rps=$(awk '/Requests\/sec/ {print int($2)}' "$WORK/wrk.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
    bad=$(awk '/Non-2xx/ {print $5}' "$WORK/wrk.txt")
    echo "${rps:-0} ${p99:-?} ${bad:-0}"
}

openssl_ocsp_start() {  # set-dir ca-dir port
    echo "unique_subject = no" >"$1/index.txt.attr"
    sed 's|^/ocsp||' "$1/ocsp-paths.txt" >"$1/openssl-paths.txt"
    openssl ocsp -index "$1/index.txt" -CA "$2/intermediate.pem" \
        -rsigner "$2/intermediate.pem" -rkey "$2/intermediate.key" \
        -port "$3" -nmin 5760 -resp_no_certs -multi 2 -ignore_err >"$WORK/openssl-ocsp.log" 2>&1 &
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "http://127.0.0.1:$3$(head -1 "$1/openssl-paths.txt")" && return 0
        sleep 0.2
    done
}

# `openssl ocsp -multi` forks workers that outlive a killed parent: stop the
# whole family by its command line, which names this run's directory.
stop_openssl_ocsp() { pkill -f "openssl ocsp -index $WORK" 2>/dev/null || true; }
