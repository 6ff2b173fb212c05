-- 001_initial: the first schema of maxsess (PRODUCT.md §1, §6).
-- Applied by storage::migrate() inside one transaction together with its
-- schema_version row. Timestamps are written and read as epoch milliseconds
-- by storage/store.cpp, so every value here has millisecond precision.

-- migrate() creates this table itself before reading the version; repeated
-- here so this file alone describes the whole schema.
CREATE TABLE IF NOT EXISTS schema_version (
  version    int PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- Per-account settings (admin API). No row = config defaults.
CREATE TABLE accounts (
  account_id   text PRIMARY KEY,
  max_sessions bigint NOT NULL CHECK (max_sessions >= 0),  -- 0 = unlimited
  exempt       boolean NOT NULL DEFAULT false,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Flussonic servers (admin API).
CREATE TABLE streamers (
  id                 bigint PRIMARY KEY CHECK (id > 0),
  host               text NOT NULL UNIQUE,
  url                text NOT NULL DEFAULT '',
  api_url            text NOT NULL DEFAULT '',
  api_user           text NOT NULL DEFAULT '',
  api_password       text NOT NULL DEFAULT '',
  link_mode          text NOT NULL DEFAULT 'auth_backend'
                     CHECK (link_mode IN ('auth_backend', 'securetoken')),
  securetoken_secret text NOT NULL DEFAULT '',
  link_template      text NOT NULL DEFAULT '',
  capacity           bigint NOT NULL DEFAULT 0 CHECK (capacity >= 0),  -- 0 = no cap
  enabled            boolean NOT NULL DEFAULT true,
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One row per (account, device). Written only by the owner of the account's
-- shard: an upsert/delete applies only when shard_epoch <= the writer's epoch.
CREATE TABLE playback_sessions (
  account_id       text NOT NULL,
  device_id        text NOT NULL,
  shard            int NOT NULL,
  shard_epoch      bigint NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending', 'active', 'ended', 'killed')),
  content_type     text NOT NULL,
  stream           text NOT NULL,
  content_start    bigint,            -- Unix seconds (timeshift/catchup/npvr)
  content_duration bigint,            -- seconds
  streamer_id      bigint NOT NULL DEFAULT 0,
  client_ip        text NOT NULL DEFAULT '',
  -- [{"id": "...", "ip": "...", "open": true, "updated_at_ms": 1700000000123,
  --   "stream": "news"}]
  flussonic        jsonb NOT NULL DEFAULT '[]',
  token            text NOT NULL DEFAULT '',
  started_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  ended_at         timestamptz,
  duration_s       bigint NOT NULL DEFAULT 0,
  bytes            bigint NOT NULL DEFAULT 0,
  end_reason       text,
  exempt           boolean NOT NULL DEFAULT false,
  PRIMARY KEY (account_id, device_id)
);
CREATE INDEX playback_sessions_status_updated_idx ON playback_sessions (status, updated_at);
CREATE INDEX playback_sessions_shard_idx ON playback_sessions (shard);
-- Streamer jobs: sessions on one streamer; rows carrying a given token.
CREATE INDEX playback_sessions_streamer_idx ON playback_sessions (streamer_id, status);
CREATE INDEX playback_sessions_token_idx ON playback_sessions (token) WHERE token <> '';

-- Shard ownership for the cluster: exactly one owner per shard while its
-- lease is valid; epoch grows with every change of owner (write fencing).
CREATE TABLE shard_leases (
  shard      int PRIMARY KEY,
  owner      text NOT NULL,
  epoch      bigint NOT NULL,
  expires_at timestamptz NOT NULL
);
