-- A command behind another open command of its session waits as `queued`; only session heads
-- and aborts are `pending`, so a claim reads the runnable rows alone (cloud/src/store/commands.rs).
-- The oldest open command of a session is never changed here, so the order rows are visited in
-- does not matter.
UPDATE cloud_commands SET state = 'queued'
WHERE state = 'pending' AND kind <> 'abort'
  AND EXISTS (SELECT 1 FROM cloud_commands e
              WHERE e.session_id = cloud_commands.session_id
                AND e.state IN ('pending', 'running') AND e.seq < cloud_commands.seq);
DROP INDEX cloud_commands_open_by_session;
CREATE INDEX cloud_commands_open_by_session ON cloud_commands (session_id, seq)
    WHERE state IN ('queued', 'pending', 'running');
