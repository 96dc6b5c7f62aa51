-- OCSP answers signed ahead (contract section 10; src/publish/presign.rs):
-- one row per unexpired certificate, with its answer to a SHA-1 and to a
-- SHA-256 CertID, both signed at `this_update` (unix seconds; nextUpdate is
-- 4 days later) and attesting the status in `revoked_at` and
-- `revocation_reason` (NULL: good), copied from the certificate when it was
-- read. The request path serves a row only when that status is still the
-- certificate's. A cache of signatures: no foreign key, rows of expired or
-- missing certificates are swept away when they go stale.
CREATE TABLE ocsp_responses (
    serial_number      TEXT    PRIMARY KEY,       -- certificates.serial_number
    this_update        BIGINT  NOT NULL,
    revoked_at         BIGINT,
    revocation_reason  BIGINT,
    der_sha1           BYTEA   NOT NULL,
    der_sha256         BYTEA   NOT NULL
);
-- The sweep for answers about to go stale reads the oldest first.
CREATE INDEX ocsp_responses_this_update ON ocsp_responses (this_update);
