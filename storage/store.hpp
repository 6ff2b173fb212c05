#pragma once
// PostgreSQL persistence through libpq. No CAF here: asynchronous parts
// (reader pool, batch writer) report back through plain callbacks, which the
// actors turn into messages.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "domain/audit.hpp"
#include "domain/model.hpp"

namespace maxsess::storage {

// Thrown by the synchronous API (connection lost, SQL error, bad schema).
struct storage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A unique constraint rejected the write (e.g. put_streamer with a host that
// another streamer already uses): the caller's input conflicts, a 409.
struct conflict_error : storage_error {
  using storage_error::storage_error;
};

// --- schema -----------------------------------------------------------------

// Numbered migrations (storage/migrations/NNN_name.sql) compiled into the
// binary so `maxsessd migrate` works from anywhere.
int latest_schema_version();

struct migrate_report {
  int from_version = 0;
  int to_version = 0;
  std::vector<std::string> applied;  // file names, in order
};
// Idempotent; serialised across processes with an advisory lock; each
// migration in its own transaction together with its schema_version row.
migrate_report migrate(const std::string& dsn);

// 0 when the database has no schema yet.
int current_schema_version(const std::string& dsn);

// --- what the account actor loads -------------------------------------------

struct account_snapshot {
  std::optional<account_settings> settings;   // nullopt: no row, use defaults
  std::vector<playback_session> sessions;     // every row of the account
};

// --- writes ------------------------------------------------------------------

// Session rows carry the account's shard and the shard epoch of the writer:
// an upsert only applies when the row's stored epoch is <= the writer's, so a
// node that lost its lease cannot overwrite the new owner's state.
//
// owner (a node id) also fences on the lease: the op applies only while the
// shard's shard_leases row names this owner and epoch, read FOR SHARE in the
// write's transaction so that a takeover waits for it. Without this, a node
// that lost its lease (it froze, then woke up) could still create the row of
// a device the new owner never loaded. Empty owner: single-node mode, no
// lease check.
struct session_upsert {
  playback_session session;
  int shard = 0;
  int64_t epoch = 0;
  // {}: brace-initialisers that stop before owner (single-node callers)
  // stay free of -Wmissing-field-initializers.
  std::string owner{};
};
struct session_delete {
  std::string account_id;
  std::string device_id;
  int64_t epoch = 0;
  int shard = 0;        // the lease to check; read only with an owner
  std::string owner{};
};
struct account_upsert {
  account_settings settings;
  // Cluster mode: fenced on the account's shard lease like session writes
  // (empty owner: single node, no lease check).
  int shard = 0;
  int64_t epoch = 0;
  std::string owner{};
};

// One audit event (domain/audit.hpp) to insert, in the same transaction as
// the session rows of the decision it records. Fenced on the shard's lease
// like a session write (empty owner: single node, no lease check); events
// are only ever inserted, so there is no epoch check on a row.
struct event_insert {
  audit_event event;
  int shard = 0;
  int64_t epoch = 0;
  std::string owner{};
};

// A webhook event's progress (bytes, duration, when), journaled before the
// event goes to its account (migration 011): the account then keeps the
// progress of an active session in memory and writes its row coalesced,
// within progress_write_delay, instead of one row update per event. The
// Flussonic session id names what it belongs to: a fold applies it only to
// the active row that has that session open. Not fenced: a journal line is
// a record of what the streamer reported, whoever owns the account.
struct progress_entry {
  std::string account_id;
  std::string device_id;
  std::string session_id;
  sys_time at{};
  int64_t bytes = -1;       // -1: not reported
  int64_t duration_s = -1;  // -1: not reported
};

// One row change of a transaction. The payload is a variant: the five
// kinds side by side made an op 992 bytes (368 now), constructed, moved and
// destroyed whole at every step, and a sync queues 100 000 of them (issue
// 7). `what` also tells upsert_account from delete_account, which share
// account_upsert. Asking for another kind's payload than `what` names is a
// bug: std::get throws std::bad_variant_access.
struct write_op {
  // delete_account: the account's settings row goes (DELETE
  // /api/v1/accounts/{id}); it carries an account_upsert with only
  // settings.account_id and the fencing fields meaningful.
  enum class kind {
    upsert_session, delete_session, upsert_account, insert_event, delete_account, journal_progress
  } what = kind::upsert_session;
  std::variant<session_upsert, session_delete, account_upsert, event_insert, progress_entry> payload;

  session_upsert& upsert() { return std::get<session_upsert>(payload); }
  const session_upsert& upsert() const { return std::get<session_upsert>(payload); }
  session_delete& del() { return std::get<session_delete>(payload); }
  const session_delete& del() const { return std::get<session_delete>(payload); }
  account_upsert& account() { return std::get<account_upsert>(payload); }
  const account_upsert& account() const { return std::get<account_upsert>(payload); }
  event_insert& event() { return std::get<event_insert>(payload); }
  const event_insert& event() const { return std::get<event_insert>(payload); }
  progress_entry& progress() { return std::get<progress_entry>(payload); }
  const progress_entry& progress() const { return std::get<progress_entry>(payload); }

  static write_op of(session_upsert u) { return {kind::upsert_session, std::move(u)}; }
  static write_op of(session_delete d) { return {kind::delete_session, std::move(d)}; }
  static write_op of(account_upsert a) { return {kind::upsert_account, std::move(a)}; }
  static write_op of(event_insert e) { return {kind::insert_event, std::move(e)}; }
  static write_op of(progress_entry p) { return {kind::journal_progress, std::move(p)}; }
  static write_op deleting(account_upsert a) { return {kind::delete_account, std::move(a)}; }
};

// --- audit events (reads) -------------------------------------------------------
//
// Events are ordered by (at, id) ascending. With `since`: the first `limit`
// events at or after it (after_id > 0: only those after the event (since,
// after_id), the cursor of the previous page). Without: the newest `limit`
// events, still oldest first. account_id empty: every account.
struct event_query {
  std::string account_id;
  std::optional<sys_time> since;
  int64_t after_id = 0;
  int limit = 100;
};
struct event_page {
  std::vector<audit_event> events;
  bool more = false;  // with since: more events follow the last one now
};

enum class write_status { ok, fenced, failed };

// --- the admin listing of sessions across accounts ----------------------------

// GET /api/v1/sessions: filters (each optional) and a keyset position. Rows
// come in byte order of (account_id, device_id) whatever the database's
// locale, so the cursor and the prefix are exact.
// Page sizes of the listing: the default, and the most one page may hold.
inline constexpr int default_session_page = 100;
inline constexpr int max_session_page = 1000;
struct session_query {
  std::optional<session_status> status;
  std::optional<int64_t> streamer_id;
  std::string account_id_prefix;  // empty: every account
  // Start strictly after this (account_id, device_id); nullopt: from the first.
  std::optional<std::pair<std::string, std::string>> after;
  int limit = default_session_page;
};
struct session_page {
  std::vector<playback_session> sessions;
  bool more = false;  // rows beyond `limit` exist: the caller offers a next cursor
};
const char* to_string(write_status s);

// --- synchronous access over one connection ----------------------------------
//
// Not thread-safe: one session_store per thread. A read that fails because
// the connection dropped reconnects and is tried once more; apply() is not
// retried here (the batch_writer decides). load_account reads the settings
// and the sessions in two statements (no common snapshot): the account actor
// owns both, so nothing changes them in between.

class session_store {
 public:
  explicit session_store(const std::string& dsn);  // throws storage_error
  ~session_store();
  session_store(const session_store&) = delete;
  session_store& operator=(const session_store&) = delete;

  account_snapshot load_account(const std::string& account_id);
  // Every account of `shard` with a pending or active session, whole (all
  // its rows and settings), in two statements: a new owner loads these at
  // takeover, so what expired while nobody owned the shard ends at once and
  // the accounts in play need no load per request. Rows written between the
  // two statements can only come from this node (it owns the shard).
  // Folds the progress journal into the rows first (maxsess_fold_progress
  // with min_age 0): the shard's previous owner may have died with progress
  // that only the journal holds.
  std::map<std::string, account_snapshot> load_live_accounts(int shard);
  // Several accounts in two statements (an account with no rows gets an
  // empty snapshot): cold loads that queued up together share one round trip.
  std::map<std::string, account_snapshot> load_accounts(const std::vector<std::string>& ids);
  std::optional<account_settings> get_account(const std::string& account_id);

  std::vector<streamer> list_streamers();
  std::optional<streamer> get_streamer(int64_t id);
  void put_streamer(const streamer& s);   // create or replace (host unique)
  bool delete_streamer(int64_t id);       // false when absent

  // Applies ops in one transaction. Returns per-op status (fenced when the
  // epoch or lease check rejected a session write; a fenced op changes
  // nothing). Throws storage_error when the transaction failed as a whole
  // (nothing applied).
  std::vector<write_status> apply(const std::vector<write_op>& ops);

  // --- for the streamer jobs (sync / kill / clear) ---
  // Accounts with a pending, active or killed session on the streamer.
  std::vector<std::string> accounts_on_streamer(int64_t streamer_id);
  // Killed sessions on the streamer whose kill has not taken effect (an
  // open Flussonic session, or none bound yet).
  std::vector<playback_session> killed_on_streamer(int64_t streamer_id);
  // token -> (account, device) of the newest row carrying it.
  std::map<std::string, std::pair<std::string, std::string>> resolve_tokens(
      const std::vector<std::string>& tokens);
  // Deletes ended rows untouched for `timeout`, and killed rows whose kill
  // took effect (no open Flussonic session) untouched for `killed_timeout`
  // (the caller passes at least link_ttl: until the link expired, the row
  // is what refuses the killed token). Returns the (account, device) of
  // every deleted row.
  std::vector<std::pair<std::string, std::string>> clear_sessions(
      std::chrono::milliseconds timeout, std::chrono::milliseconds killed_timeout);
  // Deletes the progress_journal rows at least min_age old and folds what
  // they carry into the session rows (migration 011). Returns (journal
  // entries folded, rows that needed it).
  std::pair<int64_t, int64_t> fold_progress(std::chrono::milliseconds min_age);
  // Audit events (see event_query).
  event_page list_events(const event_query& q);
  // Deletes the events that happened before `before` (retention), in
  // chunks so no single statement holds locks for long. Returns how many.
  int64_t clear_events(sys_time before);
  std::map<std::string, int64_t> count_by_status();
  // (streamer id, "pending"|"active") -> sessions; only pairs that have any.
  std::map<std::pair<int64_t, std::string>, int64_t> count_live_by_streamer();
  // Accounts whose counted live sessions reach their max_sessions (the
  // status page), by account id, at most `limit` of them.
  struct account_at_limit {
    std::string account_id;
    int64_t max_sessions = 0;
    int64_t live = 0;
  };
  std::vector<account_at_limit> accounts_at_limit(int64_t default_max_sessions, int limit);

  // One page of sessions across accounts (admin listing), committed rows only.
  session_page list_sessions(const session_query& q);

  // Counts, for tests and metrics.
  int64_t count_sessions();
  std::vector<playback_session> sessions_of(const std::string& account_id);

  // Reconnects if the connection dropped; true when usable.
  bool ensure_connected();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// --- asynchronous parts --------------------------------------------------------

// A small pool of connections for reads and admin writes. Jobs run on the
// pool's threads in FIFO order; a job that throws storage_error (or any
// std::exception) has its error passed to on_error (the job's own callback is
// the job's business). Each thread connects lazily and reconnects after a
// failure. stop() runs the queued jobs, then joins (never call it from a
// job); post() after stop() calls on_error at once on the caller's thread.
class reader_pool {
 public:
  using job = std::function<void(session_store&)>;
  using failure = std::function<void(const std::string& error)>;
  reader_pool(std::string dsn, int connections);
  ~reader_pool();  // stops after the queued jobs ran
  void post(job j, failure on_error);
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Group commit: many callers' ops go into one transaction. A submit's
// callback runs on the writer thread after the transaction committed (ok /
// fenced) or failed; callers must not block in it.
//
// Timing: the writer thread takes the queued submits in FIFO order, whole
// (a submit's ops are never split across transactions), up to
// batch_max_rows ops per transaction (a bigger submit goes alone). When the
// queue holds fewer than batch_max_rows ops it waits for more until the
// OLDEST queued submit is batch_max_delay old, then commits what it has:
// a lone submit on an idle writer is committed at most batch_max_delay after
// submit(); submits that queued up while a transaction was running go at
// once if they already waited that long; batch_max_delay = 0 never waits
// (batches then form only from what queues up during a commit).
// A submit is fenced if any of its ops was fenced. A failed transaction is
// retried once (after reconnecting when the connection dropped); if it fails
// again and the connection is fine (the data was at fault), each submit of
// the batch is tried in a transaction of its own so one bad submit cannot
// fail the others; otherwise every submit of the batch gets failed.
// ok/fenced are reported only after COMMIT succeeded. submit() after
// flush_and_stop() calls done(failed) at once on the caller's thread.
class batch_writer {
 public:
  using done_fn = std::function<void(write_status)>;
  // idle_in_transaction_timeout (cluster mode, > 0): PostgreSQL ends this
  // writer's transaction when the process stalls in the middle of one (a
  // frozen node): its FOR SHARE lock on lease rows would otherwise block
  // every takeover of those shards until it wakes up.
  // connections: lanes, each with its own connection, thread and queue;
  // every op of one submit must belong to one account (its first op's
  // account picks the lane, so one account's submits commit in order).
  batch_writer(std::string dsn, int batch_max_rows, std::chrono::milliseconds batch_max_delay,
               std::chrono::milliseconds idle_in_transaction_timeout = std::chrono::milliseconds(0),
               int connections = 1);
  ~batch_writer();  // flush_and_stop()
  void submit(std::vector<write_op> ops, done_fn done);
  // done() once every submit made before this call for `account_id` was
  // answered (its lane is FIFO): a barrier, submitted as an empty submit on
  // the account's lane. ok, or failed when the database was unreachable
  // (the writes before it were answered either way).
  // Not counted in stats (neither a submit nor a commit).
  void after(const std::string& account_id, done_fn done);
  // Commits everything submitted so far, then stops the thread. Idempotent.
  void flush_and_stop();

  struct stats {
    uint64_t commits = 0;         // transactions committed
    uint64_t ops = 0;             // ops in committed transactions
    uint64_t failures = 0;        // transaction attempts that failed (retries included)
    uint64_t submits = 0;         // submits answered (any status)
    uint64_t fenced_submits = 0;  // submits answered fenced
    uint64_t failed_submits = 0;  // submits answered failed
    std::string last_error;       // message of the latest failed attempt
  };
  stats get_stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace maxsess::storage
