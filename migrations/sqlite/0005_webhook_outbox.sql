-- Webhook notifications (issue 8): each event is written here in the same
-- transaction as the change it reports, so an event exists exactly when its
-- change committed; a background task delivers it and deletes the row.
-- `next_attempt_ms` (unix milliseconds) is both when the next attempt is due
-- and, while one runs, the lease that keeps other nodes from taking the row.
-- Rows that used up their attempts stay, with status 'failed', for operators.
CREATE TABLE webhook_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT    NOT NULL UNIQUE,
    event_type       TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    last_error       TEXT,
    created_at       INTEGER NOT NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_ms) WHERE status = 'pending';
