-- Polling: when a post was last polled, and which snapshots start a counting run (the first
-- after the creator's consent was granted or granted again; views before it are not payable).
ALTER TABLE posts ADD COLUMN last_polled_at BIGINT;
ALTER TABLE view_snapshots ADD COLUMN baseline BIGINT NOT NULL DEFAULT 0;
CREATE INDEX posts_lease ON posts (lease_expires_at);
