#include "domain/json_input.hpp"

#include <algorithm>
#include <string>

namespace maxsess::json_input {

namespace {

simdjson::dom::parser& thread_parser() {
  // One per thread: CAF workers and Beast I/O threads each parse with their
  // own; its buffers grow to the largest body seen and are reused.
  thread_local simdjson::dom::parser p;
  return p;
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
  auto& p = thread_parser();
  auto err = p.parse(text.data(), text.size(), true).get(out);
  if (err == simdjson::NUMBER_ERROR) {
    // Rare (hostile or odd input): retry once with big integers as doubles.
    auto widened = widen_big_integers(text);
    if (widened.size() != text.size()) err = p.parse(widened.data(), widened.size(), true).get(out);
  }
  if (err == simdjson::DEPTH_ERROR) return parse_status::too_deep;
  return err ? parse_status::invalid : parse_status::ok;
}

std::optional<simdjson::dom::element> find(simdjson::dom::object obj, std::string_view key) {
  std::optional<simdjson::dom::element> found;
  for (auto field : obj)
    if (field.key == key) found = field.value;
  return found;
}

}  // namespace maxsess::json_input
