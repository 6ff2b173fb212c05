#pragma once
// The auth backend's hot path (issue 7): Flussonic's update_session for a
// session that plays on decides nothing new, yet it used to cross four
// threads (HTTP I/O thread -> shard owner -> account actor -> back) and one
// deadline. The account actor stays the one place that decides: it
// publishes here, for each of its devices, the Flussonic sessions for which
// account_state::authorize would take its progress-only branch (session
// active, that Flussonic session bound and open, not past stale_after,
// progress written later: progress_write_delay > 0). A check that matches
// is allowed on the HTTP thread at once, and its progress (duration, bytes,
// when) waits here until the actor takes it: before it decides anything
// else for the account, at its progress write, or when told (one message
// per account while none of its progress waits to be written). Everything
// else (a new or unknown Flussonic session, a killed, replaced or stale
// one, an account not loaded here) goes to the actor as before.
//
// The actor publishes at the end of every step that may change what it
// would answer, so an answer given here is one the actor gave or would have
// given at that moment (a kill that the actor decides is answered to the
// portal only once its row is committed, long after it withdrew the
// session from here). CAF-free, so tests drive it without actors.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/account_state.hpp"

namespace maxsess::actors {

// One Flussonic session an update_session may be allowed for without the
// actor, until `stale_at` (its session's updated_at + stale_after).
struct auth_pass {
  std::string device_id;
  std::string session_id;
  sys_time stale_at{};
};

// The progress of allowed checks, for the actor to take (the latest values;
// refresh keeps the larger ones anyway).
struct progress_note {
  std::string device_id;
  std::string session_id;
  int64_t duration = -1;
  int64_t bytes = -1;
  sys_time at{};
};

class auth_board {
 public:
  // `stale_after`: decision_settings::stale_after (an allowed check moves a
  // session's stale deadline as the actor's refresh will).
  auth_board(int shards, std::chrono::milliseconds stale_after);
  auth_board(const auth_board&) = delete;
  auth_board& operator=(const auth_board&) = delete;

  // HTTP side. True: the actor published this Flussonic session, the check
  // is allowed and its progress recorded; `notify` is then set to what tells
  // the actor when it must be told (call it outside any lock), else left
  // alone. False: ask the actor.
  bool try_allow(int shard, const auth_request& req, sys_time now, std::function<void()>& notify);

  // Actor side; `owner` tells one actor instance from its successor for the
  // same account (a newer owner's page is never touched by an older one).
  // Replaces what the account publishes. `will_write`: the actor has
  // progress waiting for its timed write and takes what comes meanwhile
  // then (no message needed). `notify` is kept with a new page.
  struct published {
    bool page = false;      // the account has a page now (withdraw it when done)
    bool take_now = false;  // progress waits and no timer of the actor's will take it: take it
                            // (it counts as told)
  };
  // The n passes at `passes` are assigned over the page's list (its
  // strings' room reused).
  published publish(int shard, const std::string& account_id, uint64_t owner, const auth_pass* passes,
                    std::size_t n, bool will_write, const std::function<void()>& notify);
  published publish(int shard, const std::string& account_id, uint64_t owner, const std::vector<auth_pass>& passes,
                    bool will_write, const std::function<void()>& notify) {
    return publish(shard, account_id, owner, passes.data(), passes.size(), will_write, notify);
  }
  // The progress recorded since the last take.
  std::vector<progress_note> take(int shard, const std::string& account_id, uint64_t owner);
  // Nothing is published any more (unloaded, draining, gone); progress not
  // taken is dropped.
  void withdraw(int shard, const std::string& account_id, uint64_t owner);

  // For tests and metrics: accounts with a page, checks allowed here.
  std::size_t pages() const;
  uint64_t allowed() const;

 private:
  struct page {
    uint64_t owner = 0;
    std::vector<auth_pass> passes;
    std::vector<progress_note> pending;
    bool will_write = false;
    bool told = false;  // a message to take is on its way
    std::function<void()> notify;
  };
  struct bucket {
    mutable std::mutex mutex;
    std::unordered_map<std::string, page> pages;
  };
  bucket& at(int shard);
  const bucket& at(int shard) const;

  std::chrono::milliseconds stale_after_;
  std::unique_ptr<bucket[]> buckets_;
  int shards_;
  std::atomic<uint64_t> allowed_{0};
};

}  // namespace maxsess::actors
