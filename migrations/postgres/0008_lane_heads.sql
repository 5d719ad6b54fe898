-- Lane heads are marked by their state: a head is `pending`, `claimed` or `failed`, and the later
-- open rows of its lane wait as `queued` (gateway/src/store/queue.rs). A claim then reads heads
-- alone, in id order. The oldest open row of a lane is never changed here, so the order rows
-- are visited in does not matter.
UPDATE gw_inbox SET state = 'queued'
WHERE state IN ('pending', 'failed')
  AND EXISTS (SELECT 1 FROM gw_inbox e WHERE e.lane = gw_inbox.lane AND e.id < gw_inbox.id
              AND e.state IN ('pending', 'claimed', 'failed'));
UPDATE gw_outbox SET state = 'queued'
WHERE state IN ('pending', 'failed')
  AND EXISTS (SELECT 1 FROM gw_outbox e WHERE e.lane = gw_outbox.lane AND e.id < gw_outbox.id
              AND e.state IN ('pending', 'claimed', 'failed'));
DROP INDEX gw_inbox_open;
DROP INDEX gw_outbox_open;
CREATE INDEX gw_inbox_open ON gw_inbox (lane, id) WHERE state IN ('queued', 'pending', 'claimed', 'failed');
CREATE INDEX gw_outbox_open ON gw_outbox (lane, id) WHERE state IN ('queued', 'pending', 'claimed', 'failed');
CREATE INDEX gw_inbox_heads ON gw_inbox (id) WHERE state IN ('pending', 'claimed', 'failed');
CREATE INDEX gw_outbox_heads ON gw_outbox (id) WHERE state IN ('pending', 'claimed', 'failed');
