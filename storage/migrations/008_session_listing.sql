-- 008_session_listing: indexes for GET /api/v1/sessions, the admin listing
-- of sessions across accounts (storage/sql.cpp, sql_list_sessions). It pages
-- by keyset on (account_id, device_id) in byte order (COLLATE "C"), so a
-- page is one index range read in key order whatever the database's locale:
--   no filter, account_id_prefix, or a streamer_id alone: the "C" key (the
--     primary key cannot give a "C" order unless the database's collation
--     is C); a streamer filter is checked on the rows read, or, for a
--     streamer with few rows, read from the index below and sorted;
--   status (support's usual question: who plays now): (status, key), so a
--     status few rows have is not found by walking every ended row;
--   streamer_id and status: (streamer_id, status, key), an exact range. It
--     also serves what (streamer_id, status) served (the streamer jobs), so
--     that index goes.
-- Measured on 1 M rows (docs/http_api.md): every page of 1000 in < 100 ms.
--
-- Cost: two more index entries per new session row and per status change
-- (which already update the (shard, status) index). The progress updates of
-- a playing device change none of these columns, so they stay HOT (003).
CREATE INDEX IF NOT EXISTS playback_sessions_key_c_idx
  ON playback_sessions (account_id COLLATE "C", device_id COLLATE "C");
CREATE INDEX IF NOT EXISTS playback_sessions_status_key_c_idx
  ON playback_sessions (status, account_id COLLATE "C", device_id COLLATE "C");
CREATE INDEX IF NOT EXISTS playback_sessions_streamer_status_key_c_idx
  ON playback_sessions (streamer_id, status, account_id COLLATE "C", device_id COLLATE "C");
DROP INDEX IF EXISTS playback_sessions_streamer_idx;
