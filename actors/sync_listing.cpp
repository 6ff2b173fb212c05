#include "actors/sync_listing.hpp"

namespace maxsess::actors {

const char* to_string(listing_end e) {
  switch (e) {
    case listing_end::complete: return "complete";
    case listing_end::capped: return "cap";
    case listing_end::timed_out: return "timeout";
    case listing_end::repeated_cursor: return "repeated_cursor";
    case listing_end::stopped: return "stopped";
  }
  return "?";
}

listing_outcome list_pages(flussonic_api& api, const streamer& s, const listing_limits& limits,
                           const std::function<void(std::vector<listed_session>&)>& on_page) {
  using clock = std::chrono::steady_clock;
  auto now = [&] { return limits.now ? limits.now() : clock::now(); };
  listing_outcome out;
  std::string cursor;
  for (;;) {
    if (limits.stopping && limits.stopping()) {
      out.end = listing_end::stopped;
      out.error = "stopped (the daemon is shutting down or the streamer was removed) after " +
                  std::to_string(out.listed) + " sessions";
      return out;
    }
    if (now() >= limits.deadline) {
      out.end = listing_end::timed_out;
      out.error = "the listing did not finish within playback_session.sync_timeout (" +
                  std::to_string(out.pages) + " pages, " + std::to_string(out.listed) +
                  " sessions so far); nothing was ended";
      return out;
    }
    auto page = api.list_sessions(s, limits.batch, cursor);
    ++out.pages;
    if (limits.max_sessions > 0 &&
        out.listed + static_cast<int64_t>(page.sessions.size()) > limits.max_sessions) {
      out.end = listing_end::capped;
      out.error = "the streamer listed more than playback_session.sync_max_sessions (" +
                  std::to_string(limits.max_sessions) + ") sessions after " +
                  std::to_string(out.pages) +
                  " pages; the listing is incomplete (or never ends), so nothing was ended; "
                  "raise sync_max_sessions if the streamer really plays that many";
      return out;
    }
    out.listed += static_cast<int64_t>(page.sessions.size());
    on_page(page.sessions);
    if (page.next.empty()) return out;
    // FLUSSONIC.md §3: page with cursor=<next> until next is null. The
    // cursor just given back would list the same page forever.
    if (page.next == cursor) {
      out.end = listing_end::repeated_cursor;
      out.error = "the streamer answered the cursor it was given as the next one (" + cursor +
                  ") after " + std::to_string(out.pages) +
                  " pages; the listing is incomplete, so nothing was ended";
      return out;
    }
    cursor = std::move(page.next);
  }
}

}  // namespace maxsess::actors
