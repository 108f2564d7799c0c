-- How a post came to be tracked: registered by its creator, or discovered by a scan of the
-- creator's account.
ALTER TABLE posts ADD COLUMN source TEXT NOT NULL DEFAULT 'registered';

-- When each proven account is scanned for new posts next, and which worker holds the scan.
CREATE TABLE discovery_scans (
    account_id   TEXT PRIMARY KEY REFERENCES social_accounts(id) ON DELETE CASCADE,
    next_scan_at BIGINT NOT NULL,
    last_scan_at BIGINT,
    lease_owner  TEXT,
    lease_until  BIGINT
);
CREATE INDEX discovery_scans_due ON discovery_scans (next_scan_at);

-- Posts a scan looked at and found without the creator's mark: a keyed hash of the post id
-- (never its URL or media), private to the account, so they are not fetched again.
CREATE TABLE discovery_seen (
    account_id TEXT NOT NULL REFERENCES social_accounts(id) ON DELETE CASCADE,
    post_hash  TEXT NOT NULL,
    seen_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, post_hash)
);
