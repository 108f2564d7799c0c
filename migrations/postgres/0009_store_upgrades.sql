-- One-time rewrites of stored data that run at start-up after the migrations (such as the
-- reseal of sealed values of layout 1): a row records that one has finished, so later starts
-- skip it.
CREATE TABLE store_upgrades (
    name TEXT PRIMARY KEY,
    done_at BIGINT NOT NULL
);
