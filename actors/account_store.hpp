#pragma once
// What the account actors need from persistence, as an interface so actors
// are tested without PostgreSQL (memory_account_store) and run on it in the
// daemon (pg_account_store). Callbacks may run on any thread; the actors
// turn them into messages.
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "storage/store.hpp"

namespace maxsess::actors {

class account_store {
 public:
  using load_fn = std::function<void(std::optional<storage::account_snapshot> snap, std::string error)>;
  using write_fn = std::function<void(storage::write_status)>;
  using live_fn = std::function<void(std::map<std::string, storage::account_snapshot> accounts,
                                     std::string error)>;
  virtual ~account_store() = default;
  virtual void load(const std::string& account_id, load_fn done) = 0;
  // The accounts of `shard` that hold a pending or active session, whole
  // (see session_store::load_live_accounts); error non-empty on failure.
  virtual void load_live(int shard, live_fn done) = 0;
  // done runs only after the ops are durable (or failed as a whole).
  virtual void write(std::vector<storage::write_op> ops, write_fn done) = 0;
  // done runs once every write() made before for `account_id` was answered
  // (batch_writer::after): what an account actor that died left in flight
  // lands before its successor reads the account.
  virtual void after_writes(const std::string& account_id, write_fn done) = 0;
};

// PostgreSQL: loads on the reader pool, writes through the group-commit writer.
class pg_account_store final : public account_store {
 public:
  pg_account_store(storage::reader_pool& reader, storage::batch_writer& writer)
      : reader_(reader), writer_(writer) {}
  // Loads are batched: the ones that queue up while a batch is read share
  // the next one (two statements for up to max_batch accounts), so a burst
  // of cold accounts costs a few round trips, not one each.
  static constexpr std::size_t max_batch = 512;
  void load(const std::string& account_id, load_fn done) override;
  void load_live(int shard, live_fn done) override;
  void write(std::vector<storage::write_op> ops, write_fn done) override;
  void after_writes(const std::string& account_id, write_fn done) override;

 private:
  void drain();  // on a pool thread: read what is queued, then go on if more came
  storage::reader_pool& reader_;
  storage::batch_writer& writer_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, load_fn>> queued_;
  bool reading_ = false;  // a batch job is posted or running
};

// In memory, answering at once on the caller's thread; for tests. Can be
// told to fail loads or writes.
class memory_account_store final : public account_store {
 public:
  void load(const std::string& account_id, load_fn done) override;
  void load_live(int shard, live_fn done) override;
  void write(std::vector<storage::write_op> ops, write_fn done) override;
  // At once, or (hold_writes) held behind every held write, as a write of no ops.
  void after_writes(const std::string& account_id, write_fn done) override;

  void fail_writes(bool on);
  void fail_loads(bool on);
  // Holds writes (their callbacks wait) until release_one(): lets a test
  // put writes "in flight" and finish them in a chosen order and outcome.
  void hold_writes(bool on);
  std::size_t held() const;
  // Finishes the oldest held write: applied (ok) or failed.
  void release_one(bool ok);
  std::optional<playback_session> session(const std::string& account, const std::string& device) const;
  std::optional<account_settings> settings(const std::string& account) const;
  // Audit events written, in order (id = position, from 1).
  std::vector<audit_event> events() const;
  std::size_t writes() const;  // write() calls that succeeded
  // Progress entries journaled (webhook progress of active sessions).
  std::size_t journaled() const;
  std::size_t loads() const;

 private:
  void apply(std::vector<storage::write_op> ops, write_fn done);
  mutable std::mutex mutex_;
  std::map<std::string, storage::account_snapshot> accounts_;
  std::map<std::string, int> shard_of_;  // as the session writes named it
  std::vector<audit_event> events_;
  bool fail_writes_ = false;
  bool hold_ = false;
  std::vector<std::pair<std::vector<storage::write_op>, write_fn>> held_;
  bool fail_loads_ = false;
  std::size_t writes_ = 0;
  std::size_t journaled_ = 0;
  std::size_t loads_ = 0;
};

}  // namespace maxsess::actors
