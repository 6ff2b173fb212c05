// list_pages: a sync's listing, page by page, within its cap and deadline,
// against a fake Sessions API.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "actors/sync_listing.hpp"

using namespace maxsess;
using namespace maxsess::actors;

namespace {

// `total` sessions ("s0", "s1", ...) paged the real way (next = the index
// to start from), unless `next_of` answers another next for a cursor.
struct fake_api : flussonic_api {
  int total = 0;
  std::function<std::string(const std::string& cursor, int start, int end)> next_of;
  std::function<void()> on_call;
  std::vector<std::string> cursors;  // as asked
  int limit_seen = 0;

  session_page list_sessions(const streamer&, int limit, const std::string& cursor) override {
    cursors.push_back(cursor);
    limit_seen = limit;
    if (on_call) on_call();
    // With next_of, every page starts over (the broken APIs list the same
    // sessions again).
    int start = cursor.empty() || next_of ? 0 : std::stoi(cursor);
    int end = std::min(total, start + limit);
    session_page p;
    for (int i = start; i < end; ++i) {
      listed_session l;
      l.id = "s" + std::to_string(i);
      l.token = "t" + std::to_string(i);
      p.sessions.push_back(l);
    }
    if (next_of)
      p.next = next_of(cursor, start, end);
    else if (end < total)
      p.next = std::to_string(end);
    return p;
  }
  bool close_session(const streamer&, const std::string&) override { return true; }
};

struct collected {
  std::vector<std::string> ids;
  std::vector<std::size_t> page_sizes;
  std::function<void(std::vector<listed_session>&)> fn() {
    return [this](std::vector<listed_session>& page) {
      page_sizes.push_back(page.size());
      for (auto& l : page) ids.push_back(std::move(l.id));
    };
  }
};

streamer a_streamer() {
  streamer s;
  s.id = 1;
  s.host = "s1.test";
  return s;
}

TEST(sync_listing, every_page_is_handed_on_in_order_and_the_listing_is_complete) {
  fake_api api;
  api.total = 250;
  listing_limits lim;
  lim.batch = 100;
  lim.max_sessions = 1000;
  collected c;
  auto out = list_pages(api, a_streamer(), lim, c.fn());
  EXPECT_TRUE(out.complete()) << out.error;
  EXPECT_EQ(out.listed, 250);
  EXPECT_EQ(out.pages, 3);
  EXPECT_EQ(c.page_sizes, (std::vector<std::size_t>{100, 100, 50}));
  ASSERT_EQ(c.ids.size(), 250u);
  EXPECT_EQ(c.ids.front(), "s0");
  EXPECT_EQ(c.ids.back(), "s249");
  EXPECT_EQ(api.cursors, (std::vector<std::string>{"", "100", "200"}));
  EXPECT_EQ(api.limit_seen, 100);
}

TEST(sync_listing, exactly_the_cap_is_complete_one_more_stops_before_the_page_is_handed_on) {
  fake_api api;
  api.total = 300;
  listing_limits lim;
  lim.batch = 100;
  lim.max_sessions = 300;
  collected c;
  EXPECT_TRUE(list_pages(api, a_streamer(), lim, c.fn()).complete());

  api.total = 301;
  collected d;
  auto out = list_pages(api, a_streamer(), lim, d.fn());
  EXPECT_EQ(out.end, listing_end::capped);
  EXPECT_STREQ(to_string(out.end), "cap");
  EXPECT_EQ(out.listed, 300) << "the page past the cap is not counted";
  EXPECT_EQ(d.ids.size(), 300u) << "nor handed on: the caller never holds more than the cap";
  EXPECT_NE(out.error.find("sync_max_sessions (300)"), std::string::npos) << out.error;
  EXPECT_NE(out.error.find("nothing was ended"), std::string::npos) << out.error;
}

TEST(sync_listing, a_listing_that_never_ends_stops_at_the_cap) {
  // The API from issue 7: every page the same sessions, "next" = cursor + 1.
  fake_api api;
  api.total = 100;
  api.next_of = [](const std::string& cursor, int, int) {
    return std::to_string((cursor.empty() ? 0 : std::stoi(cursor)) + 1);
  };
  listing_limits lim;
  lim.batch = 100;
  lim.max_sessions = 5000;
  collected c;
  auto out = list_pages(api, a_streamer(), lim, c.fn());
  EXPECT_EQ(out.end, listing_end::capped);
  EXPECT_EQ(out.listed, 5000);
  EXPECT_EQ(out.pages, 51);
}

TEST(sync_listing, the_same_cursor_again_is_an_incomplete_listing_not_its_end) {
  fake_api api;
  api.total = 10;
  api.next_of = [](const std::string& cursor, int, int) { return cursor.empty() ? "5" : cursor; };
  // Page 1: s0-s4, next "5"; page 2 (cursor "5"): next "5" again.
  listing_limits lim;
  lim.batch = 5;
  collected c;
  auto out = list_pages(api, a_streamer(), lim, c.fn());
  EXPECT_EQ(out.end, listing_end::repeated_cursor);
  EXPECT_EQ(out.pages, 2);
  EXPECT_NE(out.error.find("(5)"), std::string::npos) << out.error;
  EXPECT_FALSE(out.complete());
}

TEST(sync_listing, no_page_is_asked_for_past_the_deadline) {
  using clock = std::chrono::steady_clock;
  fake_api api;
  api.total = 1000;
  auto t = clock::time_point{} + std::chrono::hours(1);
  api.on_call = [&] { t += std::chrono::seconds(1); };  // every page takes a second
  listing_limits lim;
  lim.batch = 10;
  lim.now = [&] { return t; };
  lim.deadline = t + std::chrono::milliseconds(3500);
  collected c;
  auto out = list_pages(api, a_streamer(), lim, c.fn());
  EXPECT_EQ(out.end, listing_end::timed_out);
  EXPECT_EQ(out.pages, 4) << "pages started at +0, +1, +2 and +3 s; none at +4 s";
  EXPECT_EQ(out.listed, 40);
  EXPECT_NE(out.error.find("sync_timeout"), std::string::npos) << out.error;
}

TEST(sync_listing, a_stopping_worker_stops_at_the_next_page) {
  fake_api api;
  api.total = 1000;
  int calls = 0;
  api.on_call = [&] { ++calls; };
  listing_limits lim;
  lim.batch = 10;
  lim.stopping = [&] { return calls >= 2; };
  collected c;
  auto out = list_pages(api, a_streamer(), lim, c.fn());
  EXPECT_EQ(out.end, listing_end::stopped);
  EXPECT_EQ(out.pages, 2);
  EXPECT_EQ(c.ids.size(), 20u);
}

TEST(sync_listing, api_errors_propagate) {
  struct failing : fake_api {
    session_page list_sessions(const streamer& s, int limit, const std::string& cursor) override {
      if (!cursor.empty()) throw flussonic_error("flussonic s1.test: read failed");
      return fake_api::list_sessions(s, limit, cursor);
    }
  } api;
  api.total = 20;
  listing_limits lim;
  lim.batch = 10;
  collected c;
  EXPECT_THROW(list_pages(api, a_streamer(), lim, c.fn()), flussonic_error);
  EXPECT_EQ(c.ids.size(), 10u);
}

}  // namespace
