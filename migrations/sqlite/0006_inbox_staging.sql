-- Accepted inbound events wait as `new`, outside the per-lane index, until the next claim
-- promotes them all at once (see the inbox statements in gateway/src/store/queue.rs).
CREATE INDEX gw_inbox_new ON gw_inbox (id) WHERE state = 'new';
