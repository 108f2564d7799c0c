-- Refusals of users under the minimum age, remembered so that the same user cannot join by
-- retrying with another claim. Keyed by a blind index of the identity provider's user id
-- (never the id itself); only the date from which the user is certainly old enough is kept.
CREATE TABLE age_refusals (
    user_ref      TEXT PRIMARY KEY,
    refused_until BIGINT NOT NULL,
    refused_at    BIGINT NOT NULL
);
