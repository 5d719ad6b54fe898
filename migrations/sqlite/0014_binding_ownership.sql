-- Scale-out: the gateway replicas sharing this database, and which one owns each channel
-- binding. Times are unix milliseconds by the database's clock. The epoch grows by one whenever
-- a binding changes hands; every write that depends on owning the binding checks it.

CREATE TABLE gw_members (
    instance_id   TEXT    PRIMARY KEY,
    incarnation   TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL
);

CREATE TABLE gw_binding_owners (
    binding_id        TEXT    PRIMARY KEY,
    owner_id          TEXT,
    owner_incarnation TEXT,
    epoch             INTEGER NOT NULL DEFAULT 0,
    lease_expires_at  INTEGER NOT NULL DEFAULT 0,
    avoid_owner       TEXT,
    updated_at        INTEGER NOT NULL
);
