#pragma once
// How a streamer's sync tells its accounts what the streamer lists
// (docs/flussonic.md, "How a sync runs"), as plain code with injected time:
// streamers.cpp sends what it says to send and feeds it the listing's pages,
// the listing's end and the accounts' answers.
//
// Each page's sessions, grouped by account, are told as the listing goes
// (refresh or adopt; nothing ended, no limit judged). Once the listing is
// complete, every account that was listed or that believed it plays on the
// streamer is told its end: the ids listed for it and when the listing
// started (what was bound before and is not among them is gone). When an
// account's last part is still queued at that moment, the end rides on it.
// At most `window` messages are unanswered at once. Nothing is sent after
// the deadline; an incomplete listing ends nothing. The run finishes once,
// when every message sent has been answered (or the backstop gives up).
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/account_state.hpp"
#include "actors/jobs.hpp"
#include "actors/sync_listing.hpp"

namespace maxsess::actors {

// What a sync changed in one account (for the job report).
struct sync_summary {
  int adopted = 0;
  int ended = 0;
  int killed = 0;
};

using seen_list = std::vector<std::pair<std::string, play_report>>;  // device, session
using string_list = std::vector<std::string>;

// What a run's calls to the Flussonic API came to; only a run that really
// called it changes the streamer's failure state.
enum class api_calls { none, answered, failed };

// One message to one account: a part (listed_at zero: nothing is gone yet)
// or its end (listed: every id listed for it; what is not among them and
// was bound before listed_at is gone).
struct sync_message {
  std::string account;
  seen_list seen;
  string_list listed;
  sys_time listed_at{};
};

// Held by a shared_ptr where answers come later than send() (the actors'
// glue keeps it alive in each request's handlers: shared_from_this).
class sync_fanout : public std::enable_shared_from_this<sync_fanout> {
 public:
  using clock = std::chrono::steady_clock;
  struct hooks {
    // Tells one account; answered() or failed() follows for each.
    std::function<void(sync_fanout&, sync_message)> send;
    // The run stopped before every account was told (the metric and the
    // log line); run().error already says why.
    std::function<void(const sync_fanout&, listing_end why, const std::string& error)> stopped;
    // Once, when the run is over: report run() and api().
    std::function<void(const sync_fanout&)> finished;
  };

  // deadline: clock::time_point::max() for none.
  sync_fanout(int64_t streamer_id, sys_time listed_at, clock::time_point started, clock::time_point deadline,
              std::size_t window, hooks h);

  // A page's sessions of ours, by account, in listing order.
  void page(std::vector<std::pair<std::string, seen_list>> groups, clock::time_point now);
  // The listing's end; believers: the accounts that believed they play on
  // the streamer when it started.
  void listed(const listing_outcome& listing, int untracked, const std::vector<std::string>& believers,
              clock::time_point now);
  // The listing threw (the API, or the database): nothing is ended.
  void listing_failed(std::string why, bool api, clock::time_point now);
  // An account's answer, or its failure.
  void answered(const sync_summary& s, clock::time_point now);
  void failed(const std::string& error, clock::time_point now);
  // Called once the deadline and the answers' grace are past: gives up on
  // the answers still missing, unless the listing still runs (it has its own
  // deadline): then it answers true, ask again later.
  bool backstop(clock::time_point now);

  const streamer_run& run() const { return run_; }
  api_calls api() const { return api_; }
  bool finished() const { return finished_; }
  std::size_t in_flight() const { return in_flight_; }
  int pages() const { return pages_; }
  std::size_t accounts() const { return accounts_; }
  clock::time_point started() const { return started_; }
  clock::time_point listed_until() const { return listed_until_; }

 private:
  struct part {
    std::string account;
    seen_list seen;
    bool end = false;
    string_list listed;  // the end's ids
  };
  void stop(listing_end why, const std::string& error);
  void pump(clock::time_point now);

  hooks hooks_;
  std::size_t window_;
  sys_time listed_at_;
  clock::time_point started_, deadline_, listed_until_{};
  streamer_run run_;
  api_calls api_ = api_calls::answered;
  // Parts not sent yet, in listing order (an account's parts reach it in
  // that order: one sender, one route per account).
  std::deque<part> parts_;
  uint64_t parts_sent_ = 0;                             // taken off the front so far
  std::unordered_map<std::string, uint64_t> last_part_;  // account -> its last part's number
  // Every session id listed so far, by account (the end's `listed`).
  std::unordered_map<std::string, string_list> listed_;
  // Where each id sits in listed_, by the id's hash: a repeated id is found
  // without a second copy of every id (a set of 100 000 copied UUIDs was 9 %
  // of the daemon's CPU in a sync, issue 7). The list lives in a node of
  // listed_, whose address never moves. Two ids with one hash: the second is
  // told even if repeated — a refresh told twice, never one lost.
  struct id_at {
    string_list* list;
    std::size_t index;
  };
  std::unordered_map<std::size_t, id_at> id_index_;
  std::vector<std::pair<std::string, string_list>> ends_;  // not sent yet, nor riding on a part
  std::size_t accounts_ = 0;  // told the end, in all
  std::size_t told_ = 0;
  std::size_t in_flight_ = 0;
  int pages_ = 0;
  bool listing_done_ = false;  // its outcome (or failure) came
  bool ending_ = false;        // complete: the ends are built
  bool stopped_ = false;       // nothing more is sent
  bool abandoned_ = false;     // the backstop gave up on the answers in flight
  bool finished_ = false;
};

}  // namespace maxsess::actors
