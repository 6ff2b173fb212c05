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
extern const char* const sql_upsert_account;

// Sessions: reads (columns in the order rows.hpp's session_from_row expects).
extern const char* const sql_sessions_of_account;
extern const char* const sql_count_sessions;
extern const char* const sql_count_by_status;

// Sessions: for the streamer jobs (sync / kill / clear).
extern const char* const sql_accounts_on_streamer;
extern const char* const sql_killed_on_streamer;
extern const char* const sql_resolve_tokens;
extern const char* const sql_clear_sessions;

// Sessions: fenced writes.
extern const char* const sql_upsert_session;
extern const char* const sql_delete_session;

// Streamers (columns in the order rows.hpp's streamer_from_row expects).
extern const char* const sql_list_streamers;
extern const char* const sql_get_streamer;
extern const char* const sql_put_streamer;
extern const char* const sql_delete_streamer;

}  // namespace maxsess::storage::detail
