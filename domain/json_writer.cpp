#include "domain/json_writer.hpp"

#include <charconv>

namespace maxsess {

namespace {

// Bytes that need no escaping and are complete UTF-8 characters on their own.
inline bool plain_ascii(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or,
// when it is invalid, -(length of its maximal valid prefix, at least 1):
// the Unicode "maximal subpart" rule, which is what nlohmann's decoder does
// (it restarts at the byte that broke a sequence).
int utf8_sequence(std::string_view s, std::size_t i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;  // a continuation byte, C0/C1 or F5..FF: never valid first
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return -k;
    auto b = static_cast<unsigned char>(s[i + k]);
    bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return -k;
  }
  return need + 1;
}

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  append_json_string_contents(out, s);
  out += '"';
}

}  // namespace

void append_json_string_contents(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::size_t i = 0;
  while (i < s.size()) {
    // The common case: a run of plain ASCII appended at once.
    std::size_t run = i;
    while (run < s.size() && plain_ascii(static_cast<unsigned char>(s[run]))) ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      int n = utf8_sequence(s, i);
      if (n > 0) {
        out.append(s.data() + i, static_cast<std::size_t>(n));
        i += static_cast<std::size_t>(n);
      } else {
        out += "\xEF\xBF\xBD";
        i += static_cast<std::size_t>(-n);
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
    ++i;
  }
}

json_writer& json_writer::key(std::string_view k) {
  separate();
  append_quoted(out_, k);
  out_ += ':';
  comma_ = false;
  return *this;
}

json_writer& json_writer::string(std::string_view v) {
  separate();
  append_quoted(out_, v);
  comma_ = true;
  return *this;
}

json_writer& json_writer::number(int64_t v) {
  separate();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  comma_ = true;
  return *this;
}

json_writer& json_writer::boolean(bool v) {
  separate();
  out_ += v ? "true" : "false";
  comma_ = true;
  return *this;
}

}  // namespace maxsess
