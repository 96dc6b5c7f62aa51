-- Revocation campaigns (contract section 9): one object selecting many
-- certificates, approved by other administrators, scheduled, held back
-- certificate by certificate, run in batches and tracked.
CREATE TABLE campaigns (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL,
    reason              INTEGER NOT NULL,          -- RFC 5280 CRLReason code
    comments            TEXT,
    selector            TEXT    NOT NULL,          -- JSON object, as accepted
    revoke_at           INTEGER,                   -- NULL: at the final approval
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'scheduled', 'running', 'completed', 'rejected', 'canceled')),
    requester_id        INTEGER NOT NULL REFERENCES users (id),
    approvals_required  INTEGER NOT NULL,
    -- Counts: `matched` and `already_revoked` as selected (at creation, then
    -- at the final approval); the others as the campaign goes.
    matched             INTEGER NOT NULL DEFAULT 0,
    revoked             INTEGER NOT NULL DEFAULT 0,
    held                INTEGER NOT NULL DEFAULT 0,
    already_revoked     INTEGER NOT NULL DEFAULT 0,
    failed              INTEGER NOT NULL DEFAULT 0,
    processor_id        INTEGER REFERENCES users (id), -- who rejected or canceled it
    processor_comment   TEXT,
    created_at          INTEGER NOT NULL,
    started_at          INTEGER,
    completed_at        INTEGER
);
CREATE INDEX campaigns_status ON campaigns (status, id);

CREATE TABLE campaign_approvals (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id),
    user_id      INTEGER NOT NULL REFERENCES users (id),
    comment      TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, user_id)
);

-- A campaign's certificates: holds from its creation, the whole selection
-- from its final approval. Each row's status says what became of it. No
-- foreign keys and no index on the status: a million rows are written at
-- once and each is updated once, and certificates and campaigns are never
-- deleted; the runner walks the primary key with a cursor instead.
CREATE TABLE campaign_certificates (
    campaign_id     INTEGER NOT NULL,
    certificate_id  INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('selected', 'held', 'revoked', 'already_revoked', 'failed')),
    hold_comments   TEXT,
    PRIMARY KEY (campaign_id, certificate_id)
);
-- Renewal information asks whether a certificate awaits a campaign.
CREATE INDEX campaign_certificates_certificate ON campaign_certificates (certificate_id);
