-- Authorizations started at a platform and not yet completed. The state itself travels only
-- through the creator's browser; its hash finds the row, which binds it to one creator and
-- one platform and holds the PKCE verifier that completes it. A row is taken (deleted) once.
CREATE TABLE oauth_states (
    state_hash    TEXT PRIMARY KEY,
    creator_id    TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    platform      TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
CREATE INDEX oauth_states_by_creator ON oauth_states (creator_id);
