-- The right to rectification: every correction of a profile is ledgered with the fields it
-- changed (never their old values, which were inaccurate), who changed them, and when.
CREATE TABLE profile_corrections (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    creator_id  TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    fields      TEXT NOT NULL,                 -- "display_name,birth_year"
    channel     TEXT NOT NULL,
    actor       TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);
CREATE INDEX profile_corrections_by_creator ON profile_corrections (creator_id, id);
