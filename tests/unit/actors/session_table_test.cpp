// An account's sessions by device id (actors/session_table.hpp): what the
// std::map it replaced gave account_state — device order, find and insert
// by id, erase returning the next one, records that stay where they are
// while other devices come and go — checked against a std::map driven
// with the same random operations.
#include "actors/session_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace maxsess::actors {
namespace {

std::vector<std::string> devices_of(const session_table& t) {
  std::vector<std::string> out;
  for (const auto& s : t) out.push_back(s.device_id);
  return out;
}

TEST(SessionTable, ANewDeviceGetsARecordWithItsIdInDeviceOrder) {
  session_table t;
  EXPECT_TRUE(t.empty());
  t["tv"].bytes = 3;
  t["phone"].bytes = 1;
  t["stb"].bytes = 2;
  EXPECT_EQ(devices_of(t), (std::vector<std::string>{"phone", "stb", "tv"}));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t["phone"].bytes, 1);  // found, not a second record
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t["stb"].status, session_status::pending);  // the rest as a default playback_session
  EXPECT_EQ(t.at("tv").bytes, 3);
  EXPECT_THROW(t.at("radio"), std::out_of_range);
  EXPECT_EQ(t.size(), 3u);  // at() adds nothing
}

TEST(SessionTable, FindSaysWhenADeviceHasNoRecord) {
  session_table t;
  EXPECT_EQ(t.find("tv"), t.end());
  t["tv"];
  t["a"];
  ASSERT_NE(t.find("tv"), t.end());
  EXPECT_EQ(t.find("tv")->device_id, "tv");
  EXPECT_EQ(t.find("t"), t.end());    // a prefix is another device
  EXPECT_EQ(t.find("tvx"), t.end());  // so is a longer id
  const session_table& c = t;
  ASSERT_NE(c.find("a"), c.end());
  EXPECT_EQ(c.find("b"), c.end());
}

TEST(SessionTable, RecordsStayWhereTheyAreWhileOthersComeAndGo) {
  // account_state keeps references to a device's record across inserts of
  // other devices (std::map's guarantee): a record lives in its own
  // allocation, so growing the vector of pointers moves none.
  session_table t;
  auto& mid = t["m"];
  mid.bytes = 42;
  for (int i = 0; i < 100; ++i) t["a" + std::to_string(i)];  // before it, and the vector grows
  for (int i = 0; i < 100; ++i) t["z" + std::to_string(i)];  // after it
  EXPECT_EQ(&t["m"], &mid);
  EXPECT_EQ(mid.bytes, 42);
  for (auto it = t.begin(); it != t.end();) it = it->device_id == "m" ? std::next(it) : t.erase(it);
  EXPECT_EQ(&t["m"], &mid);
  EXPECT_EQ(t.size(), 1u);
}

TEST(SessionTable, EraseReturnsTheNextRecordAsAMapDoes) {
  session_table t;
  for (const char* d : {"a", "b", "c", "d"}) t[d];
  auto it = t.erase(t.find("b"));
  ASSERT_NE(it, t.end());
  EXPECT_EQ(it->device_id, "c");
  it = t.erase(t.find("d"));
  EXPECT_EQ(it, t.end());
  EXPECT_EQ(devices_of(t), (std::vector<std::string>{"a", "c"}));
  t.clear();
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.begin(), t.end());
}

TEST(SessionTable, BehavesAsTheMapItReplacedUnderRandomOperations) {
  std::mt19937 rng(7);
  session_table t;
  std::map<std::string, int64_t> m;  // device -> bytes
  for (int step = 0; step < 20000; ++step) {
    const std::string d = "dev" + std::to_string(rng() % 40);
    switch (rng() % 4) {
      case 0:
      case 1: {  // insert or update
        const int64_t v = static_cast<int64_t>(rng() % 1000);
        t[d].bytes = v;
        m[d] = v;
        break;
      }
      case 2: {  // erase if present
        auto it = t.find(d);
        auto mi = m.find(d);
        ASSERT_EQ(it == t.end(), mi == m.end()) << d;
        if (it != t.end()) {
          auto next = t.erase(it);
          auto mnext = m.erase(mi);
          ASSERT_EQ(next == t.end(), mnext == m.end());
          if (next != t.end()) {
            ASSERT_EQ(next->device_id, mnext->first);
          }
        }
        break;
      }
      default: {  // look up
        auto it = t.find(d);
        auto mi = m.find(d);
        ASSERT_EQ(it == t.end(), mi == m.end()) << d;
        if (it != t.end()) {
          ASSERT_EQ(it->bytes, mi->second);
        }
      }
    }
  }
  ASSERT_EQ(t.size(), m.size());
  auto mi = m.begin();
  for (const auto& s : t) {
    ASSERT_EQ(s.device_id, mi->first);
    ASSERT_EQ(s.bytes, mi->second);
    ++mi;
  }
}

}  // namespace
}  // namespace maxsess::actors
