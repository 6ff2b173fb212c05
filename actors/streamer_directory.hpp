#pragma once
// What every account actor needs to know about streamers to hand out a link:
// the registered streamers (from PostgreSQL, changed through the admin API)
// and how loaded each one is. Shared by all account actors of a node, read
// far more often than written: a reader/writer lock, copies out.
//
// Load is this node's count of live (pending/active) sessions per streamer,
// kept up to date by the account actors as sessions start, move and end,
// plus (cluster mode) the other nodes' share, refreshed from PostgreSQL every
// lease round. It is a placement hint, not a limit that must be exact.
#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "domain/model.hpp"

namespace maxsess::actors {

class streamer_directory {
 public:
  // Every change of the streamers (put, remove, a replace) moves the
  // version. A reload notes it before it reads the table and replaces only
  // if it has not moved: otherwise an admin PUT that committed and landed
  // here while the reload read an older snapshot would be undone by it
  // (the streamer gone from memory until the next reload; its webhooks
  // 404). False: something changed meanwhile, read the table again.
  uint64_t version() const;
  bool replace_all_if(uint64_t version, std::vector<streamer> all);
  void put(streamer s);
  bool remove(int64_t id);
  std::optional<streamer> get(int64_t id) const;
  std::vector<streamer> list() const;  // ordered by id
  std::optional<streamer> find_by_host(const std::string& host) const;

  enum class pick_error {
    unknown,     // the requested id is not registered
    unusable,    // requested streamer disabled, without url, or full
    none_left,   // automatic choice found nothing usable
  };
  struct pick_result {
    std::optional<streamer> chosen;
    pick_error error = pick_error::none_left;
  };
  // requested == 0: the enabled streamer with a url and the lowest load
  // (sessions / capacity; capacity 0 ranks by its session count), full ones
  // skipped, ties broken by the lowest id.
  pick_result pick(int64_t requested) const;

  void add_load(int64_t streamer_id, int64_t delta);
  int64_t load(int64_t streamer_id) const;  // this node's sessions + the others' last known
  // Cluster mode: live sessions per streamer in PostgreSQL now; the part
  // that is not this node's becomes the others' share until the next call.
  void set_cluster_load(const std::map<int64_t, int64_t>& in_database);

 private:
  bool usable(const streamer& s) const;  // caller holds the lock
  mutable std::shared_mutex mutex_;
  std::map<int64_t, streamer> streamers_;
  uint64_t version_ = 0;
  int64_t total(int64_t id) const;  // caller holds the lock
  std::map<int64_t, int64_t> load_;    // this node's
  std::map<int64_t, int64_t> others_;  // the other nodes', as of the last refresh
};

}  // namespace maxsess::actors
