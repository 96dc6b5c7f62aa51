-- Tamper evidence: each audit entry carries SHA-256 over the previous entry's
-- hash and its own fields (see src/store/audit.rs), so editing or deleting an
-- entry breaks the chain from there on; `certd audit verify` checks it.
ALTER TABLE audit_log ADD COLUMN entry_hash TEXT;
