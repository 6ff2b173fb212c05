#include "actors/webhook_events.hpp"

#include <nlohmann/json.hpp>

namespace maxsess::actors {

using nlohmann::json;

sys_time flussonic_time(int64_t value) {
  return value > 1'000'000'000'000LL ? from_unix_ms(value) : from_unix_ms(value * 1000);
}

namespace {

std::string text(const json& o, const char* key) {
  auto i = o.find(key);
  if (i == o.end()) return {};
  if (i->is_string()) return i->get<std::string>();
  if (i->is_number_integer() || i->is_number_unsigned()) return std::to_string(i->get<int64_t>());
  return {};
}

// Integers may arrive as numbers, floats or digit strings.
int64_t number(const json& o, const char* key) {
  auto i = o.find(key);
  if (i == o.end()) return -1;
  if (i->is_number_integer() || i->is_number_unsigned()) return i->get<int64_t>();
  if (i->is_number_float()) {
    double d = i->get<double>();
    return d >= 0 && d < 9e15 ? static_cast<int64_t>(d) : -1;  // out of range: as if absent
  }
  if (i->is_string()) {
    auto s = i->get<std::string>();
    if (!s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string::npos)
      return std::stoll(s);
  }
  return -1;
}

bool classify(const std::string& name, play_report::kind& k, bool& legacy) {
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

}  // namespace

webhook_batch parse_webhook_batch(std::string_view body) {
  webhook_batch out;
  auto doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) return out;
  out.json = true;
  std::vector<const json*> items;
  if (doc.is_array()) {
    for (auto& e : doc) items.push_back(&e);
  } else {
    items.push_back(&doc);  // older servers post one object
  }
  for (auto* e : items) {
    if (!e->is_object()) {
      ++out.malformed;
      continue;
    }
    auto ev_name = e->find("event");
    std::string name = ev_name != e->end() && ev_name->is_string() ? ev_name->get<std::string>() : "";
    if (name.empty()) {
      ++out.malformed;
      continue;
    }
    webhook_event ev;
    bool legacy = false;
    if (!classify(name, ev.report.what, legacy)) {
      ++out.ignored;
      continue;
    }
    ev.name = name;
    ev.event_id = number(*e, "event_id");
    auto& r = ev.report;
    r.session_id = legacy ? text(*e, "session_id") : text(*e, "id");
    if (r.session_id.empty()) r.session_id = legacy ? text(*e, "id") : text(*e, "session_id");
    if (r.session_id.empty()) {
      ++out.malformed;
      continue;
    }
    r.stream = legacy ? text(*e, "name") : text(*e, "media");
    if (r.stream.empty()) r.stream = text(*e, legacy ? "media" : "name");
    r.token = text(*e, "token");
    r.ip = text(*e, "ip");
    r.bytes = number(*e, legacy ? "bytes_sent" : "bytes");
    if (r.bytes < 0) r.bytes = number(*e, "bytes");
    r.duration = number(*e, "duration");
    // When it happened: the most specific time the event carries.
    for (auto key : {"closed_at", "deleted_at", "updated_at", "utc_ms", "started_at", "opened_at", "created_at"}) {
      if (r.what != play_report::kind::closed &&
          (std::string_view(key) == "closed_at" || std::string_view(key) == "deleted_at"))
        continue;
      auto v = number(*e, key);
      if (v > 0 && v < 100'000'000'000'000LL) {  // beyond year 5000 (s) / 5138 (ms): nonsense
        r.at = flussonic_time(v);
        break;
      }
    }
    out.events.push_back(std::move(ev));
  }
  return out;
}

}  // namespace maxsess::actors
