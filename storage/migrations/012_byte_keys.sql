-- 012_byte_keys: account and device ids compare as bytes (COLLATE "C") in
-- the tables themselves, and the session table loses an index (issue 7).
--
-- Ids are opaque bytes to maxsess (issue 8 keeps control characters out of
-- them); nothing sorts them for a person. Yet the key columns took the
-- database's collation, so every comparison in the primary keys went
-- through the locale's strcoll (PostgreSQL compares as bytes only under
-- "C"), and migration 008 had to add playback_sessions_key_c_idx, a second
-- index over the very same (account_id, device_id) in byte order, for the
-- keyset listing and the fold's lock order. A session row that changes an
-- indexed column (a new device, an account loaded cold whose ended row
-- becomes pending, a session ending) wrote an entry into SIX indexes, one
-- of them that duplicate, each descended with strcoll.
--
-- Now the columns are COLLATE "C": the primary key is the byte-ordered
-- index (the listing's `account_id COLLATE "C"` keysets and ORDER BY use
-- it as they used the duplicate), and the duplicate is dropped. Equality is
-- unchanged (the database's collation is deterministic, so "=" already
-- meant equal bytes). Changing a column's collation does not rewrite the
-- table, only the indexes over the column are rebuilt, under an exclusive
-- lock held to the end of the migration (the ANALYZEs included): 3.9 s
-- before the ANALYZEs for 4 M session rows, 1 M accounts and 1 M audit
-- events on the 2-core test machine. It also drops the columns' statistics,
-- so the tables are analyzed again before the new plans need them.
--
-- Running nodes of older builds cannot write session rows once this ran:
-- their prepared upsert returns the ids, whose collation changed, and
-- PostgreSQL refuses to run it again ("cached plan must not change result
-- type") until it is prepared anew, which those builds do only on a new
-- connection. Replace them by nodes of this build right after `maxsessd
-- migrate` (docs/cluster.md; an older build refuses to start on schema 12).
-- Builds from this one on prepare their statements again by themselves.
-- The three tables locked first, in the order a node's takeover load reads
-- them (accounts, then playback_sessions): taking playback_sessions first
-- and accounts only later could deadlock with it. Other statements read
-- them the other way round (the status page's accounts at their limit), so
-- a deadlock stays possible: PostgreSQL then cancels one side, and when that
-- is the migration, it rolls back whole and `maxsessd migrate` is run again.
LOCK TABLE accounts, playback_sessions, account_events IN ACCESS EXCLUSIVE MODE;
DROP INDEX IF EXISTS playback_sessions_key_c_idx;
ALTER TABLE playback_sessions
  ALTER COLUMN account_id TYPE text COLLATE "C",
  ALTER COLUMN device_id TYPE text COLLATE "C";
ALTER TABLE accounts ALTER COLUMN account_id TYPE text COLLATE "C";
ALTER TABLE account_events
  ALTER COLUMN account_id TYPE text COLLATE "C",
  ALTER COLUMN device_id TYPE text COLLATE "C";
ANALYZE playback_sessions;
ANALYZE accounts;
ANALYZE account_events;
