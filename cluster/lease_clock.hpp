#pragma once
// When this node must consider its shard leases lost, decided on its own
// clock only. The database extends a lease to (its now + ttl) at some moment
// after the node sent the request, so the node can count on no more than
// (local send time + ttl - safety_margin); the margin covers the two clocks
// running at slightly different rates. A node that froze (GC pause, SIGSTOP,
// a stalled VM) and wakes up past that deadline has lost its leases even if
// nobody told it: serving() is false from the deadline on, whether or not
// expired_now() ran yet.
//
// Times come from the caller (an injected clock_source) and only their
// differences matter here, so the daemon should feed a clock that does not
// step: a wall clock set backwards would stretch every deadline.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "domain/clock.hpp"

namespace maxsess::cluster {

struct lease_timing {
  std::chrono::milliseconds ttl{4000};
  std::chrono::milliseconds renew_every{1000};
  std::chrono::milliseconds safety_margin{500};
};

struct shard_epoch {
  int shard = 0;
  int64_t epoch = 0;
};

class lease_clock {
 public:
  // Throws std::invalid_argument unless 0 <= safety_margin and
  // 0 < renew_every < ttl - safety_margin (else a lease lapses between two
  // renews that both succeed).
  explicit lease_clock(lease_timing timing);

  // The database gave this node `shard` at `epoch` for a request sent at
  // `sent_at`; the answer is handled at `now`. false: it came too late, the
  // deadline had already passed, and the shard is not held.
  bool on_acquired(shard_epoch lease, sys_time sent_at, sys_time now);

  // The database extended these leases for a renew sent at `sent_at`.
  // A lease whose deadline passed before `now` stays lost: the node has
  // already stopped serving it (or should have), so it takes the shard
  // again with a new epoch and reloads rather than resume. Returns those
  // shards (dropped here). Leases this node no longer holds at that epoch
  // are ignored.
  std::vector<int> on_renewed(const std::vector<shard_epoch>& renewed, sys_time sent_at,
                              sys_time now);
  // Records that a renew for to_renew() was sent at `now`; a renew that
  // fails is simply never answered with on_renewed().
  void on_renew_sent(sys_time now);
  // The database refused the renew for these shards (another epoch owns
  // the row): they are lost now, not at the deadline.
  void on_lost(const std::vector<int>& shards);

  // Handoff: from begin_release() the shard is no longer served but still
  // renewed (its writes are being flushed); on_released() forgets it.
  void begin_release(int shard);
  void on_released(int shard);

  // Drops and returns the leases whose deadline is <= now.
  std::vector<int> expired_now(sys_time now);
  bool renew_due(sys_time now) const;
  std::vector<shard_epoch> to_renew() const;
  // Held, deadline still ahead, and not being handed off.
  bool serving(int shard, sys_time now) const;
  std::optional<int64_t> epoch_of(int shard) const;
  std::optional<sys_time> deadline_of(int shard) const;
  // The earliest deadline (for a timer that calls expired_now()).
  std::optional<sys_time> next_deadline() const;
  std::vector<int> held() const;  // ascending, releasing ones included
  const lease_timing& timing() const { return timing_; }

 private:
  struct lease {
    int64_t epoch = 0;
    sys_time deadline{};
    bool releasing = false;
  };
  sys_time deadline_for(sys_time sent_at) const;

  lease_timing timing_;
  std::map<int, lease> leases_;  // by shard
  std::optional<sys_time> last_renew_sent_;
};

}  // namespace maxsess::cluster
