-- The latest reply context a provider attached to a thread's inbound messages (for email: the
-- subject and the References chain), handed back on every delivery into that thread.
CREATE TABLE gw_thread_contexts (
    binding_id    TEXT    NOT NULL,
    chat_id       TEXT    NOT NULL,
    thread_key    TEXT    NOT NULL,
    reply_context TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (binding_id, chat_id, thread_key)
);
CREATE INDEX gw_thread_contexts_updated ON gw_thread_contexts (updated_at);
