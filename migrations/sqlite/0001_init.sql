-- certd schema (SQLite). PostgreSQL gets a twin under migrations/postgres that differs
-- only in how ids are generated. Times are unix seconds (UTC); flags are 0/1 integers.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    first_name  TEXT    NOT NULL,
    last_name   TEXT    NOT NULL,
    email       TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL CHECK (role IN ('administrator', 'user')),
    status      TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at  INTEGER NOT NULL
);

-- Only the SHA-256 of each key is stored; see docs/decisions.md.
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    key_hash    TEXT    NOT NULL UNIQUE,
    view_only   INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at  INTEGER NOT NULL
);

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    product         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    common_name     TEXT    NOT NULL,
    dns_names       TEXT    NOT NULL,          -- JSON array
    csr             TEXT    NOT NULL,
    signature_hash  TEXT    NOT NULL,
    validity_days   INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_common_name ON orders (common_name);

CREATE TABLE certificates (
    id                 INTEGER PRIMARY KEY,
    order_id           INTEGER NOT NULL REFERENCES orders (id),
    serial_number      TEXT    NOT NULL UNIQUE,   -- uppercase hex
    status             TEXT    NOT NULL,
    common_name        TEXT    NOT NULL,
    dns_names          TEXT    NOT NULL,          -- JSON array
    csr                TEXT    NOT NULL,
    signature_hash     TEXT    NOT NULL,
    pem                TEXT    NOT NULL,
    valid_from         INTEGER NOT NULL,
    valid_till         INTEGER NOT NULL,
    revoked_at         INTEGER,
    revocation_reason  INTEGER,                   -- RFC 5280 CRLReason code
    created_at         INTEGER NOT NULL
);
CREATE INDEX certificates_order ON certificates (order_id, id);

-- Approval workflow: new_request, reissue and revoke requests.
CREATE TABLE requests (
    id                 INTEGER PRIMARY KEY,
    type               TEXT    NOT NULL CHECK (type IN ('new_request', 'reissue', 'revoke')),
    status             TEXT    NOT NULL CHECK (status IN ('submitted', 'pending', 'approved', 'rejected')),
    order_id           INTEGER NOT NULL REFERENCES orders (id),
    certificate_id     INTEGER REFERENCES certificates (id),  -- revoke of one certificate; NULL for an order revoke
    requester_id       INTEGER NOT NULL REFERENCES users (id),
    processor_id       INTEGER REFERENCES users (id),
    comments           TEXT,
    processor_comment  TEXT,
    revocation_reason  INTEGER,
    -- reissue requests: what to issue on approval
    csr                TEXT,
    common_name        TEXT,
    dns_names          TEXT,
    signature_hash     TEXT,
    created_at         INTEGER NOT NULL,
    processed_at       INTEGER
);
CREATE INDEX requests_status ON requests (status, id);
CREATE INDEX requests_requester ON requests (requester_id, id);
CREATE INDEX requests_order ON requests (order_id, status);
-- At most one pending request per order: a pending new order, reissue or revoke blocks
-- the others (reissue guard, duplicate-revoke guard), enforced by the database itself
-- so that no race between two callers can slip past it.
CREATE UNIQUE INDEX requests_one_pending_per_order ON requests (order_id) WHERE status = 'pending';

-- Append-only: certd never updates or deletes rows here.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    actor_id     INTEGER REFERENCES users (id),
    action       TEXT    NOT NULL,
    object_type  TEXT    NOT NULL,
    object_id    INTEGER NOT NULL,
    request_id   TEXT,
    details      TEXT    NOT NULL               -- JSON object
);
CREATE INDEX audit_log_action ON audit_log (action, id);
