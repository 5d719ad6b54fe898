-- Signed requests already accepted (for example webhook `timestamp:signature`), kept until the
-- signature window has passed, so a replayed request is refused even after a restart.
CREATE TABLE gw_replay_keys (
    provider_id TEXT    NOT NULL,
    replay_key  TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (provider_id, replay_key)
);
CREATE INDEX gw_replay_keys_expiry ON gw_replay_keys (expires_at);
