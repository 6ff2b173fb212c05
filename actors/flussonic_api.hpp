#pragma once
// What the streamer actors need from a Flussonic server's HTTP API
// (FLUSSONIC.md §3), as an interface: net/ implements it with Beast, tests
// may fake it. Calls block (with timeouts) and run on a streamer's own
// worker thread, never on an actor thread, so one slow streamer stalls
// nobody else.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "domain/model.hpp"

namespace maxsess::actors {

// One play session as the sessions API lists it (tolerant: missing fields
// stay empty / -1).
struct listed_session {
  std::string id;
  std::string name;  // stream
  std::string token;
  std::string ip;
  std::string user_id;
  int64_t bytes = -1;
  int64_t duration = -1;  // seconds (derived from opened_at/updated_at when absent)
  std::optional<sys_time> updated_at;
};

struct session_page {
  std::vector<listed_session> sessions;
  std::string next;  // empty: last page
};

// Thrown on timeouts, connection errors, non-2xx answers and bad JSON; the
// message says which.
struct flussonic_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class flussonic_api {
 public:
  virtual ~flussonic_api() = default;
  virtual session_page list_sessions(const streamer& s, int limit, const std::string& cursor) = 0;
  // True when the session is closed now (204) or was already gone (404).
  virtual bool close_session(const streamer& s, const std::string& id) = 0;
};

}  // namespace maxsess::actors
