-- Gateway state: durable inbox, render cursors, outbox, provider message ids, interaction
-- handles and the fake provider's transcript. Times are unix milliseconds.

CREATE TABLE gw_inbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    binding_id        TEXT    NOT NULL,
    provider_id       TEXT    NOT NULL,
    provider_event_id TEXT    NOT NULL,
    lane              TEXT    NOT NULL,
    payload           TEXT    NOT NULL,
    state             TEXT    NOT NULL DEFAULT 'pending',
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  INTEGER,
    last_error        TEXT,
    received_at       INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (binding_id, provider_event_id)
);
CREATE INDEX gw_inbox_open ON gw_inbox (lane, id) WHERE state IN ('pending', 'claimed', 'failed');
CREATE INDEX gw_inbox_finished ON gw_inbox (updated_at) WHERE state IN ('done', 'dead');

CREATE TABLE gw_render_cursors (
    session_id    TEXT    PRIMARY KEY,
    binding_id    TEXT    NOT NULL,
    provider_id   TEXT    NOT NULL,
    chat_id       TEXT    NOT NULL,
    thread_id     TEXT,
    last_sequence INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE gw_outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key          TEXT    NOT NULL UNIQUE,
    binding_id          TEXT    NOT NULL,
    provider_id         TEXT    NOT NULL,
    lane                TEXT    NOT NULL,
    chat_id             TEXT    NOT NULL,
    thread_id           TEXT,
    message_key         TEXT,
    operation           TEXT    NOT NULL,
    state               TEXT    NOT NULL DEFAULT 'pending',
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_expires_at    INTEGER,
    last_error          TEXT,
    provider_message_id TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX gw_outbox_open ON gw_outbox (lane, id) WHERE state IN ('pending', 'claimed', 'failed');
CREATE INDEX gw_outbox_finished ON gw_outbox (updated_at) WHERE state IN ('sent', 'dead');

CREATE TABLE gw_message_refs (
    binding_id          TEXT NOT NULL,
    message_key         TEXT NOT NULL,
    provider_message_id TEXT,
    PRIMARY KEY (binding_id, message_key)
);

CREATE TABLE gw_interactions (
    code           TEXT    PRIMARY KEY,
    binding_id     TEXT    NOT NULL,
    provider_id    TEXT    NOT NULL,
    session_id     TEXT    NOT NULL,
    chat_id        TEXT    NOT NULL,
    thread_id      TEXT,
    kind           TEXT    NOT NULL,
    target_id      TEXT    NOT NULL,
    prompt_text    TEXT    NOT NULL,
    options        TEXT    NOT NULL,
    message_key    TEXT    NOT NULL,
    expires_at     INTEGER NOT NULL,
    decided_by     TEXT,
    decided_choice TEXT,
    decided_event  TEXT,
    decided_at     INTEGER,
    created_at     INTEGER NOT NULL,
    UNIQUE (session_id, target_id)
);

CREATE TABLE gw_fake_transcript (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    operation   TEXT    NOT NULL,
    chat_id     TEXT    NOT NULL,
    thread_id   TEXT,
    message_id  TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    buttons     TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (provider_id, delivery_id)
);
CREATE INDEX gw_fake_transcript_chat ON gw_fake_transcript (provider_id, chat_id, id);
CREATE INDEX gw_fake_transcript_provider ON gw_fake_transcript (provider_id, id);
