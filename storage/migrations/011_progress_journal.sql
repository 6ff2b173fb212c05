-- 011_progress_journal: a webhook batch's progress is made durable as one
-- journal row, not one row update per event (issue 7).
--
-- Most events a streamer posts are play_updated for a session that is
-- active and bound already: new byte and duration counters, a later "last
-- seen". Nothing is decided by them, but the batch is answered 200 only once
-- they are durable (Flussonic does not resend an answered batch). Until
-- schema 10 each such event was a HOT update of its playback_sessions row
-- before the answer, ~21 us of PostgreSQL CPU per event (more than the
-- daemon spent) and a write round trip per account of the batch.
--
-- Now the webhook receiver inserts ONE progress_journal row with the
-- progress of the batch's events before it hands them to their accounts; an
-- account keeps the progress of an active session in memory and writes its
-- row within decisions.progress_write_delay, coalesced (as it does for the
-- progress of an auth update_session). Events that decide something (a
-- session opened, bound, closed, killed) still write their rows before the
-- answer. A line of `entries` is
--     account_id TAB device_id TAB flussonic_session_id TAB bytes TAB duration_s TAB at_ms
-- (-1: not reported; ids never hold control characters: issue 8 refuses
-- them everywhere they are stored or matched). Only maxsessd writes this
-- table: a line that does not parse stops every fold (counted in
-- maxsess_progress_journal_errors_total) until it is deleted.
--
-- maxsess_fold_progress(min_age) deletes the journal rows at least min_age
-- old and folds what they carry into the session rows, in one statement:
-- a line applies to the row whose `flussonic` holds its Flussonic session,
-- whatever the row's status: a session that ended or was killed after the
-- event still takes the progress reported before (an owner that reloaded
-- the account may have written the end without it), but not what a player
-- reported after the end (a killed player plays on until the kill takes
-- effect): a row that ended takes a session's lines only when all of them
-- are from before its end. A Flussonic session bound again to the device's
-- next session carries on with its own cumulative counters, so its lines
-- are right for that row too. Per row the largest counters and the latest
-- "last seen" of all its lines win (a device may have two sessions open). Folding is idempotent and commutes with the owners'
-- writes (a session's counters only grow, and the session upsert keeps the
-- larger counters and later "last seen" of the same session), so any node
-- may fold at any time. It runs
--   * with min_age 0 before a shard's accounts are loaded (a takeover, a
--     start): their previous owner may have died with progress only in
--     memory;
--   * periodically (the jobs node's journal tick) on rows old enough that
--     their owners have written the rows since: then it updates nothing and
--     only empties the journal.
-- The rows it updates are locked in key order (byte order, as the writer
-- lanes order their upserts), so a fold and a lane's upserts cannot
-- deadlock (a lane's deletes and the clear job lock in their own order: a
-- rare deadlock there fails one side, which is tried again). A
-- concurrent fold blocks on the journal rows another fold is deleting, then
-- skips them: a load never runs before a fold it raced with committed.
CREATE TABLE IF NOT EXISTS progress_journal (
  id         bigserial PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  entries    text NOT NULL
) WITH (toast_tuple_target = 8160);
-- Written once, read once: compressing it would only cost CPU on insert.
ALTER TABLE progress_journal ALTER COLUMN entries SET STORAGE EXTERNAL;

-- split_part, not string_to_array: an array's elements were each computed
-- by a call of their own (4x the time). No JIT: the planner cannot size
-- string_to_table and compiled the statement at every fold (28 % of
-- PostgreSQL's CPU under the webhook bench). lock_timeout: a fold never
-- holds up the writers for long (it is tried again, at the next tick or by
-- the on-demand loads' owner).
CREATE OR REPLACE FUNCTION maxsess_fold_progress(min_age interval,
                                                 OUT entries bigint, OUT rows_updated bigint)
LANGUAGE sql SET jit = off SET lock_timeout = '5s' AS $$
  WITH gone AS (
    DELETE FROM progress_journal WHERE written_at <= clock_timestamp() - min_age
    RETURNING progress_journal.entries),
  e AS (
    SELECT split_part(l, E'\t', 1) AS account_id, split_part(l, E'\t', 2) AS device_id,
           split_part(l, E'\t', 3) AS session_id,
           max(split_part(l, E'\t', 4)::bigint) AS bytes, max(split_part(l, E'\t', 5)::bigint) AS duration_s,
           max(split_part(l, E'\t', 6)::bigint) AS at_ms,
           count(*) AS n
    FROM gone, string_to_table(gone.entries, E'\n') AS l
    WHERE l <> ''
    GROUP BY 1, 2, 3),
  m AS (
    SELECT p.account_id, p.device_id, p.started_at, max(e.bytes) AS bytes,
           max(e.duration_s) AS duration_s,
           timestamptz 'epoch' + max(e.at_ms) * interval '1 millisecond' AS at
    FROM e JOIN playback_sessions p ON p.account_id = e.account_id AND p.device_id = e.device_id
      AND p.flussonic @> jsonb_build_array(jsonb_build_object('id', e.session_id))
    WHERE p.ended_at IS NULL OR timestamptz 'epoch' + e.at_ms * interval '1 millisecond' <= p.ended_at
    GROUP BY 1, 2, 3),
  locked AS (
    SELECT p.account_id, p.device_id, m.bytes, m.duration_s, m.at
    FROM playback_sessions p JOIN m ON p.account_id = m.account_id AND p.device_id = m.device_id
      AND p.started_at = m.started_at
    WHERE p.bytes < m.bytes OR p.duration_s < m.duration_s OR p.updated_at < m.at
    ORDER BY p.account_id COLLATE "C", p.device_id COLLATE "C"
    FOR UPDATE OF p),
  folded AS (
    UPDATE playback_sessions p SET
      bytes = greatest(p.bytes, k.bytes),
      duration_s = greatest(p.duration_s, k.duration_s),
      updated_at = greatest(p.updated_at, k.at)
    FROM locked k
    WHERE p.account_id = k.account_id AND p.device_id = k.device_id
    RETURNING 1)
  SELECT coalesce((SELECT sum(n) FROM e), 0)::bigint, (SELECT count(*) FROM folded)::bigint
$$;
