-- Guards of consent.
--
-- Refusals of users under the minimum age, remembered so that the same user cannot join by
-- retrying with another claim. Keyed by a blind index of the identity provider's user id
-- (never the id itself); only the date from which the user is certainly old enough is kept.
CREATE TABLE age_refusals (
    user_ref      TEXT PRIMARY KEY,
    refused_until BIGINT NOT NULL,
    refused_at    BIGINT NOT NULL
);

-- A revocation or erasure waiting for requests already on their way: while its row is here
-- (and fresh) no new request about the creator may start, so the wait is bounded by the
-- requests in flight when it began. Removed in the transaction that commits the change.
-- Used on PostgreSQL, where several processes share the database.
CREATE TABLE revocations_pending (
    creator_id TEXT PRIMARY KEY,
    since      BIGINT NOT NULL
);
