#pragma once
// Paging through a streamer's sessions for a sync (or a kill looking for a
// token), one page at a time and within limits: every page is handed to the
// caller as it arrives and then dropped, so what a listing keeps is what the
// caller keeps. A listing stops (and says why) when the streamer lists more
// than the cap, when the deadline passes, when the caller is stopping
// (shutdown, the streamer removed), or when the streamer answers a cursor it
// was just given (a listing that would never end). Plain code, no actors: it
// runs on a streamer's worker thread and is unit-tested with a fake API.
// docs/flussonic.md, "How a sync runs".
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "actors/flussonic_api.hpp"

namespace maxsess::actors {

struct listing_limits {
  int batch = 100;                // sessions asked per page (limit=)
  int64_t max_sessions = 0;       // more listed than this: stop (0: no cap)
  // Past it, no further page is asked for (time_point::max(): none).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::function<std::chrono::steady_clock::time_point()> now;  // empty: steady_clock::now
  std::function<bool()> stopping;                              // empty: never
};

// How a listing ended. Only `complete` means every session was seen.
enum class listing_end { complete, capped, timed_out, repeated_cursor, stopped };
const char* to_string(listing_end e);  // "complete", "cap", "timeout", "repeated_cursor", "stopped"

struct listing_outcome {
  listing_end end = listing_end::complete;
  int64_t listed = 0;  // sessions handed to the page callback
  int pages = 0;       // pages fetched
  std::string error;   // empty when complete; else what to tell the operator
  bool complete() const { return end == listing_end::complete; }
};

// Lists every page of `s`, calling on_page(sessions) for each (the callback
// may move the sessions out). A page that would take the count past
// max_sessions is not handed on: the listing stops as `capped` first, so a
// caller never holds more than the cap. Flussonic errors (timeouts, bad
// answers) propagate as flussonic_error.
listing_outcome list_pages(flussonic_api& api, const streamer& s, const listing_limits& limits,
                           const std::function<void(std::vector<listed_session>&)>& on_page);

}  // namespace maxsess::actors
