// Scalar value syntax shared by the YAML file, the environment and the ini:
// durations, host:port, booleans, lists, token secret specs.
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/detail.hpp"

namespace maxsess::config {

namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Parses [0-9]+ into a non-negative int64; false on overflow.
bool parse_count(std::string_view s, int64_t& out) {
  if (!all_digits(s)) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

struct unit {
  std::string_view suffix;
  int64_t ms;
};
// Largest first: the order units must appear in "1h30m", and the preference
// order of format_duration on a tie.
constexpr std::array<unit, 4> units{{{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

// "1h30m", "250ms": each unit's part added to total (milliseconds).
bool sum_units(const std::string& s, int64_t& total) {
  std::size_t pos = 0;
  std::size_t next_unit = 0;  // units must come largest first, each at most once
  while (pos < s.size()) {
    std::size_t digits_end = pos;
    while (digits_end < s.size() && s[digits_end] >= '0' && s[digits_end] <= '9') ++digits_end;
    int64_t value = 0;
    if (!parse_count(std::string_view(s).substr(pos, digits_end - pos), value)) return false;
    std::size_t which = units.size();
    for (std::size_t i = 0; i < units.size(); ++i) {
      // "ms" before "m": longest suffix that matches here.
      const auto& u = units[i];
      if (s.compare(digits_end, u.suffix.size(), u.suffix) == 0 &&
          (which == units.size() || u.suffix.size() > units[which].suffix.size()))
        which = i;
    }
    if (which == units.size() || which < next_unit) return false;
    int64_t part = 0;
    if (__builtin_mul_overflow(value, units[which].ms, &part) ||
        __builtin_add_overflow(total, part, &total))
      return false;
    next_unit = which + 1;
    pos = digits_end + units[which].suffix.size();
  }
  return true;
}

}  // namespace

bool parse_duration(const std::string& text, duration& out) {
  const std::string s = detail::trim(text);
  if (s.empty()) return false;
  int64_t total = 0;
  if (all_digits(s)) {  // bare integer: seconds
    int64_t secs = 0;
    if (!parse_count(s, secs) || __builtin_mul_overflow(secs, int64_t{1000}, &total)) return false;
  } else if (!sum_units(s, total)) {
    return false;
  }
  if (total > max_duration.count()) return false;
  out = duration(total);
  return true;
}

std::string format_duration(duration d) {
  int64_t ms = d.count();
  if (ms < 0) {
    if (ms == std::numeric_limits<int64_t>::min()) return "-" + std::to_string(ms).substr(1) + "ms";
    return "-" + format_duration(duration(-ms));
  }
  if (ms == 0) return "0s";
  std::string best;
  for (const auto& u : units) {
    if (ms % u.ms != 0) continue;
    std::string candidate = std::to_string(ms / u.ms) + std::string(u.suffix);
    if (best.empty() || candidate.size() < best.size()) best = candidate;
  }
  std::string compound;
  int64_t rest = ms;
  for (const auto& u : units) {
    if (rest / u.ms > 0) compound += std::to_string(rest / u.ms) + std::string(u.suffix);
    rest %= u.ms;
  }
  if (compound.size() < best.size()) best = compound;
  return best;
}

bool split_host_port(const std::string& text, std::string& host, uint16_t& port) {
  std::string h;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    h = text.substr(1, close - 1);
    if (h.find(':') == std::string::npos) return false;  // brackets are for IPv6 only
    port_text = std::string_view(text).substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    h = text.substr(0, colon);
    if (h.find(':') != std::string::npos) return false;  // IPv6 needs [brackets]
    port_text = std::string_view(text).substr(colon + 1);
  }
  if (h.empty()) return false;
  for (char c : h)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '[' || c == ']' || c == '@')
      return false;
  int64_t p = 0;
  if (port_text.size() > 5 || !parse_count(port_text, p) || p < 1 || p > 65535) return false;
  host = std::move(h);
  port = static_cast<uint16_t>(p);
  return true;
}

namespace detail {

std::string trim(std::string_view text) {
  const char* blanks = " \t\r\n";
  const auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(blanks);
  return std::string(text.substr(first, last - first + 1));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string s = lower(trim(text));
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return std::nullopt;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string item = trim(text.substr(start, comma - start));
    if (!item.empty()) items.push_back(std::move(item));
    start = comma + 1;
  }
  return items;
}

std::vector<std::string> check_token_secret(std::string_view spec_text) {
  // Same reading as maxsess::link_signer::from_spec (domain/token.cpp):
  // blanks around the spec and around each entry are ignored; a spec with no
  // ':' at all is one bare secret (key id "k1"), commas included.
  std::vector<std::string> errors;
  const std::string trimmed = trim(spec_text);
  const std::string_view spec = trimmed;
  if (spec.empty()) {
    errors.push_back("is empty");
    return errors;
  }
  if (spec.find(':') == std::string_view::npos) return errors;
  auto kid_ok = [](std::string_view kid) {
    if (kid.empty() || kid.size() > 16) return false;
    for (char c : kid)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
    return true;
  };
  std::set<std::string, std::less<>> kids;
  std::size_t start = 0;
  int index = 0;
  while (start <= spec.size()) {
    auto comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    const std::string part_text = trim(spec.substr(start, comma - start));
    const std::string_view part = part_text;
    ++index;
    const std::string where = "key " + std::to_string(index);
    const auto colon = part.find(':');
    if (part.empty()) {
      errors.push_back(where + " is empty (a stray comma?)");
    } else if (colon == std::string_view::npos) {
      errors.push_back(where + " has no key id; write kid:secret for every key when there are several");
    } else {
      const std::string_view kid = part.substr(0, colon);
      const std::string_view secret = part.substr(colon + 1);
      if (!kid_ok(kid)) {
        errors.push_back(where + " has a bad key id; a key id is 1-16 of A-Z a-z 0-9 _ -");
      } else if (!kids.insert(std::string(kid)).second) {
        errors.push_back(where + " repeats key id '" + std::string(kid) + "'; key ids must be unique");
      }
      if (secret.empty()) errors.push_back(where + " ('" + std::string(kid) + "') has an empty secret");
    }
    start = comma + 1;
  }
  return errors;
}

ini_outcome parse_playback_ini(std::string_view text) {
  ini_outcome out;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  int line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string line = trim(text.substr(start, nl - start));
    start = nl + 1;
    ++line_no;
    const std::string at = "line " + std::to_string(line_no) + ": ";
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (line[0] == '[') {
      if (line.back() != ']') out.errors.push_back(at + "a section header must end with ']'");
      continue;  // sections are allowed and ignored
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      out.errors.push_back(at + "expected 'key = value'");
      continue;
    }
    const std::string key = trim(std::string_view(line).substr(0, eq));
    std::string value = trim(std::string_view(line).substr(eq + 1));
    if (key.empty()) {
      out.errors.push_back(at + "expected 'key = value' (the key is missing)");
      continue;
    }
    if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
      const auto close = value.find(value[0], 1);
      if (close == std::string::npos) {
        out.errors.push_back(at + "the quoted value of '" + key + "' has no closing quote");
        continue;
      }
      const std::string after = trim(std::string_view(value).substr(close + 1));
      if (!after.empty() && after[0] != ';' && after[0] != '#') {
        out.errors.push_back(at + "unexpected text after the quoted value of '" + key + "'");
        continue;
      }
      value = value.substr(1, close - 1);
    } else {
      // Unquoted: ';' starts a comment anywhere, '#' after a blank (PHP-like).
      auto cut = value.find(';');
      for (std::size_t i = 1; i < value.size() && i < cut; ++i)
        if (value[i] == '#' && (value[i - 1] == ' ' || value[i - 1] == '\t')) cut = i;
      if (cut != std::string::npos) value = trim(std::string_view(value).substr(0, cut));
    }
    if (key != "playback_session_enabled") continue;  // other keys are not ours
    const auto flag = parse_bool(value);
    if (!flag) {
      out.errors.push_back(at + "playback_session_enabled must be true or false (also 1/0, "
                                "yes/no, on/off), got '" + value + "'");
      continue;
    }
    out.playback_session_enabled = flag;  // the last one wins, as in PHP
  }
  return out;
}

}  // namespace detail
}  // namespace maxsess::config
