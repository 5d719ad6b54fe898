-- Cloud state: channel bindings, identities, sessions (the thread -> session map), the
-- per-session event log and the command queue. Times are unix milliseconds; JSON is TEXT.

CREATE TABLE cloud_channel_bindings (
    binding_id  TEXT    PRIMARY KEY,
    provider_id TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE cloud_identities (
    identity_id      TEXT    PRIMARY KEY,
    binding_id       TEXT    NOT NULL,
    external_user_id TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    UNIQUE (binding_id, external_user_id)
);

CREATE TABLE cloud_sessions (
    session_id    TEXT    PRIMARY KEY,
    binding_id    TEXT    NOT NULL,
    chat_id       TEXT    NOT NULL,
    thread_id     TEXT    NOT NULL,
    agent         TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'idle',
    next_sequence INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (binding_id, chat_id, thread_id)
);

CREATE TABLE cloud_session_events (
    session_id TEXT    NOT NULL,
    sequence   INTEGER NOT NULL,
    event_id   TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, sequence),
    UNIQUE (session_id, event_id)
);

CREATE TABLE cloud_commands (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    command_id       TEXT    NOT NULL UNIQUE,
    session_id       TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    actor            TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    available_at     INTEGER NOT NULL,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX cloud_commands_open ON cloud_commands (seq) WHERE state IN ('pending', 'running');
CREATE INDEX cloud_commands_open_by_session ON cloud_commands (session_id, seq)
    WHERE state IN ('pending', 'running');
