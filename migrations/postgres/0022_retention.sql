-- Retention: a sweep, leased like polls so one process runs it at a time, purges what the
-- retention settings say has expired, and leaves a receipt of what it removed (counts only).
CREATE TABLE maintenance_leases (
    name             TEXT PRIMARY KEY,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    next_run_at      BIGINT NOT NULL
);

CREATE TABLE retention_sweeps (
    id         TEXT PRIMARY KEY,
    ran_at     BIGINT NOT NULL,
    row_counts TEXT NOT NULL                 -- JSON object: what -> rows removed
);
