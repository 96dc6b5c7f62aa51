-- ACME (RFC 8555) beside the REST API, and keys blocked after a key compromise.
-- An ACME order becomes an ordinary certd order at finalize, so everything
-- below only keeps what the ACME protocol itself needs.

-- External Account Binding credentials (RFC 8555 section 7.3.4). The HMAC key
-- must be kept to check the MAC; it is erased once an account binds it.
CREATE TABLE acme_eab_credentials (
    kid         TEXT    PRIMARY KEY,
    hmac_key    TEXT,                          -- base64url; NULL once bound
    user_id     INTEGER NOT NULL REFERENCES users (id),
    account_id  INTEGER,                       -- the account it bound
    created_at  INTEGER NOT NULL
);

CREATE TABLE acme_accounts (
    id              INTEGER PRIMARY KEY,
    key_thumbprint  TEXT    NOT NULL UNIQUE,   -- RFC 7638 JWK thumbprint, base64url
    jwk             TEXT    NOT NULL,          -- the account's public key, JSON
    user_id         INTEGER NOT NULL REFERENCES users (id),
    eab_kid         TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contact         TEXT    NOT NULL,          -- JSON array
    created_at      INTEGER NOT NULL
);
CREATE INDEX acme_accounts_user ON acme_accounts (user_id);

CREATE TABLE acme_orders (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES acme_accounts (id),
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
    identifiers  TEXT    NOT NULL,             -- JSON array of DNS names as asked
    order_id     INTEGER REFERENCES orders (id),   -- the certd order made at finalize
    replaces     TEXT,                         -- RFC 9773 certID of the certificate it replaces
    error        TEXT,                         -- JSON problem document once invalid
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, id);
CREATE INDEX acme_orders_order ON acme_orders (order_id);

CREATE TABLE acme_authorizations (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES acme_accounts (id),
    acme_order_id  INTEGER NOT NULL REFERENCES acme_orders (id),
    name           TEXT    NOT NULL,           -- lower case, without a wildcard's "*."
    wildcard       INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
    expires_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX acme_authorizations_order ON acme_authorizations (acme_order_id);
CREATE INDEX acme_authorizations_account_name ON acme_authorizations (account_id, name, status);

CREATE TABLE acme_challenges (
    id                INTEGER PRIMARY KEY,
    authorization_id  INTEGER NOT NULL REFERENCES acme_authorizations (id),
    type              TEXT    NOT NULL,        -- http-01, dns-01, tls-alpn-01
    token             TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
    validated_at      INTEGER,
    error             TEXT                     -- JSON problem document once invalid
);
CREATE INDEX acme_challenges_authorization ON acme_challenges (authorization_id);

-- Public keys that may never be certified again: the SHA-256 of the
-- SubjectPublicKeyInfo (lower-case hex) of a certificate revoked for keyCompromise.
CREATE TABLE blocked_keys (
    spki_sha256     TEXT    PRIMARY KEY,
    certificate_id  INTEGER NOT NULL REFERENCES certificates (id),
    created_at      INTEGER NOT NULL
);

-- Each certificate's key, so that a key compromise finds every certificate
-- sharing it. Certificates issued before this column are filled in by
-- `certd serve` at start-up (computed from their PEM).
ALTER TABLE certificates ADD COLUMN spki_sha256 TEXT;
CREATE INDEX certificates_spki ON certificates (spki_sha256);
