#pragma once
// PostgreSQL persistence through libpq. No CAF here: asynchronous parts
// (reader pool, batch writer) report back through plain callbacks, which the
// actors turn into messages.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "domain/model.hpp"

namespace maxsess::storage {

// Thrown by the synchronous API (connection lost, SQL error, bad schema).
struct storage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
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
struct session_upsert {
  playback_session session;
  int shard = 0;
  int64_t epoch = 0;
};
struct session_delete {
  std::string account_id;
  std::string device_id;
  int64_t epoch = 0;
};
struct account_upsert {
  account_settings settings;
};

struct write_op {
  enum class kind { upsert_session, delete_session, upsert_account } what;
  session_upsert upsert;
  session_delete del;
  account_upsert account;

  static write_op of(session_upsert u) { write_op w{kind::upsert_session, std::move(u), {}, {}}; return w; }
  static write_op of(session_delete d) { write_op w{kind::delete_session, {}, std::move(d), {}}; return w; }
  static write_op of(account_upsert a) { write_op w{kind::upsert_account, {}, {}, std::move(a)}; return w; }
};

enum class write_status { ok, fenced, failed };
const char* to_string(write_status s);

// --- synchronous access over one connection ----------------------------------

class session_store {
 public:
  explicit session_store(const std::string& dsn);  // throws storage_error
  ~session_store();
  session_store(const session_store&) = delete;
  session_store& operator=(const session_store&) = delete;

  account_snapshot load_account(const std::string& account_id);
  std::optional<account_settings> get_account(const std::string& account_id);

  std::vector<streamer> list_streamers();
  std::optional<streamer> get_streamer(int64_t id);
  void put_streamer(const streamer& s);   // create or replace (host unique)
  bool delete_streamer(int64_t id);       // false when absent

  // Applies ops in one transaction. Returns per-op status (fenced when the
  // epoch check rejected a session write). Throws storage_error when the
  // transaction failed as a whole (nothing applied).
  std::vector<write_status> apply(const std::vector<write_op>& ops);

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
// pool's threads; a job that throws storage_error has its error passed to
// on_error (the job's own callback is the job's business).
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
class batch_writer {
 public:
  using done_fn = std::function<void(write_status)>;
  batch_writer(std::string dsn, int batch_max_rows, std::chrono::milliseconds batch_max_delay);
  ~batch_writer();  // flush_and_stop()
  void submit(std::vector<write_op> ops, done_fn done);
  // Commits everything submitted so far, then stops the thread. Idempotent.
  void flush_and_stop();

  struct stats {
    uint64_t commits = 0;
    uint64_t ops = 0;
    uint64_t failures = 0;
  };
  stats get_stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace maxsess::storage
