// json_writer writes what nlohmann's dump wrote (the answers' bytes did not
// change when the DOM went): the escaping is compared with nlohmann's on
// every byte and on random byte strings rich in broken UTF-8.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>

#include "domain/json_writer.hpp"

using namespace maxsess;

namespace {
std::string nlohmann_dump(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
std::string ours(const std::string& s) {
  json_writer w;
  w.string(s);
  return w.take();
}
}  // namespace

TEST(JsonWriter, EveryByteAloneEscapesLikeNlohmann) {
  for (int b = 0; b < 256; ++b) {
    std::string s = "a" + std::string(1, static_cast<char>(b)) + "z";
    EXPECT_EQ(ours(s), nlohmann_dump(s)) << "byte " << b;
  }
}

TEST(JsonWriter, ValidAndBrokenUtf8LikeNlohmann) {
  for (std::string s : {"caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xC3\x28", "\xE2\x82",
                        "\xE2\x82(", "\xED\xA0\x80", "\xE0\x80\xAF", "\xF4\x90\x80\x80", "\xF0\x9F\x98",
                        "\xC0\xAF", "\xFF\xFE", "\x80\x80", "\xF5\x80\x80\x80", "\xEF\xBF\xBD"}) {
    EXPECT_EQ(ours(s), nlohmann_dump(s));
  }
  // Random strings over an alphabet of lead, continuation and special bytes.
  const unsigned char alphabet[] = {'a', '"', '\\', 0x01, 0x1f, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xc0,
                                    0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, '\n', '\b'};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> len(0, 12), pick(0, sizeof alphabet - 1);
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    for (int n = len(rng); n > 0; --n) s += static_cast<char>(alphabet[pick(rng)]);
    ASSERT_EQ(ours(s), nlohmann_dump(s)) << nlohmann::json(s).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  }
}

TEST(JsonWriter, CommasAndNesting) {
  json_writer w;
  w.begin_object();
  w.key("a").number(-9223372036854775807 - 1);
  w.key("b").begin_array().boolean(true).boolean(false).begin_object().end_object().begin_array().end_array().end_array();
  w.key("c").begin_object().key("d").string("e").end_object();
  w.key("e").number(0);
  w.end_object();
  EXPECT_EQ(w.text(), R"({"a":-9223372036854775808,"b":[true,false,{},[]],"c":{"d":"e"},"e":0})");
  auto j = nlohmann::json::parse(w.text());
  EXPECT_EQ(j.dump(), w.text()) << "keys written in sorted order give nlohmann's bytes";
}
