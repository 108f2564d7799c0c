-- An admin may erase a creator, for a reason the receipt keeps (a minor, a request by
-- another channel, a legal obligation); a creator whose own correction of their birth year
-- puts them under the minimum age is erased as at join (`under_age`).
ALTER TABLE erasure_receipts DROP CONSTRAINT erasure_receipts_trigger_kind_check;
ALTER TABLE erasure_receipts ADD CONSTRAINT erasure_receipts_trigger_kind_check
    CHECK (trigger_kind IN ('api', 'webhook', 'operator', 'admin', 'under_age'));
ALTER TABLE erasure_receipts ADD COLUMN reason TEXT CHECK (reason IN ('minor', 'request', 'legal'));
