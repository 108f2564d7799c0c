-- The whole data model. Times are UTC Unix milliseconds (BIGINT) and ids are text UUIDs in
-- both backends, so one query layer serves SQLite and PostgreSQL alike.

CREATE TABLE creators (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL UNIQUE,          -- the identity provider's `sub`
    display_name       TEXT,
    birth_year         BIGINT,
    consent_state      TEXT NOT NULL CHECK (consent_state IN ('granted', 'revoked')),
    consent_changed_at BIGINT NOT NULL,
    created_at         BIGINT NOT NULL
);

-- Append-only: rows are inserted, never updated (see trigger below); they disappear only
-- with the creator on erasure.
CREATE TABLE consent_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    creator_id     TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('grant', 'revoke')),
    policy_version TEXT NOT NULL,
    channel        TEXT NOT NULL,
    actor          TEXT NOT NULL,
    occurred_at    BIGINT NOT NULL
);
CREATE INDEX consent_events_by_creator ON consent_events (creator_id, id);

CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent_events is append-only');
END;

CREATE TABLE contents (
    id         TEXT PRIMARY KEY,
    creator_id TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    payload    BIGINT NOT NULL UNIQUE,                -- the 64-bit watermark payload, bit-cast
    media_kind TEXT NOT NULL CHECK (media_kind IN ('image', 'video')),
    width      BIGINT NOT NULL CHECK (width > 0),
    height     BIGINT NOT NULL CHECK (height > 0),
    sha256     TEXT NOT NULL,                         -- of the watermarked output
    created_at BIGINT NOT NULL
);
CREATE INDEX contents_by_creator ON contents (creator_id, created_at);

CREATE TABLE social_accounts (
    id               TEXT PRIMARY KEY,
    creator_id       TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    platform         TEXT NOT NULL CHECK (platform IN ('youtube', 'tiktok', 'instagram', 'x')),
    handle           TEXT NOT NULL,
    platform_user_id TEXT,
    proof_code       TEXT,
    proven_at        BIGINT,
    oauth_token_enc  BLOB,
    created_at       BIGINT NOT NULL,
    UNIQUE (platform, handle)
);
CREATE INDEX social_accounts_by_creator ON social_accounts (creator_id);

CREATE TABLE posts (
    id                TEXT PRIMARY KEY,
    creator_id        TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    social_account_id TEXT NOT NULL REFERENCES social_accounts(id) ON DELETE CASCADE,
    platform          TEXT NOT NULL CHECK (platform IN ('youtube', 'tiktok', 'instagram', 'x')),
    platform_post_id  TEXT NOT NULL,
    url               TEXT NOT NULL,
    content_id        TEXT REFERENCES contents(id) ON DELETE SET NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'unverified', 'removed', 'stopped')),
    status_reason     TEXT,
    verified_at       BIGINT,
    evidence_media_sha256 TEXT,
    evidence_score    DOUBLE PRECISION,
    next_poll_at      BIGINT NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    failures          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    UNIQUE (platform, platform_post_id)
);
CREATE INDEX posts_due ON posts (next_poll_at) WHERE status IN ('pending', 'verified');
CREATE INDEX posts_by_creator ON posts (creator_id, created_at);

-- One snapshot per post and poll slot: a retried poll of the same slot stores nothing new.
CREATE TABLE view_snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id     TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    poll_slot   BIGINT NOT NULL,
    observed_at BIGINT NOT NULL,
    views       BIGINT NOT NULL CHECK (views >= 0),
    UNIQUE (post_id, poll_slot)
);
CREATE INDEX view_snapshots_by_time ON view_snapshots (observed_at);

CREATE TABLE payout_statements (
    id            TEXT PRIMARY KEY,
    period_start  BIGINT NOT NULL,
    period_end    BIGINT NOT NULL,
    evidence_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    CHECK (period_start < period_end),
    UNIQUE (period_start, period_end)
);

-- payee_id is a creator id, or a tombstone id after that creator's erasure: deliberately not
-- a foreign key, so statements outlive the person and keep their totals.
CREATE TABLE statement_lines (
    statement_id TEXT NOT NULL REFERENCES payout_statements(id) ON DELETE CASCADE,
    payee_id     TEXT NOT NULL,
    line_kind    TEXT NOT NULL CHECK (line_kind IN ('views', 'clawback')),
    views        BIGINT NOT NULL,
    PRIMARY KEY (statement_id, payee_id, line_kind)
);
CREATE INDEX statement_lines_by_payee ON statement_lines (payee_id);

CREATE TRIGGER payout_statements_immutable BEFORE UPDATE ON payout_statements
BEGIN
    SELECT RAISE(ABORT, 'payout statements are immutable');
END;

CREATE TRIGGER statement_lines_totals_immutable BEFORE UPDATE ON statement_lines
WHEN NEW.views <> OLD.views OR NEW.line_kind <> OLD.line_kind OR NEW.statement_id <> OLD.statement_id
BEGIN
    SELECT RAISE(ABORT, 'statement totals are immutable');
END;

CREATE TABLE erasure_receipts (
    id           TEXT PRIMARY KEY,
    erased_at    BIGINT NOT NULL,
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('api', 'webhook', 'operator')),
    row_counts   TEXT NOT NULL                         -- JSON object: table name -> rows removed
);

CREATE TABLE service_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,                   -- SHA-256 of the token, hex
    scopes     TEXT NOT NULL,                          -- space-separated
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
