#pragma once
// The deadlines of one shard's account actors, held by their shard owner,
// which keeps CAF timers only for the earliest of them (issue 7).
//
// Why: each account actor used to arm its own CAF timer (delayed_send) for
// its next expiry, progress write or passivation. Every such timer is a push
// into CAF 0.17's thread_safe_actor_clock, which wakes the clock's own
// thread each time: a sync of 100 000 sessions armed 25 000 of them, and
// the clock (push + dispatch loop) was 13.5 % of the daemon's CPU during
// the sync. Here an actor's deadline is an entry in its owner's schedule,
// and a timer is armed only when an entry comes before every timer already
// in flight for that owner. Deadlines mostly come later than those already
// waiting (now + a fixed ttl), so that is rare.
//
// The schedule is shared by the owner and its account actors (they run on
// different CAF workers, hence the lock): an actor adds its deadline itself
// and, in the rare case that it comes before every timer in flight, arms the
// owner's timer itself, so a deadline costs no message at all.
//
// Exact times, not ticks: a timer is armed for the entry's own time, so an
// account wakes when it did before. The entries are kept in buckets of
// ~8 ms of their times (an ordered map of buckets, each a vector in the
// order added) rather than one tree node per deadline, whose descent
// missed the cache at every level (≈ 3 % of the daemon's CPU on cold
// accounts; −40 % with the buckets, issue 7). Deadlines do not come in
// time order (a cold account's come from its sessions' past updates), so
// a hint at the end of one ordered tree did not avoid the descent.
//
// CAF 0.17 cannot cancel a timer, so the times in flight are remembered
// and a timer that finds nothing due only re-arms for what is left.
// Entries of an actor that has gone (passivated) stay until their time
// comes and are then dropped by the owner, as the CAF timers of a gone
// actor stayed in CAF's clock before.
//
// Plain code (no CAF), unit-tested in tests/unit/actors/wake_schedule_test.cpp.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/clock.hpp"

namespace maxsess::actors {

class wake_schedule {
 public:
  struct due_entry {
    std::string account_id;
    sys_time at;
  };

  // `account_id` asks to be woken at `at`. Returns the time to arm a timer
  // for (`at`), or nothing when a timer in flight comes at or before it.
  std::optional<sys_time> add(std::string account_id, sys_time at);

  // The timer armed for `fired` went off at `now`: returns the entries due
  // (at <= now), earliest first, and forgets them and that timer.
  std::vector<due_entry> take_due(sys_time fired, sys_time now);

  // After take_due: the time to arm a timer for, when entries are left and
  // no timer in flight comes at or before the earliest of them.
  std::optional<sys_time> rearm();

  std::size_t size() const { return size_; }
  std::size_t timers_in_flight() const { return armed_.size(); }

 private:
  using bucket_key = int64_t;  // the entry's time in ns >> bucket_shift (a floor: time order kept)
  static constexpr int bucket_shift = 23;  // 2^23 ns ≈ 8.4 ms
  static bucket_key bucket_of(sys_time at) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count() >> bucket_shift;
  }

  std::map<bucket_key, std::vector<due_entry>> buckets_;  // each in the order added
  std::size_t size_ = 0;
  std::vector<sys_time> armed_;  // times of the timers in flight, earliest first
  std::optional<sys_time> arm(sys_time at);
};

// The delay of a timer for `at`: not before now + 1 ms, so that the timer
// finds `at` passed.
inline std::chrono::milliseconds timer_delay(sys_time at, sys_time now) {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(at - now) + std::chrono::milliseconds(1);
  return std::max(d, std::chrono::milliseconds(1));
}

// The schedule as the shard owner and its account actors share it.
class shared_wake_schedule {
 public:
  std::optional<sys_time> add(std::string account_id, sys_time at) {
    std::lock_guard<std::mutex> lock(mutex_);
    return schedule_.add(std::move(account_id), at);
  }
  // take_due, then rearm: `next` is the time to arm a timer for, if any.
  std::vector<wake_schedule::due_entry> take_due(sys_time fired, sys_time now, std::optional<sys_time>& next) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto due = schedule_.take_due(fired, now);
    next = schedule_.rearm();
    return due;
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return schedule_.size();
  }

 private:
  mutable std::mutex mutex_;
  wake_schedule schedule_;
};

}  // namespace maxsess::actors
