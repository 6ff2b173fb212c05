// Fuzz target: the webhook batch parser (actors/webhook_events.hpp,
// FLUSSONIC.md §2): Flussonic's event_sink bodies. Input: the body.
// Properties: never crashes; a JSON body accounts for each of its entries
// exactly once (an event, malformed or ignored); every event has a session
// id and a name; times and counters are in range.
#include <string_view>

#include "actors/webhook_events.hpp"
#include "domain/json_input.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maxsess;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto batch = actors::parse_webhook_batch(body);
  simdjson::dom::element doc;
  const bool json = json_input::parse(body, doc) == json_input::parse_status::ok;
  FUZZ_CHECK(batch.json == json);
  if (!json) {
    FUZZ_CHECK(batch.events.empty() && batch.malformed == 0 && batch.ignored == 0);
    return 0;
  }
  const std::size_t entries = doc.is_array() ? doc.get_array().value_unsafe().size() : 1;
  FUZZ_CHECK(batch.events.size() + batch.malformed + batch.ignored == entries);
  for (auto& e : batch.events) {
    FUZZ_CHECK(!e.report.session_id.empty());
    FUZZ_CHECK(!e.name.empty());
    FUZZ_CHECK(e.event_id >= -1 && e.report.bytes >= -1 && e.report.duration >= -1);
    if (e.report.at) FUZZ_CHECK(e.report.at->time_since_epoch().count() > 0);
  }
  return 0;
}
