-- Outbound webhooks (the Standard Webhooks format). The payout system registers endpoints and
-- the event types each takes. An event is written to the outbox in the transaction of the
-- change it reports, with one delivery per subscribed endpoint; deliveries are leased by a
-- worker, retried with backoff, and logged attempt by attempt. Payloads hold ids only.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,             -- whsec_…, shown once, at creation
    event_types TEXT NOT NULL,             -- ",statement.created,flag.raised,"
    description TEXT NOT NULL DEFAULT '',
    enabled     BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL
);

CREATE TABLE outbox_events (
    id          TEXT PRIMARY KEY,          -- msg_…, the webhook-id header
    event_type  TEXT NOT NULL,
    creator_id  TEXT,                      -- whose event: erased with them (no foreign key:
                                           -- creator.erased outlives the creator's row)
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX outbox_events_by_creator ON outbox_events (creator_id);

CREATE TABLE outbox_deliveries (
    event_id         TEXT NOT NULL REFERENCES outbox_events(id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    window_start     BIGINT NOT NULL,           -- the retry window opens here: the event, or a replay
    window_attempts  BIGINT NOT NULL DEFAULT 0, -- attempts since then (the backoff's exponent)
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_deliveries_by_endpoint ON outbox_deliveries (endpoint_id, created_at, event_id);

CREATE TABLE outbox_attempts (
    event_id    TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status      BIGINT,                    -- the receiver's HTTP status, if it answered
    error       TEXT,                      -- why not, if it did not (no URL, no body)
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (event_id, endpoint_id, attempt),
    FOREIGN KEY (event_id, endpoint_id) REFERENCES outbox_deliveries (event_id, endpoint_id) ON DELETE CASCADE
);
