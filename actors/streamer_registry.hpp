#pragma once
// Streamers as the admin API sees them: reads come from the in-memory
// directory (loaded from PostgreSQL at start), writes go to PostgreSQL
// first and reach the directory only once committed.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "actors/streamer_directory.hpp"
#include "storage/store.hpp"

namespace maxsess::actors {

enum class admin_status { ok, not_found, conflict, unavailable };

class streamer_admin {
 public:
  using done_fn = std::function<void(admin_status, std::string message)>;
  virtual ~streamer_admin() = default;
  virtual std::vector<streamer> list() = 0;
  virtual std::optional<streamer> get(int64_t id) = 0;
  virtual void put(streamer s, done_fn done) = 0;  // create or replace
  virtual void remove(int64_t id, done_fn done) = 0;
};

class streamer_registry final : public streamer_admin {
 public:
  // on_change runs (on a database thread) after every committed change, so
  // the streamer actors follow the registry.
  streamer_registry(streamer_directory& directory, storage::reader_pool& db,
                    std::function<void()> on_change = {})
      : directory_(directory), db_(db), on_change_(std::move(on_change)) {}
  std::vector<streamer> list() override { return directory_.list(); }
  std::optional<streamer> get(int64_t id) override { return directory_.get(id); }
  void put(streamer s, done_fn done) override;
  void remove(int64_t id, done_fn done) override;
  // Re-reads the table (cluster mode: other nodes' admin changes) and
  // calls on_change when anything differs. Asynchronous, on the pool;
  // `done` (optional, on a database thread) hears whether anything changed
  // and how many streamers there are now, or the error (nothing changed).
  using reload_fn = std::function<void(bool changed, std::size_t streamers, std::string error)>;
  void reload(reload_fn done = {});

 private:
  streamer_directory& directory_;
  storage::reader_pool& db_;
  std::function<void()> on_change_;
};

}  // namespace maxsess::actors
