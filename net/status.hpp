#pragma once
// Pieces of the status page (GET /, docs/status-page.md) that need neither
// CAF nor the database: the per-minute ring behind "denials per minute" and
// the Content-Security-Policy of the page. The page itself is embedded from
// net/status_page.html (net/status_page.hpp); /api/v1/status is put together
// in daemon/status.cpp.
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "domain/clock.hpp"

namespace maxsess::net {

// How much a monotonic counter grew in each of the last 60 minutes (UTC
// minutes), from samples of its running total. Each sample's growth since
// the previous one is put in the minute of the sample, so a count lands at
// most one sampling interval late (the daemon samples every few seconds and
// again whenever the series is read). Thread-safe.
class minute_ring {
 public:
  static constexpr int minutes = 60;

  // `total` is the counter's value now; the first sample counts from 0 (the
  // counter's value when the daemon started). A clock that went back puts
  // the growth in the newest minute seen; a total that went down (never, for
  // a counter) counts nothing and becomes the new base.
  void sample(sys_time now, double total);

  struct series {
    sys_time first_minute;        // start of the oldest minute shown
    std::vector<int64_t> counts;  // `minutes` values, oldest first, the current minute last
    int64_t total = 0;            // their sum
  };
  series last_hour(sys_time now) const;

 private:
  static int64_t minute_of(sys_time t);
  mutable std::mutex mutex_;
  double last_total_ = 0;
  int64_t newest_minute_ = INT64_MIN;
  std::array<int64_t, minutes> count_{};
  std::array<int64_t, minutes> stamp_{};  // the minute each slot holds (slot = minute % 60)
};

// The page's Content-Security-Policy: nothing loads but what the policy
// names — the page's inline <script> and <style> by their SHA-256 (so an
// injected script never runs), fetches to this origin only, no framing, no
// form posts, no plugins.
std::string status_page_csp(const std::string& html);

}  // namespace maxsess::net
