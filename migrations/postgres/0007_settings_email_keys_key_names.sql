-- Settings of the whole deployment that every command and every node must
-- agree on, such as the public URL written into certificates and CRLs.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Email addresses are compared without regard to case: `email_key` is the
-- lower-cased address and unique. Users created before this rule whose
-- addresses differ only in case keep working: every one but the oldest gets
-- a key that no address can have (it holds a space), and `certd serve`
-- names them in its log so an administrator can disable the extra ones.
ALTER TABLE users ADD COLUMN email_key TEXT;
UPDATE users SET email_key = lower(email) || CASE
    WHEN EXISTS (SELECT 1 FROM users older
                 WHERE lower(older.email) = lower(users.email) AND older.id < users.id)
    THEN ' look-alike ' || id
    ELSE ''
END;
CREATE UNIQUE INDEX users_email_nocase ON users (email_key);

-- Keys can be told apart: an optional name given at creation, and when each
-- was last used (written at most once a minute per key, not per call).
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
