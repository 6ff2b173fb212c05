#include "actors/webhook_events.hpp"

#include <algorithm>
#include <charconv>

#include "domain/json_input.hpp"
#include "domain/validate.hpp"

namespace maxsess::actors {

using jelement = simdjson::dom::element;
using jtype = simdjson::dom::element_type;

sys_time flussonic_time(int64_t value) {
  return value > 1'000'000'000'000LL ? from_unix_ms(value) : from_unix_ms(value * 1000);
}

namespace {

// The keys an event is read from, gathered in one pass over its fields (a
// key given twice counts once, with its last value, as nlohmann kept it).
enum slot : int {
  k_event, k_event_id, k_id, k_session_id, k_name, k_media, k_token, k_ip, k_bytes_sent, k_bytes,
  k_duration, k_closed_at, k_deleted_at, k_updated_at, k_utc_ms, k_started_at, k_opened_at,
  k_created_at, slot_count
};
constexpr std::string_view slot_keys[slot_count] = {
    "event", "event_id", "id", "session_id", "name", "media", "token", "ip", "bytes_sent", "bytes",
    "duration", "closed_at", "deleted_at", "updated_at", "utc_ms", "started_at", "opened_at",
    "created_at"};

struct fields {
  jelement value[slot_count];
  bool present[slot_count] = {};

  explicit fields(simdjson::dom::object o) {
    for (auto f : o) {
      for (int k = 0; k < slot_count; ++k) {
        if (f.key == slot_keys[k]) {
          value[k] = f.value;
          present[k] = true;
          break;
        }
      }
    }
  }
  const jelement* get(slot k) const { return present[k] ? &value[k] : nullptr; }
};

std::string text(const fields& o, slot key) {
  auto* i = o.get(key);
  if (!i) return {};
  switch (i->type()) {
    case jtype::STRING: return std::string(i->get_string().value_unsafe());
    case jtype::INT64: return std::to_string(i->get_int64().value_unsafe());
    case jtype::UINT64: return std::to_string(i->get_uint64().value_unsafe());
    default: return {};
  }
}

// Integers may arrive as numbers, floats or digit strings; -1: absent or
// unusable (a negative number too: no event id, byte count, duration or
// time is below zero, and -1 must stay the only "not given").
int64_t number(const fields& o, slot key) {
  auto* i = o.get(key);
  if (!i) return -1;
  switch (i->type()) {
    case jtype::INT64: return std::max<int64_t>(i->get_int64().value_unsafe(), -1);
    case jtype::UINT64: return -1;  // above INT64_MAX: out of range, as if absent
    case jtype::DOUBLE: {
      double d = i->get_double().value_unsafe();
      return d >= 0 && d < 9e15 ? static_cast<int64_t>(d) : -1;  // out of range: as if absent
    }
    case jtype::STRING: {
      auto s = i->get_string().value_unsafe();
      int64_t v = -1;
      if (!s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string_view::npos)
        std::from_chars(s.data(), s.data() + s.size(), v);
      return v;
    }
    default: return -1;
  }
}

bool classify(std::string_view name, play_report::kind& k, bool& legacy) {
  legacy = false;
  if (name == "play_opened") k = play_report::kind::opened;
  else if (name == "play_started") k = play_report::kind::started;
  else if (name == "play_updated" || name == "play_update") k = play_report::kind::updated;
  else if (name == "play_closed") k = play_report::kind::closed;
  else if (name == "session_opened") k = play_report::kind::opened, legacy = true;
  else if (name == "session_closed") k = play_report::kind::closed, legacy = true;
  else return false;
  return true;
}

void parse_event(jelement e, webhook_batch& out) {
  if (!e.is_object()) {
    ++out.malformed;
    return;
  }
  fields f(e.get_object().value_unsafe());
  auto* ev_name = f.get(k_event);
  std::string_view name = ev_name && ev_name->is_string() ? ev_name->get_string().value_unsafe() : "";
  if (name.empty()) {
    ++out.malformed;
    return;
  }
  webhook_event ev;
  bool legacy = false;
  if (!classify(name, ev.report.what, legacy)) {
    ++out.ignored;
    return;
  }
  ev.event_id = number(f, k_event_id);
  auto& r = ev.report;
  r.session_id = text(f, legacy ? k_session_id : k_id);
  if (r.session_id.empty()) r.session_id = text(f, legacy ? k_id : k_session_id);
  if (r.session_id.empty()) {
    ++out.malformed;
    return;
  }
  ev.name = name;
  r.stream = text(f, legacy ? k_name : k_media);
  if (r.stream.empty()) r.stream = text(f, legacy ? k_media : k_name);
  r.token = text(f, k_token);
  r.ip = text(f, k_ip);
  // These strings are stored: a control character in one (a NUL in an id)
  // made the whole group commit fail, other accounts' writes with it, and
  // the batch 503 at every redelivery. The event is malformed; the rest of
  // the batch is recorded.
  if (has_control_char(r.session_id) || has_control_char(r.stream) || has_control_char(r.token) ||
      has_control_char(r.ip)) {
    ++out.malformed;
    return;
  }
  r.bytes = number(f, legacy ? k_bytes_sent : k_bytes);
  if (r.bytes < 0) r.bytes = number(f, k_bytes);
  r.duration = number(f, k_duration);
  // When it happened: the most specific time the event carries.
  for (auto key : {k_closed_at, k_deleted_at, k_updated_at, k_utc_ms, k_started_at, k_opened_at, k_created_at}) {
    if (r.what != play_report::kind::closed && (key == k_closed_at || key == k_deleted_at)) continue;
    // After 2200 is nonsense, and past 2262 a time no longer fits sys_time
    // (a 14-digit millisecond value overflowed; found by the webhook_batch
    // fuzz target): such a time counts as not given.
    constexpr auto last = std::chrono::hours(24) * 365 * 230;  // ~2200-01-01
    auto v = number(f, key);
    if (v > 0 && v < 100'000'000'000'000LL && flussonic_time(v).time_since_epoch() < last) {
      r.at = flussonic_time(v);
      break;
    }
  }
  out.events.push_back(std::move(ev));
}

}  // namespace

webhook_batch parse_webhook_batch(std::string_view body) {
  webhook_batch out;
  jelement doc;
  // Too deep counts as not JSON: a streamer never nests its events.
  if (json_input::parse(body, doc) != json_input::parse_status::ok) return out;
  out.json = true;
  if (doc.is_array()) {
    auto items = doc.get_array().value_unsafe();
    out.events.reserve(items.size());
    for (auto e : items) parse_event(e, out);
  } else {
    parse_event(doc, out);  // older servers post one object
  }
  return out;
}

}  // namespace maxsess::actors
