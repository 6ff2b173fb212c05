#pragma once
// The judge of the cluster safety tests: clients record what they sent and
// what came back, with steady-clock times taken on the client side, and the
// checker reports every moment an account provably had more slot holders
// than its limit (PRODUCT.md §2: "two devices that race for the last slot
// never both win, on one node or across nodes").
//
// What counts as proof: a device *certainly* holds a slot from the moment
// its approval was received until the moment an end for it was sent (the
// end may take effect as soon as it is sent). An approval nobody heard back
// from (timeout, reset, 5xx) is indeterminate: it may or may not have taken
// a slot, so it never counts; an end in flight across an approval may have
// landed after it, so that approval proves nothing either. Approvals of a
// device that already holds are the same slot.
//
// The checker knows nothing of what the daemon ends on its own, so the test
// must keep that from happening during the run: pending_ttl and stale_after
// longer than the run, and no over-limit kills (they would follow a
// violation anyway).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace maxsess::test {

using time_ns = int64_t;  // std::chrono::steady_clock, nanoseconds
time_ns steady_now_ns();

enum class link_answer {
  approved,
  denied,         // 403 max_sessions_reached, and only that
  indeterminate,  // no answer, reset, 5xx: the outcome is unknown
};

struct link_op {
  std::string account;
  std::string device;
  time_ns sent = 0;
  time_ns received = 0;  // ignored when indeterminate
  link_answer answer = link_answer::indeterminate;
};

struct end_op {
  std::string account;
  std::string device;
  time_ns sent = 0;
  time_ns received = 0;     // ignored when not acknowledged
  bool acknowledged = true;  // false: no answer; it may still land any time later
};

struct device_ref {
  std::string account;
  std::string device;
  friend bool operator<(const device_ref& a, const device_ref& b) {
    return a.account != b.account ? a.account < b.account : a.device < b.device;
  }
  friend bool operator==(const device_ref& a, const device_ref& b) {
    return a.account == b.account && a.device == b.device;
  }
};

struct violation {
  enum class kind {
    over_limit,       // more certain holders than max_sessions at `at`
    holder_denied,    // a device denied while it certainly held a slot
    unknown_account,  // the test gave the checker no limit for the account
  };
  kind what = kind::over_limit;
  std::string account;
  time_ns at = 0;
  int64_t limit = 0;
  std::vector<std::string> holders;  // devices certainly holding at `at`
  std::string explanation;
};
std::string to_string(const violation& v);
// All of them, one a line (at most `max_lines`), for a test failure message.
std::string describe(const std::vector<violation>& vs, std::size_t max_lines = 50);

class history {
 public:
  // max_sessions per account; 0 = unlimited.
  explicit history(std::map<std::string, int64_t> limits = {});
  void set_limit(const std::string& account, int64_t max_sessions);

  // Thread-safe: one history is shared by every client thread. Throws
  // std::invalid_argument when an answered operation was received before
  // it was sent (a bug in the test, not in the daemon).
  void record(link_op op);
  void record(end_op op);

  std::vector<violation> check() const;
  // Devices that certainly hold a slot when the history ends: their last
  // approval was received and no end was sent after it (nor was one still
  // unanswered when it was sent). Each must have a pending/active row in
  // PostgreSQL afterwards. Sorted.
  std::vector<device_ref> certain_holders_at_end() const;
  std::size_t size() const;

 private:
  struct span {
    time_ns from;
    time_ns to;  // exclusive; never_ends when still held at the end
  };
  static constexpr time_ns never_ends = INT64_MAX;
  // Per device, the merged spans of certain holding.
  std::map<device_ref, std::vector<span>> certain_spans() const;

  mutable std::mutex mutex_;
  std::map<std::string, int64_t> limits_;
  std::vector<link_op> links_;
  std::vector<end_op> ends_;
};

}  // namespace maxsess::test
