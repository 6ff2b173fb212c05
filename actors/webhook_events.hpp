#pragma once
// Parsing of Flussonic event_sink batches (FLUSSONIC.md §2), tolerant of
// every shape seen in the field: an array or a single object, play_* or the
// legacy session_* events, "play_update" for "play_updated", seconds or
// milliseconds, missing or null fields. Pure: no I/O, unit-tested alone.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/account_state.hpp"

namespace maxsess::actors {

struct webhook_event {
  int64_t event_id = -1;  // -1: none given (no de-duplication for it)
  std::string name;       // the event as sent, e.g. "play_closed"
  play_report report;     // what the account actor needs
};

struct webhook_batch {
  bool json = false;  // false: the body is not JSON at all (answer 400)
  std::vector<webhook_event> events;
  int malformed = 0;  // entries skipped: not an object, no event name, no session id
  int ignored = 0;    // well-formed events of types maxsess does not use
};

webhook_batch parse_webhook_batch(std::string_view body);

// Event timestamps: "documented as milliseconds, but examples show seconds:
// treat values above 10^12 as milliseconds".
sys_time flussonic_time(int64_t value);

}  // namespace maxsess::actors
