-- 009_token_lookup: a zap (a held device asking for another channel) no
-- longer writes index entries.
--
-- A zap changes the session's token, and `token` was indexed (the look-up
-- of tokens that do not say whose they are: securetoken links, tokens a
-- streamer reports that we did not sign), so every zap was a non-HOT update
-- writing an entry into each of the table's indexes (issue 7: a quarter of
-- PostgreSQL's CPU per link). Our signed tokens (m1./m2.) carry their
-- account and device and are never looked up. So the look-up gets its own
-- column, `lookup_token`: the token when it is not one of ours, '' when it
-- is (the daemon decides, domain/token.cpp is_signed_token); `token` stays
-- what the session holds, unindexed. A zap in signed mode changes neither
-- status nor an indexed column: a HOT update (tests/integration/storage).
--
-- Existing rows: every token is copied (a signed one there is harmless, it
-- is only never asked for, and goes at the row's next write).
ALTER TABLE playback_sessions ADD COLUMN IF NOT EXISTS lookup_token text NOT NULL DEFAULT '';
UPDATE playback_sessions SET lookup_token = token WHERE token <> '';
CREATE INDEX IF NOT EXISTS playback_sessions_lookup_token_idx
  ON playback_sessions (lookup_token) WHERE lookup_token <> '';
DROP INDEX IF EXISTS playback_sessions_token_idx;
