-- The audit chain's order. On SQLite an entry is chained as it is written
-- (one writer at a time); on PostgreSQL entries are written unsealed and a
-- sealer chains them after they commit, in the order it finds them, so no
-- lock is held across every node's commits (see src/store/audit.rs).
-- Entries chained so far were chained in id order.
ALTER TABLE audit_log ADD COLUMN chain_seq BIGINT;
UPDATE audit_log SET chain_seq = id;
CREATE UNIQUE INDEX audit_log_chain_seq ON audit_log (chain_seq);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE chain_seq IS NULL;
