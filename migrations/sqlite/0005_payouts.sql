-- Payouts: what each statement paid per post (the evidence behind its totals, and what a
-- clawback takes back), and fraud flags that hold a post out of statements until cleared.
CREATE TABLE statement_posts (
    statement_id     TEXT NOT NULL REFERENCES payout_statements(id) ON DELETE CASCADE,
    post_id          TEXT NOT NULL,                    -- not a foreign key: removed posts are clawed back from it
    payee_id         TEXT NOT NULL,
    line_kind        TEXT NOT NULL CHECK (line_kind IN ('views', 'clawback')),
    views            BIGINT NOT NULL,
    last_snapshot_id BIGINT,
    PRIMARY KEY (statement_id, post_id, line_kind)
);
CREATE INDEX statement_posts_by_post ON statement_posts (post_id);
CREATE INDEX statement_posts_by_payee ON statement_posts (payee_id);

CREATE TABLE post_flags (
    id         TEXT PRIMARY KEY,
    post_id    TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('views_decreased', 'velocity', 'claimed_twice')),
    detail     TEXT NOT NULL,
    raised_at  BIGINT NOT NULL,
    cleared_at BIGINT,
    cleared_by TEXT
);
CREATE INDEX post_flags_open ON post_flags (post_id) WHERE cleared_at IS NULL;
CREATE INDEX post_flags_by_time ON post_flags (raised_at, id);
CREATE INDEX posts_by_account ON posts (social_account_id);
