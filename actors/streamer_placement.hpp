#pragma once
// Which streamers' periodic work (sync, kill) runs on this node, and whether
// this node runs the cluster-wide periodic jobs (clear). On a single node:
// all of it. In cluster mode cluster/ sets it from the streamer leases, so
// each streamer is polled by one node at a time. Read from actor threads,
// written by the lease keeper.
#include <cstdint>
#include <mutex>
#include <set>

namespace maxsess::actors {

class streamer_placement {
 public:
  explicit streamer_placement(bool everything_here) : everything_(everything_here) {}
  bool runs_streamer(int64_t id) const {
    std::lock_guard lock(mutex_);
    return everything_ || here_.count(id) > 0;
  }
  bool runs_cluster_jobs() const {
    std::lock_guard lock(mutex_);
    return everything_ || leader_;
  }
  void set(std::set<int64_t> streamers, bool leader) {
    std::lock_guard lock(mutex_);
    here_ = std::move(streamers);
    leader_ = leader;
  }

 private:
  const bool everything_;
  mutable std::mutex mutex_;
  std::set<int64_t> here_;
  bool leader_ = false;
};

}  // namespace maxsess::actors
