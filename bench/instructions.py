#!/usr/bin/env python3
"""Fixed-count client for bench/instructions.sh: revokes each serial of a file
once, one request after another over one keep-alive connection, and fails on
any answer but 204. Sequential on purpose: every revocation is then its own
commit, so the instruction count per revocation does not depend on how the
scheduler happened to batch them."""
import http.client
import sys
from urllib.parse import urlparse

base, key, serials_file, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
url = urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
headers = {"X-DC-DEVKEY": key, "Content-Type": "application/json"}
body = '{"skip_approval": true, "revocation_reason": "superseded"}'
with open(serials_file) as f:
    serials = [line.strip() for line in f if line.strip()][:count]
if len(serials) < count:
    sys.exit(f"only {len(serials)} serials in {serials_file}, {count} needed")
for serial in serials:
    conn.request("PUT", f"/services/v2/certificate/{serial}/revoke", body, headers)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 204:
        sys.exit(f"revoke {serial}: HTTP {answer.status}")
