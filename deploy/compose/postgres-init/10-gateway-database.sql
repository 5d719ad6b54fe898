-- split.yaml: the gateway keeps its inbox, outbox and render cursors in a database of its own,
-- beside the cloud's (POSTGRES_DB, "cowork") on the same server, so each can be backed up,
-- moved or given its own server later. The Postgres image runs this file once, when its data
-- volume is first initialized, as POSTGRES_USER ("cowork"), who then owns both databases.
CREATE DATABASE gateway;
