-- A creator contests what a post was paid (or why it was not) with a short note an admin
-- answers with an outcome. The note and the answer are personal data, sealed under the
-- creator's data key, and go with the creator's erasure.
CREATE TABLE post_disputes (
    id          TEXT PRIMARY KEY,
    post_id     TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    creator_id  TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    note_enc    BYTEA NOT NULL,
    opened_at   BIGINT NOT NULL,
    outcome     TEXT CHECK (outcome IN ('upheld', 'rejected')),
    answer_enc  BYTEA,
    resolved_at BIGINT,
    resolved_by TEXT
);
CREATE INDEX post_disputes_by_creator ON post_disputes (creator_id, opened_at);
CREATE INDEX post_disputes_by_time ON post_disputes (opened_at, id);
-- At most one open dispute per post.
CREATE UNIQUE INDEX post_disputes_one_open ON post_disputes (post_id) WHERE resolved_at IS NULL;
