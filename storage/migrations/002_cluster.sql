-- 002_cluster: what the nodes of a cluster share (PRODUCT.md §6). Lease and
-- heartbeat times are set and compared on the database clock only
-- (storage/shard_leases.cpp), so the nodes' clocks never matter.

-- The shape of the cluster, written by the first node that runs in cluster
-- mode. The shard count cannot change while rows carry shards of the old
-- count, so a node configured differently refuses to start; a node in
-- single-node mode refuses a database that has this row.
CREATE TABLE cluster_meta (
  one              boolean PRIMARY KEY DEFAULT true CHECK (one),  -- at most one row
  shards           int NOT NULL CHECK (shards > 0),
  protocol_version int NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- Every node that ever joined; alive = heartbeat_at recent enough (on the
-- database clock). leaving: shutting down, hands its shards over.
CREATE TABLE cluster_nodes (
  node_id          text PRIMARY KEY,
  http_address     text NOT NULL DEFAULT '',
  cluster_address  text NOT NULL DEFAULT '',
  protocol_version int NOT NULL,
  started_at       timestamptz NOT NULL DEFAULT now(),
  heartbeat_at     timestamptz NOT NULL DEFAULT now(),
  leaving          boolean NOT NULL DEFAULT false
);

-- Which node runs the jobs (sync, kill) of a streamer; same rules as
-- shard_leases. No foreign key: a lease may outlive its streamer's row and
-- simply expires.
CREATE TABLE streamer_leases (
  streamer_id bigint PRIMARY KEY,
  owner       text NOT NULL,
  epoch       bigint NOT NULL,
  expires_at  timestamptz NOT NULL
);
