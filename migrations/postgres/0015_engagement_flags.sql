-- A post whose views run far ahead of the engagement its account's other posts draw is
-- held for review under a flag of its own kind.
ALTER TABLE post_flags DROP CONSTRAINT post_flags_kind_check;
ALTER TABLE post_flags ADD CONSTRAINT post_flags_kind_check
    CHECK (kind IN ('views_decreased', 'velocity', 'claimed_twice', 'fingerprint_match', 'engagement_gap'));
