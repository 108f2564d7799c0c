-- Rolled-up gains: each snapshot keeps its gain over the post's previous snapshot, and per
-- creator and UTC day, and per creator and calendar month, the gains of the creator's
-- counted posts (verified, not removed, no open flag) are summed, so a period reads its
-- whole months and days without reading snapshots. The store recounts a post in the
-- transaction of any change that moves its gains.
ALTER TABLE view_snapshots ADD COLUMN gained BIGINT NOT NULL DEFAULT 0;
-- 1 when the post's gains are in creator_day_views.
ALTER TABLE posts ADD COLUMN counted BIGINT NOT NULL DEFAULT 0;

CREATE TABLE creator_day_views (
    creator_id TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,            -- whole days since the Unix epoch, UTC
    views      BIGINT NOT NULL,
    PRIMARY KEY (creator_id, day)
);
CREATE INDEX creator_day_views_by_day ON creator_day_views (day, creator_id) INCLUDE (views);

CREATE TABLE creator_month_views (
    creator_id TEXT NOT NULL REFERENCES creators(id) ON DELETE CASCADE,
    month      BIGINT NOT NULL,            -- whole months since January 1970, UTC
    views      BIGINT NOT NULL,
    PRIMARY KEY (creator_id, month)
);
CREATE INDEX creator_month_views_by_month ON creator_month_views (month, creator_id) INCLUDE (views);

-- What is there already: the same rules as the store's recount (the increase over the
-- previous snapshot by poll slot; nothing for the first snapshot, a baseline or a decrease).
UPDATE view_snapshots SET gained = COALESCE((
    SELECT CASE WHEN view_snapshots.baseline = 0 AND view_snapshots.views > prev.views
                THEN view_snapshots.views - prev.views ELSE 0 END
    FROM view_snapshots prev
    WHERE prev.post_id = view_snapshots.post_id AND prev.poll_slot = (
        SELECT MAX(w.poll_slot) FROM view_snapshots w
        WHERE w.post_id = view_snapshots.post_id AND w.poll_slot < view_snapshots.poll_slot)
), 0);
UPDATE posts SET counted = CASE WHEN verified_at IS NOT NULL AND status <> 'removed'
    AND NOT EXISTS (SELECT 1 FROM post_flags f WHERE f.post_id = posts.id AND f.cleared_at IS NULL)
    THEN 1 ELSE 0 END;
INSERT INTO creator_day_views (creator_id, day, views)
SELECT p.creator_id, v.observed_at / 86400000, SUM(v.gained)
FROM view_snapshots v JOIN posts p ON p.id = v.post_id
WHERE p.counted = 1
GROUP BY p.creator_id, v.observed_at / 86400000
HAVING SUM(v.gained) <> 0;
INSERT INTO creator_month_views (creator_id, month, views)
SELECT creator_id, (EXTRACT(YEAR FROM to_timestamp(day * 86400) AT TIME ZONE 'UTC')::BIGINT - 1970) * 12 + EXTRACT(MONTH FROM to_timestamp(day * 86400) AT TIME ZONE 'UTC')::BIGINT - 1, SUM(views)
FROM creator_day_views
GROUP BY creator_id, (EXTRACT(YEAR FROM to_timestamp(day * 86400) AT TIME ZONE 'UTC')::BIGINT - 1970) * 12 + EXTRACT(MONTH FROM to_timestamp(day * 86400) AT TIME ZONE 'UTC')::BIGINT - 1;

-- A period's per-post views read only this index, not the snapshots' rows (built after the
-- gains are filled in).
DROP INDEX view_snapshots_by_time;
CREATE INDEX view_snapshots_by_time ON view_snapshots (observed_at) INCLUDE (post_id, gained, id);
