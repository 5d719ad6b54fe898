-- Who may call the cloud's API and what it may touch: headless agents, the operator-managed
-- fields of channel bindings, API tokens (stored only as keyed hashes) with their channel-binding
-- grants, the server's token-hashing key, and the audit trail. Times are unix milliseconds.

CREATE TABLE cloud_agents (
    agent_id     TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    profile_name TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'active',
    managed      INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Bindings a standalone gateway provisions have no headless agent; those made through the
-- admin API or the command line name one.
ALTER TABLE cloud_channel_bindings ADD COLUMN agent_id TEXT;
ALTER TABLE cloud_channel_bindings ADD COLUMN external_workspace_id TEXT;
ALTER TABLE cloud_channel_bindings ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE cloud_channel_bindings ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE cloud_channel_bindings ADD COLUMN credential_ref TEXT;
ALTER TABLE cloud_channel_bindings ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE cloud_channel_bindings ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE cloud_channel_bindings SET display_name = binding_id, updated_at = created_at;
CREATE INDEX cloud_channel_bindings_by_agent ON cloud_channel_bindings (agent_id, updated_at);

CREATE TABLE cloud_api_tokens (
    token_id     TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    last4        TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX cloud_api_tokens_created ON cloud_api_tokens (created_at);

CREATE TABLE cloud_api_token_grants (
    token_id           TEXT    NOT NULL REFERENCES cloud_api_tokens (token_id) ON DELETE CASCADE,
    channel_binding_id TEXT    NOT NULL REFERENCES cloud_channel_bindings (binding_id) ON DELETE CASCADE,
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (token_id, channel_binding_id)
);
CREATE INDEX cloud_api_token_grants_by_binding ON cloud_api_token_grants (channel_binding_id, token_id);

-- The key API token hashes are computed with, when none is configured: made once, by whichever
-- process needs it first.
CREATE TABLE cloud_server_keys (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE cloud_audit_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT    NOT NULL UNIQUE,
    actor_type  TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    target_type TEXT    NOT NULL,
    target_id   TEXT    NOT NULL,
    metadata    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX cloud_audit_events_created ON cloud_audit_events (created_at);
