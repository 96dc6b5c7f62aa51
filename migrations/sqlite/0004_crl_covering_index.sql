-- Re-signing a CRL shard reads its revoked certificates in serial order. With
-- every column it reads in the index, in that order, the read walks one index
-- range: no table lookups, no sort (issue 7: at 100,000 revoked every round of
-- re-signing read 100,000 rows from the table and sorted them per shard).
CREATE INDEX certificates_revoked_in_shard ON certificates
    (crl_shard, serial_number, valid_till, revoked_at, revocation_reason)
    WHERE revoked_at IS NOT NULL;
DROP INDEX certificates_revoked_by_shard;
