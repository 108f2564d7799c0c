-- A post whose media hold no mark but match the fingerprint of the creator's own content is
-- held for review under a flag of its own kind.
ALTER TABLE post_flags DROP CONSTRAINT post_flags_kind_check;
ALTER TABLE post_flags ADD CONSTRAINT post_flags_kind_check
    CHECK (kind IN ('views_decreased', 'velocity', 'claimed_twice', 'fingerprint_match'));
