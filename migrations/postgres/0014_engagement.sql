-- What the platform reported beside the views in the same answer: likes, comments and
-- shares, each NULL where the platform does not give it.
ALTER TABLE view_snapshots ADD COLUMN likes BIGINT;
ALTER TABLE view_snapshots ADD COLUMN comments BIGINT;
ALTER TABLE view_snapshots ADD COLUMN shares BIGINT;
