// The JSON columns' text (flussonic, holders), written without a nlohmann
// tree since issue 7's fourth round: the same bytes nlohmann's dump gave,
// for any input (odd bytes included), and read back to the same values.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

#include "domain/clock.hpp"
#include "storage/rows.hpp"

namespace {

using namespace maxsess;

std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "a", "Z", "9", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f", "\xC3\xA9",
      "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xC3", "\xE2\x82", "\xFF", "\xED\xA0\x80", "\xC0\xAF"};
  std::string s;
  const int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
  return s;
}

std::string nlohmann_flussonic(const std::vector<flussonic_session>& list) {
  auto arr = nlohmann::json::array();
  for (const auto& f : list)
    arr.push_back({{"id", f.id}, {"ip", f.ip}, {"open", f.open},
                   {"updated_at_ms", to_unix_ms(f.updated_at)}, {"stream", f.stream}});
  return arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string nlohmann_holders(const std::vector<audit_holder>& list) {
  auto arr = nlohmann::json::array();
  for (const auto& h : list)
    arr.push_back({{"device_id", h.device_id}, {"status", to_string(h.status)}, {"stream", h.stream},
                   {"streamer_id", h.streamer_id}, {"client_ip", h.client_ip},
                   {"started_at_ms", to_unix_ms(h.started_at)}});
  return arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TEST(StorageRowsJson, FlussonicColumnTextIsNlohmannsAndReadsBack) {
  std::mt19937 rng(7);
  EXPECT_EQ(storage::detail::flussonic_to_json({}), "[]");
  for (int round = 0; round < 2000; ++round) {
    std::vector<flussonic_session> list(rng() % 4);
    for (auto& f : list) {
      f.id = random_text(rng);
      f.ip = random_text(rng);
      f.stream = random_text(rng);
      f.open = rng() % 2;
      f.updated_at = from_unix_ms(static_cast<int64_t>(rng() % 4000000000000ULL) - 1000);
    }
    const auto text = storage::detail::flussonic_to_json(list);
    ASSERT_EQ(text, nlohmann_flussonic(list)) << "round " << round;
    const auto back = storage::detail::flussonic_from_json(text);
    ASSERT_EQ(back.size(), list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      EXPECT_EQ(back[i].open, list[i].open);
      EXPECT_EQ(to_unix_ms(back[i].updated_at), to_unix_ms(list[i].updated_at));
    }
  }
}

TEST(StorageRowsJson, HoldersColumnTextIsNlohmanns) {
  std::mt19937 rng(11);
  EXPECT_EQ(storage::detail::holders_to_json({}), "[]");
  for (int round = 0; round < 2000; ++round) {
    std::vector<audit_holder> list(rng() % 4);
    for (auto& h : list) {
      h.device_id = random_text(rng);
      h.stream = random_text(rng);
      h.client_ip = random_text(rng);
      h.status = rng() % 2 ? session_status::active : session_status::pending;
      h.streamer_id = static_cast<int64_t>(rng()) - 100;
      h.started_at = from_unix_ms(static_cast<int64_t>(rng() % 4000000000000ULL));
    }
    ASSERT_EQ(storage::detail::holders_to_json(list), nlohmann_holders(list)) << "round " << round;
  }
}

}  // namespace
