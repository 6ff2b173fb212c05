// json_input accepts what nlohmann::json::parse accepted and refuses what it
// refused (the 400 answers to malformed bodies name the same field as
// before), except nesting deeper than max_depth.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "domain/json_input.hpp"

using namespace maxsess;
using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {
json_input::parse_status parse(const std::string& s) {
  element e;
  return json_input::parse(s, e);
}
}  // namespace

TEST(JsonInput, AcceptsAndRefusesWhatNlohmannDid) {
  for (std::string s :
       {std::string(R"({"a":1})"), std::string("\xEF\xBB\xBF{\"a\":1}"), std::string(" [1, 2.5e3, -0, \"x\"] "),
        std::string(R"({"a":"\ud83d\ude00","b":"\u0000"})"), std::string(R"({"a":18446744073709551616})"),
        std::string(R"({"a":-9223372036854775809,"b":[99999999999999999999999]})"), std::string("null"),
        std::string(R"({"a":1,"a":2})"), std::string(R"({"a":1e-99999999999999999999})"),
        // refused by both:
        std::string(""), std::string(" "), std::string("{not json"), std::string(R"({"a":01})"),
        std::string(R"({"a":1.})"), std::string(R"({"a":"\ud800"})"), std::string(R"({"a":"\udc00"})"),
        std::string("{\"a\":\"\xC3\x28\"}"), std::string("{\"a\":\"\xED\xA0\x80\"}"),
        std::string("{\"a\":\"\x01\"}"), std::string("{} {}"), std::string(R"({"a":1,})"),
        std::string("[1] // c"), std::string(R"({"a":NaN})"), std::string(R"({"a":1e400})"),
        std::string("\xEF\xBB{}")}) {
    bool nl_ok = !nlohmann::json::parse(s, nullptr, false).is_discarded();
    EXPECT_EQ(parse(s) == json_input::parse_status::ok, nl_ok)
        << nlohmann::json(s).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  }
}

TEST(JsonInput, ANulByteAfterTheValueIsRefused) {
  // nlohmann read a raw NUL as the end of the input and ignored what
  // followed; a body with one is malformed, and now refused.
  EXPECT_TRUE(!nlohmann::json::parse(std::string("{\"a\":1}\0x", 9), nullptr, false).is_discarded());
  EXPECT_EQ(parse(std::string("{\"a\":1}\0x", 9)), json_input::parse_status::invalid);
  EXPECT_EQ(parse(std::string("{\"a\":1}\0", 8)), json_input::parse_status::invalid);
}

TEST(JsonInput, BigIntegersAreDoublesAsInNlohmann) {
  element e;
  ASSERT_EQ(json_input::parse(R"({"a":18446744073709551616,"b":18446744073709551615,"c":9223372036854775807,"d":"99999999999999999999"})", e),
            json_input::parse_status::ok);
  EXPECT_EQ(e["a"].type().value(), element_type::DOUBLE);
  EXPECT_EQ(e["b"].type().value(), element_type::UINT64);
  EXPECT_EQ(e["c"].type().value(), element_type::INT64);
  EXPECT_EQ(e["d"].type().value(), element_type::STRING) << "strings are not touched";
  EXPECT_EQ(std::string(e["d"].get_string().value()), "99999999999999999999");
  EXPECT_EQ(json_input::widen_big_integers(R"([-9223372036854775808,-9223372036854775809,1e99999999999999999999,"18446744073709551616\"x"])"),
            R"([-9223372036854775808,-9223372036854775809.0,1e99999999999999999999,"18446744073709551616\"x"])");
}

TEST(JsonInput, DuplicateKeysTheLastWins) {
  element e;
  ASSERT_EQ(json_input::parse(R"({"a":1,"b":2,"a":"x"})", e), json_input::parse_status::ok);
  auto a = json_input::find(e.get_object().value(), "a");
  ASSERT_TRUE(a);
  EXPECT_EQ(std::string(a->get_string().value()), "x");
  EXPECT_FALSE(json_input::find(e.get_object().value(), "c"));
}

namespace {
std::optional<std::string> duplicate(const std::string& text) {
  element e;
  EXPECT_EQ(json_input::parse(text, e), json_input::parse_status::ok) << text;
  return json_input::duplicate_key(e);
}
}  // namespace

TEST(JsonInput, DuplicateKeyNamesThePathOfTheRepeatedKey) {
  EXPECT_EQ(duplicate(R"({"a":1,"b":2,"a":"x"})"), "a");
  EXPECT_EQ(duplicate(R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s","stream":"t"}})"),
            "content.stream");
  EXPECT_EQ(duplicate(R"({"x":[1,{"k":1},{"k":1,"j":2,"k":3}]})"), "x[2].k");
  EXPECT_EQ(duplicate(R"([{"a":1},[{"b":1,"b":2}]])"), "[1][0].b");
  EXPECT_EQ(duplicate(R"({"a":{"b":{"c":{"d":1,"d":2}}}})"), "a.b.c.d");
  // The same key in different objects, a key that differs only in case, or
  // an escaped backslash, is no duplicate; the escape "\u0061" is "a".
  EXPECT_EQ(duplicate(R"({"a":{"a":1},"b":{"a":1},"A":2})"), std::nullopt);
  EXPECT_EQ(duplicate(R"({"a":1,"\\u0061":2})"), std::nullopt);
  EXPECT_EQ(duplicate(R"({"a":1,"\u0061":2})"), "a");
  EXPECT_EQ(duplicate(R"({})"), std::nullopt);
  EXPECT_EQ(duplicate(R"({"":1,"":2})"), "");
  EXPECT_EQ(duplicate(R"({"a":{"":1,"":2}})"), "a.");
  EXPECT_EQ(duplicate(R"([1,"a",null])"), std::nullopt);
  EXPECT_EQ(duplicate(R"("a")"), std::nullopt);
}

TEST(JsonInput, DuplicateKeyInALargeObjectIsFoundWithoutQuadraticWork) {
  // Above the pairwise limit the keys are sorted: 20 000 distinct keys, then
  // one repeated at the very end, in a body of about 250 KiB.
  std::string big = "{";
  for (int i = 0; i < 20000; ++i) big += "\"k" + std::to_string(i) + "\":0,";
  std::string unique = big + "\"last\":1}";
  EXPECT_EQ(duplicate(unique), std::nullopt);
  EXPECT_EQ(duplicate(big + "\"k123\":1}"), "k123");
  // Right at the pairwise limit and one above it.
  for (int n : {16, 17}) {
    std::string o = "{";
    for (int i = 0; i < n; ++i) o += "\"k" + std::to_string(i) + "\":0,";
    EXPECT_EQ(duplicate(o + "\"z\":0}"), std::nullopt) << n;
    EXPECT_EQ(duplicate(o + "\"k0\":0}"), "k0") << n;
  }
}

TEST(JsonInput, NestingDeeperThanTheLimitIsRefused) {
  auto nest = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_EQ(parse(nest(json_input::max_depth - 1)), json_input::parse_status::ok);
  EXPECT_EQ(parse(nest(json_input::max_depth + 1)), json_input::parse_status::too_deep);
  EXPECT_EQ(parse(nest(60000)), json_input::parse_status::too_deep) << "no recursion to overflow the stack";
}

TEST(JsonInput, AThreadKeepsNoHugeBuffersAfterOneHugeBody) {
  std::string big = "[";
  for (int i = 0; i < 700000; ++i) big += "1,";  // 1.4 MB, over the 1 MiB kept
  big += "1]";
  EXPECT_EQ(parse(big), json_input::parse_status::ok);
  EXPECT_GE(json_input::thread_capacity(), big.size());
  EXPECT_EQ(parse(R"({"a":1})"), json_input::parse_status::ok);
  EXPECT_LE(json_input::thread_capacity(), (1u << 20) + 64u);
  element e;
  ASSERT_EQ(json_input::parse(R"({"a":"still fine"})", e), json_input::parse_status::ok);
  EXPECT_EQ(std::string(e["a"].get_string().value()), "still fine");
}
