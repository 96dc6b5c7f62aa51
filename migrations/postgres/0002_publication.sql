-- Publication (contract section 6): each certificate's CRL shard is fixed at
-- issuance and stored, so that changing the shard count later moves nothing.
-- Certificates issued before this migration carry no distribution point; they
-- are listed in shard 0.
ALTER TABLE certificates ADD COLUMN crl_shard BIGINT NOT NULL DEFAULT 0;

-- Rebuilding a shard reads only its revoked certificates.
CREATE INDEX certificates_revoked_by_shard ON certificates (crl_shard, valid_till)
    WHERE revoked_at IS NOT NULL;
