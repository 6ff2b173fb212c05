#pragma once
// JSON written straight into one reserved std::string, without building a
// DOM: the hot answers (link decisions, auth, webhook batches, errors) used
// to build nlohmann::json trees (std::map nodes) only to dump and destroy
// them. One escaping rule for every JSON string the daemon writes.
#include <cstdint>
#include <string>
#include <string_view>

namespace maxsess {

// Appends `s` as the contents of a JSON string (no quotes), exactly as
// nlohmann's dump(-1, ' ', false, error_handler_t::replace) writes it: '"',
// '\\' and control characters escaped (\b \f \n \r \t, else \u00xx), every
// other byte of valid UTF-8 as is, and each invalid UTF-8 sequence (its
// maximal valid prefix, or one bad byte) as U+FFFD. Never throws on bad
// input: text echoed back (a host, a streamer's error) may hold anything.
void append_json_string_contents(std::string& out, std::string_view s);

// Writes one JSON value. Commas are placed by the writer; the caller
// writes keys in the order it wants them (the hot answers keep nlohmann's
// sorted order, so their bytes did not change).
class json_writer {
 public:
  explicit json_writer(std::size_t reserve = 256) { out_.reserve(reserve); }

  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }
  json_writer& key(std::string_view k);
  // Distinct names, not overloads: a string literal would pick bool.
  json_writer& string(std::string_view v);
  json_writer& number(int64_t v);
  json_writer& boolean(bool v);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate() {
    if (comma_) out_ += ',';
  }
  json_writer& open(char c) {
    separate();
    out_ += c;
    comma_ = false;
    return *this;
  }
  json_writer& close(char c) {
    out_ += c;
    comma_ = true;
    return *this;
  }
  std::string out_;
  bool comma_ = false;  // a value was written at this level: the next one needs ','
};

}  // namespace maxsess
