#include "domain/json_input.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace maxsess::json_input {

namespace {

// One per thread: CAF workers and Beast I/O threads each parse with their
// own, reused from body to body (no allocation once warm). The body is
// copied into `padded` (simdjson reads up to SIMDJSON_PADDING bytes past
// the end). After a body larger than retain_bytes (node.http_body_limit
// may be raised) both shrink back at the next ordinary one, so a thread
// does not keep megabytes for one odd batch.
constexpr std::size_t retain_bytes = 1 << 20;

struct thread_state {
  simdjson::dom::parser parser;
  std::string padded;
};

thread_state& state() {
  thread_local thread_state s;
  return s;
}

bool digit(char c) { return c >= '0' && c <= '9'; }

// Does the digit run (no sign, no leading zeros) exceed `limit`, also digits?
bool above(std::string_view digits, std::string_view limit) {
  if (digits.size() != limit.size()) return digits.size() > limit.size();
  return digits > limit;
}

}  // namespace

std::string widen_big_integers(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '"') {  // copy a string through, escapes included
      std::size_t j = i + 1;
      while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, text.size());
      out.append(text.data() + i, j - i);
      i = j;
      continue;
    }
    if (c == '-' || digit(c)) {
      std::size_t j = i + (c == '-' ? 1 : 0);
      std::size_t d = j;
      while (j < text.size() && digit(text[j])) ++j;
      bool fraction = j < text.size() && (text[j] == '.' || text[j] == 'e' || text[j] == 'E');
      auto digits = text.substr(d, j - d);
      if (fraction) {  // already a double: copy the rest of the token as is
        while (j < text.size() && (digit(text[j]) || text[j] == '.' || text[j] == 'e' ||
                                   text[j] == 'E' || text[j] == '+' || text[j] == '-'))
          ++j;
        out.append(text.data() + i, j - i);
      } else {
        out.append(text.data() + i, j - i);
        if (!digits.empty() && above(digits, c == '-' ? "9223372036854775808" : "18446744073709551615"))
          out += ".0";
      }
      i = j;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

parse_status parse(std::string_view text, simdjson::dom::element& out) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  auto& st = state();
  auto run = [&st, &out](std::string_view t) {
    if (t.size() <= retain_bytes) {
      if (st.padded.capacity() > retain_bytes + simdjson::SIMDJSON_PADDING) std::string().swap(st.padded);
      if (st.parser.capacity() > retain_bytes && st.parser.allocate(retain_bytes, max_depth))
        return simdjson::MEMALLOC;
    }
    st.padded.assign(t.data(), t.size());
    st.padded.append(simdjson::SIMDJSON_PADDING, '\0');
    return st.parser.parse(st.padded.data(), t.size(), false).get(out);
  };
  auto err = run(text);
  if (err == simdjson::NUMBER_ERROR) {
    // Rare (hostile or odd input): retry once with big integers as doubles.
    auto widened = widen_big_integers(text);
    if (widened.size() != text.size()) err = run(widened);
  }
  if (err == simdjson::DEPTH_ERROR) return parse_status::too_deep;
  return err ? parse_status::invalid : parse_status::ok;
}

std::size_t thread_capacity() { return std::max(state().parser.capacity(), state().padded.capacity()); }

namespace {

constexpr std::size_t pairwise_keys = 16;

// The path below `e` of its first repeated key. The path is put together
// on the way back up, so a body without a repeat allocates nothing.
std::optional<std::string> duplicate_in(simdjson::dom::element e) {
  if (e.is_object()) {
    simdjson::dom::object obj = e.get_object().value_unsafe();
    if (obj.size() <= pairwise_keys) {
      for (auto i = obj.begin(); i != obj.end(); ++i) {
        auto j = i;
        for (++j; j != obj.end(); ++j)
          if (i.key() == j.key()) return std::string(i.key());
      }
    } else {
      thread_local std::vector<std::string_view> keys;
      keys.clear();
      for (auto field : obj) keys.push_back(field.key);
      std::sort(keys.begin(), keys.end());
      auto it = std::adjacent_find(keys.begin(), keys.end());
      std::optional<std::string> dup;
      if (it != keys.end()) dup = std::string(*it);
      if (keys.capacity() > 4096) std::vector<std::string_view>().swap(keys);
      if (dup) return dup;
    }
    for (auto field : obj)
      if (field.value.is_object() || field.value.is_array())
        if (auto d = duplicate_in(field.value))
          return std::string(field.key) + (!d->empty() && d->front() == '[' ? "" : ".") + *d;
    return std::nullopt;
  }
  if (e.is_array()) {
    simdjson::dom::array list = e.get_array().value_unsafe();
    std::size_t index = 0;
    for (auto item : list) {
      if (item.is_object() || item.is_array())
        if (auto d = duplicate_in(item))
          return "[" + std::to_string(index) + "]" + (!d->empty() && d->front() == '[' ? "" : ".") + *d;
      ++index;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> duplicate_key(simdjson::dom::element root) { return duplicate_in(root); }

std::optional<simdjson::dom::element> find(simdjson::dom::object obj, std::string_view key) {
  std::optional<simdjson::dom::element> found;
  for (auto field : obj)
    if (field.key == key) found = field.value;
  return found;
}

}  // namespace maxsess::json_input
