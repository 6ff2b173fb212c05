-- 006_account_events: the audit trail (domain/audit.hpp, docs/http_api.md
-- "Audit events"). One row per denial, kill, eviction or forced end; only
-- ever inserted (by the account's owner, in the transaction of the decision's
-- session rows) and deleted by the clear job after playback_session.events_keep.
CREATE TABLE account_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id   text NOT NULL,
  device_id    text NOT NULL DEFAULT '',
  at           timestamptz NOT NULL,  -- when the deciding node decided (ms precision)
  kind         text NOT NULL CHECK (kind IN ('denied', 'killed', 'evicted', 'ended_by_admin',
                                             'would_deny', 'would_kill')),
  reason       text NOT NULL DEFAULT '',
  node         text NOT NULL DEFAULT '',  -- node.id of the node that decided
  max_sessions bigint NOT NULL DEFAULT 0,
  stream       text NOT NULL DEFAULT '',
  streamer_id  bigint NOT NULL DEFAULT 0,
  client_ip    text NOT NULL DEFAULT '',
  -- The sessions that held the slots: [{"device_id", "status", "stream",
  -- "streamer_id", "client_ip", "started_at_ms"}], oldest first.
  holders      jsonb NOT NULL DEFAULT '[]'
);
-- "Events of account X since T", in (at, id) order (the API's paging key).
CREATE INDEX account_events_account_idx ON account_events (account_id, at, id);
-- Retention (the oldest first) and the recent events of every account.
CREATE INDEX account_events_at_idx ON account_events (at, id);
