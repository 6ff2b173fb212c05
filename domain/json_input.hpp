#pragma once
// JSON request bodies read without building a DOM of heap nodes: simdjson
// parses into this thread's reusable parser (a flat tape, no allocation per
// value once warm) and callers pick the fields they need from it.
//
// What it accepts is what nlohmann::json::parse accepted, so the answers to
// malformed input did not change: strict RFC 8259 (no comments, no trailing
// commas, no NaN), valid UTF-8 only, a leading UTF-8 byte-order mark
// skipped, and an integer too large for 64 bits read as a double (simdjson
// alone refuses the whole document). Two deliberate differences: nesting
// deeper than max_depth is refused (nlohmann had no limit), and so is a raw
// NUL byte after the value (nlohmann took it for the end of the input and
// ignored the rest).
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace maxsess::json_input {

constexpr std::size_t max_depth = 1024;  // simdjson's default

enum class parse_status { ok, invalid, too_deep };

// The element and every string_view read from it stay valid until the next
// parse() on the same thread: use them, copy what you keep, then return.
parse_status parse(std::string_view text, simdjson::dom::element& out);

// The value of `key` in `obj`, the LAST one when the key repeats (nlohmann
// kept the last), nullopt when absent. Link and admin bodies never get here
// with a repeated key: http_api refuses them with duplicate_key() first.
std::optional<simdjson::dom::element> find(simdjson::dom::object obj, std::string_view key);

// The path of the first key found twice in one object anywhere in `root`
// ("host", "content.stream", "list[2].id"), nullopt when every object's
// keys are distinct. Walks the parsed tape (no re-parse); objects of up to
// 16 keys (every link and admin body) are compared pairwise without
// allocating, larger ones through a sorted copy of their keys, so a hostile
// body of thousands of keys costs n log n, not n^2.
std::optional<std::string> duplicate_key(simdjson::dom::element root);

// Bytes this thread's parser keeps between parses (for the tests).
std::size_t thread_capacity();

// Exposed for the tests: `text` with every integer literal outside
// [-2^63, 2^64) given a ".0" so that it parses as a double, the way
// nlohmann read it. Strings are left alone.
std::string widen_big_integers(std::string_view text);

}  // namespace maxsess::json_input
