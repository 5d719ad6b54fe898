-- The W3C trace context (`traceparent`) each durable step continues its trace from, so a
-- message's trace goes on in another process and after a restart. NULL: no trace.
ALTER TABLE gw_inbox ADD COLUMN trace_parent TEXT;
ALTER TABLE gw_outbox ADD COLUMN trace_parent TEXT;
ALTER TABLE cloud_commands ADD COLUMN trace_parent TEXT;
ALTER TABLE cloud_session_events ADD COLUMN trace_parent TEXT;
