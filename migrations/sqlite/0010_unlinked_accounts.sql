-- An unlinked account stays as a row without its handle, tokens or claims, so the posts
-- tracked on it (and their snapshots, behind statements already issued) keep their reference.
-- Its key in the key store is destroyed, so copies of its sealed fields elsewhere stay closed.
ALTER TABLE social_accounts ADD COLUMN unlinked_at BIGINT;
