#pragma once
// Private to storage/: reading values out of result rows, and the domain
// rows (sessions, streamers) in the column order of the statements in sql.cpp.
#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/audit.hpp"
#include "domain/model.hpp"
#include "storage/store.hpp"

namespace maxsess::storage::detail {

bool is_null(const PGresult* r, int row, int col);
std::string get_text(const PGresult* r, int row, int col);
// Throws storage_error when the column does not hold a decimal integer.
int64_t get_int(const PGresult* r, int row, int col);
std::optional<int64_t> get_opt_int(const PGresult* r, int row, int col);
bool get_bool(const PGresult* r, int row, int col);

template <class T>
T parse_or_throw(std::optional<T> v, const char* column, const std::string& text) {
  if (!v)
    throw storage_error(std::string("unknown value in column ") + column + ": '" + text + "'");
  return *v;
}

// The flussonic jsonb column: [{"id", "ip", "open", "updated_at_ms", "stream"}].
std::string flussonic_to_json(const std::vector<flussonic_session>& list);
std::vector<flussonic_session> flussonic_from_json(const std::string& text);

// The holders jsonb column of account_events: [{"device_id", "status",
// "stream", "streamer_id", "client_ip", "started_at_ms"}].
std::string holders_to_json(const std::vector<audit_holder>& list);
std::vector<audit_holder> holders_from_json(const std::string& text);

playback_session session_from_row(const PGresult* r, int row);
// In the column order of sql_events_*.
audit_event event_from_row(const PGresult* r, int row);
streamer streamer_from_row(const PGresult* r, int row);

}  // namespace maxsess::storage::detail
