-- Personal fields are sealed under their creator's data key (kept in the separate key store,
-- see src/store/keystore.rs), so this database and its backups hold ciphertext only. Columns
-- that must stay unique or searchable hold a keyed hash (blind index) instead of the value.
-- Rows written before this migration held plaintext; the service refuses to start on them.
ALTER TABLE creators RENAME COLUMN user_id TO user_ref;
ALTER TABLE creators DROP COLUMN display_name;
ALTER TABLE creators DROP COLUMN birth_year;
ALTER TABLE creators ADD COLUMN profile_enc BYTEA;          -- JSON: user id, display name, birth year

ALTER TABLE social_accounts RENAME COLUMN handle TO handle_ref;
ALTER TABLE social_accounts ADD COLUMN handle_enc BYTEA;
ALTER TABLE social_accounts DROP COLUMN platform_user_id;  -- never used
-- oauth_token_enc is now sealed under the creator's data key as well.

ALTER TABLE posts RENAME COLUMN platform_post_id TO post_ref;
ALTER TABLE posts ADD COLUMN post_id_enc BYTEA;
ALTER TABLE posts DROP COLUMN url;
ALTER TABLE posts ADD COLUMN url_enc BYTEA;
