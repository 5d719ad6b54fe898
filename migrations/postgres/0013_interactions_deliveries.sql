-- Approval and question tokens a channel gateway embeds in its buttons: one row per pending
-- interaction, holding only a keyed hash of the token; resolved once.
CREATE TABLE cloud_channel_interactions (
    interaction_id          TEXT    PRIMARY KEY,
    agent_id                TEXT    NOT NULL,
    channel_binding_id      TEXT    NOT NULL REFERENCES cloud_channel_bindings (binding_id) ON DELETE CASCADE,
    session_binding_id      TEXT    NOT NULL,
    session_id              TEXT    NOT NULL,
    provider                TEXT    NOT NULL,
    external_interaction_id TEXT,
    token_hash              TEXT    NOT NULL,
    kind                    TEXT    NOT NULL,
    target_id               TEXT    NOT NULL,
    status                  TEXT    NOT NULL,
    resolved_by_identity_id TEXT,
    command_id              TEXT,
    expires_at              BIGINT  NOT NULL,
    used_at                 BIGINT,
    created_at              BIGINT  NOT NULL,
    updated_at              BIGINT  NOT NULL
);
CREATE UNIQUE INDEX cloud_channel_interactions_external
    ON cloud_channel_interactions (channel_binding_id, provider, external_interaction_id);

-- The outbound work queue a channel gateway claims over its delivery stream. The public id is
-- the caller's idempotency key within its channel binding; the row id hashes both.
CREATE TABLE cloud_channel_deliveries (
    row_id             TEXT    PRIMARY KEY,
    delivery_id        TEXT    NOT NULL,
    agent_id           TEXT    NOT NULL,
    channel_binding_id TEXT    NOT NULL REFERENCES cloud_channel_bindings (binding_id) ON DELETE CASCADE,
    session_binding_id TEXT,
    provider           TEXT    NOT NULL,
    target             TEXT    NOT NULL,
    event_type         TEXT    NOT NULL,
    payload            TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    attempt_count      BIGINT  NOT NULL DEFAULT 0,
    claimed_by         TEXT,
    last_claimed_by    TEXT,
    claim_expires_at   BIGINT,
    next_attempt_at    BIGINT  NOT NULL,
    last_error         TEXT,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);
CREATE INDEX cloud_channel_deliveries_due
    ON cloud_channel_deliveries (channel_binding_id, status, next_attempt_at, created_at);
CREATE INDEX cloud_channel_deliveries_public ON cloud_channel_deliveries (delivery_id);
CREATE INDEX cloud_channel_deliveries_recent ON cloud_channel_deliveries (updated_at);
