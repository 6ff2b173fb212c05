-- 008_session_listing: indexes for GET /api/v1/sessions, the admin listing
-- of sessions across accounts (storage/sql.cpp, sql_list_sessions). It pages
-- by keyset on (account_id, device_id) in byte order (COLLATE "C"), so a
-- page is one index range read whatever the database's locale:
--   without a status filter (or with only account_id_prefix / streamer_id):
--     the "C" key below; the primary key cannot serve a "C" order unless the
--     database's own collation is C.
--   with a status filter (support's usual question: who plays now):
--     (status, key); a status that few rows have is not found by walking
--     every ended row.
-- A streamer_id filter is checked on the rows of the range read.
--
-- Cost: two more index entries per new session row and per status change
-- (which already update the (shard, status) index). The progress updates of
-- a playing device change neither column, so they stay HOT (003).
CREATE INDEX IF NOT EXISTS playback_sessions_key_c_idx
  ON playback_sessions (account_id COLLATE "C", device_id COLLATE "C");
CREATE INDEX IF NOT EXISTS playback_sessions_status_key_c_idx
  ON playback_sessions (status, account_id COLLATE "C", device_id COLLATE "C");
