-- Hourly quota counters (prompts per hour, ...): one row per quota, for its current fixed window.
CREATE TABLE cloud_usage_counters (
    quota_key        TEXT    PRIMARY KEY,
    window_starts_at BIGINT  NOT NULL,
    quantity         BIGINT  NOT NULL
);
