-- One owner per proven account, and no claim on an account before its proof. `handle_claim`
-- is the handle's blind index (what was `handle_ref`); `handle_ref`, which stays unique,
-- takes that value when the account is proven, and until then a value private to the
-- linking creator, so an unproven link blocks nobody else. Unproven links expire.
ALTER TABLE social_accounts ADD COLUMN handle_claim TEXT;
UPDATE social_accounts SET handle_claim = handle_ref;
CREATE INDEX social_accounts_by_claim ON social_accounts (handle_claim);
