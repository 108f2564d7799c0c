-- Identity-provider webhook deliveries already handled, by delivery id: a replay is a no-op.
-- The id is the provider's message id, not personal data.
CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);
