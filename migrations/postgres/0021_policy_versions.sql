-- Policy versions: each version of the privacy policy is adopted once, when a process first
-- runs with it configured. A creator who consented under another version has until
-- `regrant_due_at` (adoption plus the grace period) to re-grant under the new one; past it,
-- their posts are not tracked until they do.
CREATE TABLE policy_versions (
    version    TEXT PRIMARY KEY,
    adopted_at BIGINT NOT NULL
);
ALTER TABLE creators ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';
ALTER TABLE creators ADD COLUMN regrant_due_at BIGINT;
UPDATE creators SET policy_version = COALESCE(
    (SELECT e.policy_version FROM consent_events e
     WHERE e.creator_id = creators.id AND e.kind = 'grant' ORDER BY e.id DESC LIMIT 1), '');
