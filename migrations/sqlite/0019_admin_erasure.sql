-- An admin may erase a creator, for a reason the receipt keeps (a minor, a request by
-- another channel, a legal obligation); a creator whose own correction of their birth year
-- puts them under the minimum age is erased as at join (`under_age`). SQLite cannot change a CHECK: the table is rebuilt.
CREATE TABLE erasure_receipts_v2 (
    id           TEXT PRIMARY KEY,
    erased_at    BIGINT NOT NULL,
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('api', 'webhook', 'operator', 'admin', 'under_age')),
    row_counts   TEXT NOT NULL,                        -- JSON object: table name -> rows removed
    reason       TEXT CHECK (reason IN ('minor', 'request', 'legal'))
);
INSERT INTO erasure_receipts_v2 (id, erased_at, trigger_kind, row_counts)
    SELECT id, erased_at, trigger_kind, row_counts FROM erasure_receipts;
DROP TABLE erasure_receipts;
ALTER TABLE erasure_receipts_v2 RENAME TO erasure_receipts;
