-- An appended event moves its session's counter past it within the append's own statement
-- (`INSERT ... SELECT next_sequence ... FOR NO KEY UPDATE`), so an append is one statement and
-- an event id already stored (`ON CONFLICT DO NOTHING`) takes no sequence.
CREATE FUNCTION cloud_session_events_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cloud_sessions SET next_sequence = NEW.sequence + 1, updated_at = NEW.created_at
    WHERE session_id = NEW.session_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER cloud_session_events_advance AFTER INSERT ON cloud_session_events
FOR EACH ROW EXECUTE FUNCTION cloud_session_events_advance();
