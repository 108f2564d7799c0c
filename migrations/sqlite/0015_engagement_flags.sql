-- A post whose views run far ahead of the engagement its account's other posts draw is
-- held for review under a flag of its own kind. SQLite cannot change a CHECK constraint, so
-- the table is rebuilt with the wider list.
CREATE TABLE post_flags_widened (
    id         TEXT PRIMARY KEY,
    post_id    TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('views_decreased', 'velocity', 'claimed_twice', 'fingerprint_match', 'engagement_gap')),
    detail     TEXT NOT NULL,
    raised_at  BIGINT NOT NULL,
    cleared_at BIGINT,
    cleared_by TEXT
);
INSERT INTO post_flags_widened (id, post_id, kind, detail, raised_at, cleared_at, cleared_by)
    SELECT id, post_id, kind, detail, raised_at, cleared_at, cleared_by FROM post_flags;
DROP TABLE post_flags;
ALTER TABLE post_flags_widened RENAME TO post_flags;
CREATE INDEX post_flags_open ON post_flags (post_id) WHERE cleared_at IS NULL;
CREATE INDEX post_flags_by_time ON post_flags (raised_at, id);
