-- Jobs that one replica at a time runs (retention): the holder and until when it holds the
-- job, in unix milliseconds by the database's clock.

CREATE TABLE gw_job_leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);
