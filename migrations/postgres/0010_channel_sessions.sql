-- The channel API's view of threads and senders. A session binding names the session of one
-- thread of one channel binding (the binding is part of the key, so two bindings on one
-- workspace never collide) and keeps the gateway's render cursor. Identities gain the role and
-- status that decide who may prompt and approve.

CREATE TABLE cloud_session_bindings (
    binding_id              TEXT    PRIMARY KEY,
    channel_binding_id      TEXT    NOT NULL REFERENCES cloud_channel_bindings (binding_id) ON DELETE CASCADE,
    provider                TEXT    NOT NULL,
    external_workspace_id   TEXT    NOT NULL DEFAULT '',
    external_chat_id        TEXT    NOT NULL,
    external_thread_id      TEXT    NOT NULL,
    session_id              TEXT    NOT NULL,
    last_event_sequence     BIGINT  NOT NULL DEFAULT 0,
    last_workspace_sequence BIGINT  NOT NULL DEFAULT 0,
    last_chat_message_id    TEXT,
    status                  TEXT    NOT NULL DEFAULT 'active',
    created_at              BIGINT  NOT NULL,
    updated_at              BIGINT  NOT NULL,
    UNIQUE (channel_binding_id, provider, external_workspace_id, external_chat_id, external_thread_id)
);
CREATE INDEX cloud_session_bindings_by_session ON cloud_session_bindings (session_id);

ALTER TABLE cloud_identities ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE cloud_identities ADD COLUMN external_workspace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE cloud_identities ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
ALTER TABLE cloud_identities ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE cloud_identities ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE cloud_identities ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE cloud_identities SET updated_at = created_at,
    provider = COALESCE((SELECT provider_id FROM cloud_channel_bindings b WHERE b.binding_id = cloud_identities.binding_id), '');
