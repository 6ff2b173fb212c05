#pragma once
// Which streamers' periodic work (sync, kill) runs on this node, and whether
// this node runs the cluster-wide periodic jobs (clear). On a single node:
// all of it. In cluster mode cluster/ sets it from the streamer leases, so
// each streamer is polled by one node at a time. Read from actor threads,
// written by the lease keeper.
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "actors/protocol.hpp"

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
  // Cluster mode: the peer of the node whose lease runs a streamer (jobs
  // asked here for it are sent there); nullopt: here, or nobody right now.
  std::optional<job_actor> remote_for(int64_t id) const {
    std::lock_guard lock(mutex_);
    auto i = remote_.find(id);
    if (i == remote_.end()) return std::nullopt;
    return i->second;
  }
  void set(std::set<int64_t> streamers, bool leader, std::map<int64_t, job_actor> remote = {}) {
    std::lock_guard lock(mutex_);
    here_ = std::move(streamers);
    leader_ = leader;
    remote_ = std::move(remote);
  }

 private:
  const bool everything_;
  mutable std::mutex mutex_;
  std::set<int64_t> here_;
  std::map<int64_t, job_actor> remote_;
  bool leader_ = false;
};

}  // namespace maxsess::actors
