-- The attempt history of outbox deliveries (one row per attempt: sent, retry, deferred, dead),
-- written in the same transaction as the outcome; and an index for the per-binding backlog the
-- operator API and the metrics read. Times are unix milliseconds.

CREATE TABLE gw_delivery_attempts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER NOT NULL,
    attempt   INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    outcome   TEXT    NOT NULL CHECK (outcome IN ('sent', 'retry', 'deferred', 'dead')),
    error     TEXT
);
CREATE INDEX gw_delivery_attempts_outbox ON gw_delivery_attempts (outbox_id, id);

CREATE INDEX gw_outbox_backlog ON gw_outbox (binding_id, state, created_at)
    WHERE state IN ('pending', 'claimed', 'failed', 'dead');
