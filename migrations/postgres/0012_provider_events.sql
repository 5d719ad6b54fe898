-- Inbound dedupe for channel gateways that keep no inbox of their own (Open Cowork's): one row
-- per provider event per channel binding, claimed under a lease while it is processed.
CREATE TABLE cloud_provider_events (
    event_id              TEXT    PRIMARY KEY,
    channel_binding_id    TEXT    NOT NULL REFERENCES cloud_channel_bindings (binding_id) ON DELETE CASCADE,
    provider              TEXT    NOT NULL,
    provider_instance_id  TEXT    NOT NULL,
    external_workspace_id TEXT    NOT NULL DEFAULT '',
    provider_event_id     TEXT    NOT NULL,
    event_type            TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    claimed_by            TEXT,
    claim_expires_at      BIGINT,
    attempt_count         BIGINT  NOT NULL DEFAULT 0,
    retryable             BIGINT  NOT NULL DEFAULT 1,
    last_error            TEXT,
    metadata              TEXT    NOT NULL DEFAULT '{}',
    processed_at          BIGINT,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    UNIQUE (channel_binding_id, provider, provider_instance_id, external_workspace_id, event_type, provider_event_id)
);
