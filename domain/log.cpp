#include "domain/log.hpp"

#include <sys/stat.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "domain/validate.hpp"

namespace maxsess {

namespace {

const char* level_name(log_level l) {
  switch (l) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "unknown";
}

// sd-daemon(3): the kernel's syslog priorities.
const char* journal_prefix(log_level l) {
  switch (l) {
    case log_level::debug:
      return "<7>";
    case log_level::info:
      return "<6>";
    case log_level::warn:
      return "<4>";
    case log_level::error:
      return "<3>";
  }
  return "<6>";
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

// Text format keeps one event on one line: control characters are escaped.
void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\x";
          out.push_back(hex[(c >> 4) & 0x0f]);
          out.push_back(hex[c & 0x0f]);
        } else {
          out.push_back(c);
        }
    }
  }
}

// logfmt style: bare when the value is a plain word, quoted otherwise.
void append_value(std::string& out, std::string_view v) {
  bool plain = !v.empty();
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || c == '"' || c == '=' || c == '\\' || u == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) {
    out.append(v);
    return;
  }
  out.push_back('"');
  append_escaped(out, v);
  out.push_back('"');
}

// No log line prints a URL's userinfo ("http://user:pass@host"), whoever
// logs it and from wherever the text came (an error message quoting a
// stored api_url): checked here, once, for the message and every value.
// Text without "://" (nearly all of it) is passed through without a copy.
std::string_view without_userinfo(std::string_view text, std::string& buffer) {
  if (text.find("://") == std::string_view::npos) return text;
  buffer = redact_userinfo(text);
  return buffer;
}

}  // namespace

std::optional<log_level> parse_log_level(std::string_view s) {
  if (iequals(s, "debug"))
    return log_level::debug;
  if (iequals(s, "info"))
    return log_level::info;
  if (iequals(s, "warn") || iequals(s, "warning"))
    return log_level::warn;
  if (iequals(s, "error"))
    return log_level::error;
  return std::nullopt;
}

bool is_journal_stream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  uintmax_t dev = 0, ino = 0;
  int used = 0;
  if (std::sscanf(journal_stream, "%" SCNuMAX ":%" SCNuMAX "%n", &dev, &ino, &used) != 2 ||
      journal_stream[used] != '\0')
    return false;
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  return static_cast<uintmax_t>(st.st_dev) == dev && static_cast<uintmax_t>(st.st_ino) == ino;
}

bool stderr_is_journal() { return is_journal_stream(std::getenv("JOURNAL_STREAM"), 2); }

logger::logger(std::ostream& out, log_level min, bool json, const clock_source& clock,
               std::chrono::milliseconds repeat_every, bool journal)
    : out_(out), min_(min), json_(json), journal_(journal), clock_(clock), repeats_(repeat_every) {}

logger::~logger() { flush_repeated(); }

namespace {

// A kind of repeated line: level, component and message in one string.
std::string repeat_key(log_level l, std::string_view component, std::string_view msg) {
  std::string key(1, static_cast<char>('0' + static_cast<int>(l)));
  key.append(component).push_back('\n');
  key.append(msg);
  return key;
}

}  // namespace

void logger::log(log_level l, std::string_view component, std::string_view msg,
                 const fields& kv) {
  if (!enabled(l))
    return;
  write_due(false);
  write(l, component, msg, kv);
}

void logger::log_repeated(log_level l, std::string_view component, std::string_view msg,
                          const fields& kv) {
  if (!enabled(l))
    return;
  repeat_limiter::verdict v;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    v = repeats_.admit(repeat_key(l, component, msg), kv, clock_.now());
  }
  write_due(false);
  if (!v.write)
    return;
  if (v.repeated == 0)
    return write(l, component, msg, kv);
  fields more = kv;
  more.emplace_back("repeated", v.repeated);
  write(l, component, std::string(msg) + " " + repeated_note(v.repeated, v.span), more);
}

void logger::write_due(bool everything) {
  std::vector<repeat_limiter::summary> due;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    due = repeats_.due(clock_.now(), everything);
  }
  for (auto& d : due) {
    auto l = static_cast<log_level>(d.key[0] - '0');
    auto nl = d.key.find('\n');
    auto component = std::string_view(d.key).substr(1, nl - 1);
    auto msg = std::string(d.key.substr(nl + 1)) + " " + repeated_note(d.repeated, d.span);
    d.last.emplace_back("repeated", d.repeated);
    write(l, component, msg, d.last);
  }
}

void logger::write(log_level l, std::string_view component, std::string_view msg,
                   const fields& kv) {
  std::string line, msg_buffer, buffer;
  msg = without_userinfo(msg, msg_buffer);
  if (journal_) line += journal_prefix(l);
  if (json_) {
    // ordered_json keeps ts/level/component/msg first, as documented.
    nlohmann::ordered_json j;
    j["ts"] = to_rfc3339(clock_.now());
    j["level"] = level_name(l);
    j["component"] = std::string(component);
    j["msg"] = std::string(msg);
    for (const auto& [k, v] : kv) {
      // A field may not overwrite the fixed keys (or an earlier field).
      std::string key = k;
      while (j.contains(key))
        key = "field_" + key;
      if (!v.is_integer())
        j[key] = std::string(without_userinfo(v.text(), buffer));
      else if (v.is_signed())
        j[key] = v.as_signed();
      else
        j[key] = v.as_unsigned();
    }
    // Invalid UTF-8 in a value becomes U+FFFD instead of throwing.
    line += j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  } else {
    line.reserve(64 + msg.size());
    if (!journal_) {  // journald stamps the line itself
      line += to_rfc3339(clock_.now());
      line.push_back(' ');
    }
    std::string level = level_name(l);
    level.resize(5, ' ');
    line += level;
    line.push_back(' ');
    append_escaped(line, component);
    line += ": ";
    append_escaped(line, msg);
    for (const auto& [k, v] : kv) {
      line.push_back(' ');
      append_escaped(line, k);
      line.push_back('=');
      if (v.is_integer())  // digits and a sign: always a plain word
        line += v.text();
      else
        append_value(line, without_userinfo(v.text(), buffer));
    }
  }
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mutex_);
  out_.write(line.data(), static_cast<std::streamsize>(line.size()));
  out_.flush();
}

}  // namespace maxsess
