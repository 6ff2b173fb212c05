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
-- them everywhere they are stored or matched).
--
-- maxsess_fold_progress(min_age) deletes the journal rows at least min_age
-- old and folds what they carry into the session rows, in one statement:
-- counters keep the largest value, "last seen" the latest, and only an
-- active row that has that Flussonic session open is touched (a device's
-- next session never takes an older one's counters). Folding is idempotent
-- and commutes with the owners' writes (a session's counters only grow, and
-- the session upsert keeps the larger counters and later "last seen" of the
-- same session), so any node may fold at any time. It runs
--   * with min_age 0 before a shard's accounts are loaded (a takeover, a
--     start): their previous owner may have died with progress only in
--     memory;
--   * periodically (the jobs node's journal tick) on rows old enough that
--     their owners have written the rows since: then it updates nothing and
--     only empties the journal.
-- A concurrent fold blocks on the rows another fold is deleting, then
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
-- PostgreSQL's CPU under the webhook bench).
CREATE OR REPLACE FUNCTION maxsess_fold_progress(min_age interval,
                                                 OUT entries bigint, OUT rows_updated bigint)
LANGUAGE sql SET jit = off AS $$
  WITH gone AS (
    DELETE FROM progress_journal WHERE written_at <= clock_timestamp() - min_age
    RETURNING progress_journal.entries),
  e AS (
    SELECT split_part(l, E'\t', 1) AS account_id, split_part(l, E'\t', 2) AS device_id,
           split_part(l, E'\t', 3) AS session_id,
           max(split_part(l, E'\t', 4)::bigint) AS bytes, max(split_part(l, E'\t', 5)::bigint) AS duration_s,
           timestamptz 'epoch' + max(split_part(l, E'\t', 6)::bigint) * interval '1 millisecond' AS at,
           count(*) AS n
    FROM gone, string_to_table(gone.entries, E'\n') AS l
    WHERE l <> ''
    GROUP BY 1, 2, 3),
  folded AS (
    UPDATE playback_sessions p SET
      bytes = greatest(p.bytes, e.bytes),
      duration_s = greatest(p.duration_s, e.duration_s),
      updated_at = greatest(p.updated_at, e.at)
    FROM e
    WHERE p.account_id = e.account_id AND p.device_id = e.device_id AND p.status = 'active'
      AND (p.bytes < e.bytes OR p.duration_s < e.duration_s OR p.updated_at < e.at)
      AND p.flussonic @> jsonb_build_array(jsonb_build_object('id', e.session_id, 'open', true))
    RETURNING 1)
  SELECT coalesce((SELECT sum(n) FROM e), 0)::bigint, (SELECT count(*) FROM folded)::bigint
$$;
