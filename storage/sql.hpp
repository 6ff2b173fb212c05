#pragma once
// Private to storage/: every statement the storage layer sends, kept apart
// from the code that sends them (defined in sql.cpp, with what each answers).
//
// Timestamps cross the wire as epoch milliseconds (bigint), converted exactly
// on both sides:
//   write: timestamptz 'epoch' + $n::bigint * interval '1 millisecond'
//   read:  (extract(epoch FROM col) * 1000)::bigint

namespace maxsess::storage::detail {

// Transactions.
extern const char* const sql_begin;
extern const char* const sql_commit;
extern const char* const sql_rollback;

// Schema migrations.
extern const char* const sql_migrate_lock;
extern const char* const sql_migrate_unlock;
extern const char* const sql_create_schema_version;
extern const char* const sql_has_schema_version;
extern const char* const sql_schema_version;
extern const char* const sql_record_migration;

// Accounts.
extern const char* const sql_get_account;
extern const char* const sql_live_sessions_of_shard;
extern const char* const sql_sessions_of_accounts;
extern const char* const sql_get_accounts;
extern const char* const sql_live_sessions_per_streamer;
extern const char* const sql_live_accounts_of_shard;
extern const char* const sql_upsert_account;
extern const char* const sql_delete_account;
extern const char* const sql_list_sessions;

// Sessions: reads (columns in the order rows.hpp's session_from_row expects).
extern const char* const sql_sessions_of_account;
extern const char* const sql_count_sessions;
extern const char* const sql_count_by_status;
extern const char* const sql_count_live_by_streamer;
extern const char* const sql_accounts_at_limit;

// Sessions: for the streamer jobs (sync / kill / clear).
extern const char* const sql_accounts_on_streamer;
extern const char* const sql_killed_on_streamer;
extern const char* const sql_resolve_tokens;
extern const char* const sql_clear_sessions;

// Sessions: fenced writes.
extern const char* const sql_upsert_sessions;
extern const char* const sql_delete_session;
extern const char* const sql_lock_shard_leases;

// The progress journal.
extern const char* const sql_insert_progress;
extern const char* const sql_fold_progress;

// Audit events (columns in the order rows.hpp's event_from_row expects).
extern const char* const sql_insert_events;
extern const char* const sql_events_since;
extern const char* const sql_events_latest;
extern const char* const sql_account_events_since;
extern const char* const sql_account_events_latest;
extern const char* const sql_clear_events;

// Streamers (columns in the order rows.hpp's streamer_from_row expects).
extern const char* const sql_list_streamers;
extern const char* const sql_get_streamer;
extern const char* const sql_put_streamer;
extern const char* const sql_delete_streamer;

// Cluster shape (one row).
extern const char* const sql_insert_cluster_meta;
extern const char* const sql_read_cluster_meta;

// Cluster nodes.
extern const char* const sql_join_node;
extern const char* const sql_heartbeat_node;
extern const char* const sql_mark_node_leaving;
extern const char* const sql_list_nodes;

// Leases: the same statements over shard_leases and streamer_leases (the
// table and its key column are the only difference). Every time is the
// database's clock_timestamp(); TTLs are milliseconds.
struct lease_sql {
  // $1 ids (bigint[]), $2 node, $3 ttl ms -> id, owner, epoch, expires_in_ms
  // of each lease taken.
  const char* acquire;
  // $1 node, $2 ids (bigint[]), $3 epochs (bigint[]), $4 ttl ms -> id of
  // each lease extended.
  const char* renew;
  // $1 id, $2 node, $3 epoch -> id when released.
  const char* release;
  // -> id, owner, epoch, expires_in_ms, by id.
  const char* list;
};
extern const lease_sql sql_shard_leases;
extern const lease_sql sql_streamer_leases;

}  // namespace maxsess::storage::detail
