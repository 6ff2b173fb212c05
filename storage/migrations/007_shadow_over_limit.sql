-- 007_shadow_over_limit: shadow mode (playback_session.mode: shadow,
-- docs/shadow.md). A session opened although enforce would have refused it,
-- or left playing where enforce would have killed it for the limit, is
-- flagged here: it is shown, and never counted against the limit (like an
-- exempt one). 006 is the audit trail's.
ALTER TABLE playback_sessions ADD COLUMN over_limit boolean NOT NULL DEFAULT false;
