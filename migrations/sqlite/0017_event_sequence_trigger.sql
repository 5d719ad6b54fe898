-- An appended event moves its session's counter past it within the append's own statement
-- (`INSERT ... SELECT next_sequence ...`), so an append is one statement and an event id already
-- stored (`ON CONFLICT DO NOTHING`) takes no sequence.
CREATE TRIGGER cloud_session_events_advance AFTER INSERT ON cloud_session_events
BEGIN
    UPDATE cloud_sessions SET next_sequence = NEW.sequence + 1, updated_at = NEW.created_at
    WHERE session_id = NEW.session_id;
END;
