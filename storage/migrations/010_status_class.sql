-- 010_status_class: a session going pending -> active no longer writes index
-- entries.
--
-- Every listed session of a sync, and every first auth of a link, turns a
-- pending row active. `status` was in three indexes ((shard, status), the
-- admin listing's (status, key) and (streamer_id, status, key)), so each of
-- those updates was a non-HOT one writing an entry into every index of the
-- table: issue 7's sync profile had 71 % of PostgreSQL's CPU inserting index
-- entries. No query needs to tell pending from active through an index: the
-- shard load, the streamer jobs, the metrics and the status page ask for the
-- live rows (pending or active), the clear job for ended or killed ones, and
-- the admin listing filters the few live rows by their exact status.
--
-- So the indexes now hold `status_class`, computed by PostgreSQL from
-- `status`: 'live' for pending and active, else the status itself. A row
-- going pending -> active keeps its class, changes no indexed column and is
-- a HOT update (tests/integration/storage/migrate_test.cpp); ending or
-- killing a session still changes the class, as it must for the clear job
-- and the listing. The queries (storage/sql.cpp) filter on status_class.
--
-- Adding a stored generated column rewrites the table once (with the new
-- fillfactor: 65, room for the new versions of HOT updates), under a lock
-- that holds every read and write of the table for its duration: 13 s for
-- 1 M rows on the 2-core test machine (389 -> 485 MB of heap, indexes
-- rebuilt 240 -> 140 MB). See docs/cluster.md on upgrading a running cluster.
ALTER TABLE playback_sessions SET (fillfactor = 65);
ALTER TABLE playback_sessions ADD COLUMN IF NOT EXISTS status_class text
  GENERATED ALWAYS AS (CASE WHEN status IN ('pending', 'active') THEN 'live' ELSE status END) STORED;
CREATE INDEX IF NOT EXISTS playback_sessions_shard_class_idx
  ON playback_sessions (shard, status_class);
CREATE INDEX IF NOT EXISTS playback_sessions_class_key_c_idx
  ON playback_sessions (status_class, account_id COLLATE "C", device_id COLLATE "C");
CREATE INDEX IF NOT EXISTS playback_sessions_streamer_class_key_c_idx
  ON playback_sessions (streamer_id, status_class, account_id COLLATE "C", device_id COLLATE "C");
DROP INDEX IF EXISTS playback_sessions_shard_status_idx;
DROP INDEX IF EXISTS playback_sessions_status_key_c_idx;
DROP INDEX IF EXISTS playback_sessions_streamer_status_key_c_idx;
