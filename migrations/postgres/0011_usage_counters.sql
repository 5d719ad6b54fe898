-- Hourly quota counters (prompts per hour, ...): one row per quota, for its current fixed window;
-- and sessions by last change, for the API processes that watch other processes' appends.
CREATE TABLE cloud_usage_counters (
    quota_key        TEXT    PRIMARY KEY,
    window_starts_at BIGINT  NOT NULL,
    quantity         BIGINT  NOT NULL
);
CREATE INDEX cloud_sessions_updated ON cloud_sessions (updated_at);
