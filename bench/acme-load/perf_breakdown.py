#!/usr/bin/env python3
"""certd's CPU time by activity, from `perf script` output of a call-graph
profile (bench/acme.sh with PERF=1). Each sample goes to the first category,
in the order below, that a function on its stack matches, so a SQLite step
inside the account lookup counts as the account lookup. Prints Markdown rows.

    perf script -i certd.data -F comm,tid,ip,sym | python3 perf_breakdown.py
"""
import collections
import re
import sys

CATEGORIES = [
    ("JWS signature check (ring ECDSA P-256 verify)", r"jws::Jws::verify|EcdsaVerificationAlgorithm"),
    ("account lookup for the JWS kid (DB read, JWK parse)", r"account_of_kid|acme_account::|find_account|stored_key"),
    ("validation: A/AAAA lookups (hickory)", r"hickory|resolve_addrs"),
    ("validation: http-01 GET (reqwest)", r"reqwest|validation::http01|Validator::validate"),
    ("validation outcome written (write transaction)", r"acme_challenge_decided"),
    ("CSR check + certificate signing", r"prepare_order|sign_leaf|VerifiedCsr|CertificateAuthority>::issue|csr_requested_names|csr_pem_of_der"),
    ("finalize: order, certificate, request, audit rows", r"acme_finalize|write_order|store_leaf|commit_with_request_event|place_order"),
    ("revocation: certificate lookup, request, revocation rows", r"acme_revoke|acme_presented_certificate|apply_revocation|read_presented_certificate|revocation_committed|revoke::"),
    ("logging (access log, tracing spans)", r"AccessLog|tracing_subscriber|tracing_core|tracing::span"),
    ("WAL checkpoint", r"checkpoint"),
    ("commit + fsync (group commit)", r"group_commit|wal_sync|fdatasync|fsync|WriteTx::commit"),
    ("CRL/OCSP upkeep", r"certd::publish"),
    ("nonces", r"nonce::Nonces"),
    ("ACME rows: orders, authorizations, challenges", r"store::acme::"),
    ("other store queries", r"certd::store::"),
    ("JSON", r"serde_json"),
    ("HTTP server (hyper, axum, middleware) + socket I/O", r"hyper::|axum::|tower|TcpStream|tcp_|sock_|write_vectored|__GI___writev|recvfrom|readv"),
    ("async runtime", r"tokio::|mio::|futex|schedule|finish_task_switch|park"),
]


def main():
    compiled = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]
    counts = collections.Counter()
    total = 0
    stack = []

    def flush():
        nonlocal total
        if not stack:
            return
        total += 1
        joined = "\n".join(stack)
        for name, pattern in compiled:
            if pattern.search(joined):
                counts[name] += 1
                return
        counts["other (allocator, memcpy, kernel)"] += 1

    for line in sys.stdin:
        if not line.strip() or not line[0].isspace():
            flush()
            stack.clear()
            continue
        parts = line.strip().split(None, 1)
        stack.append(parts[1] if len(parts) > 1 else "")
    flush()
    print(f"| certd activity ({total} samples) | share of certd's CPU |")
    print("|---|---|")
    for name, count in counts.most_common():
        print(f"| {name} | {100 * count / max(total, 1):.1f} % |")


if __name__ == "__main__":
    main()
