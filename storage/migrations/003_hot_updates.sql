-- 003_hot_updates: indexes that let the frequent writes skip index work.
--
-- A row update that changes no indexed column, and finds room on its page,
-- is a HOT update: PostgreSQL writes the new row version only, no index
-- entry. The updates that come with every playing device (auth
-- update_session, webhook play_updated, a sync's listing: bytes, duration,
-- updated_at, flussonic) change none of the columns kept indexed below, so
-- they can be HOT; before this migration every one of them also inserted
-- into five indexes because (status, updated_at) was indexed and
-- updated_at changes on every write.
--
-- What used the dropped indexes:
--   (status, updated_at): the clear job (ended/killed rows older than a
--     timeout) now uses (shard, status)'s status filter or a scan; it runs
--     every few minutes, not per request.
--   (shard): the takeover load (shard = $1 AND status IN live) now uses
--     (shard, status).
DROP INDEX IF EXISTS playback_sessions_status_updated_idx;
DROP INDEX IF EXISTS playback_sessions_shard_idx;
CREATE INDEX playback_sessions_shard_status_idx ON playback_sessions (shard, status);
-- Room on each page for the new version of its rows (HOT needs it). New
-- pages get it; existing ones as they are rewritten.
ALTER TABLE playback_sessions SET (fillfactor = 80);
