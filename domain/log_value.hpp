#pragma once
// The value of a log field: text, or an integer. Call sites write either
// (`{"account", id}`, `{"count", rows.size()}`): the constructors are
// implicit on purpose. An integer is formatted once, here, so the text
// format appends it as it did when call sites passed std::to_string(n);
// the JSON format writes it bare ("count":3, not "count":"3"), so log
// pipelines can compare and sum it (issue 9).
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

namespace maxsess {

class log_value {
 public:
  log_value(std::string text) : text_(std::move(text)) {}
  log_value(const char* text) : text_(text) {}
  template <typename T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  log_value(T n) : text_(std::to_string(n)), kind_(std::is_signed_v<T> ? kind::signed_int : kind::unsigned_int) {
    // A char is a character and a bool reads better as a word: neither may
    // turn silently into a number.
    static_assert(!std::is_same_v<T, bool>, "log a bool as \"true\"/\"false\"");
    static_assert(!std::is_same_v<T, char> && !std::is_same_v<T, signed char> &&
                      !std::is_same_v<T, unsigned char> && !std::is_same_v<T, char16_t> &&
                      !std::is_same_v<T, char32_t> && !std::is_same_v<T, wchar_t>,
                  "log a character as a string");
    bits_ = static_cast<uint64_t>(n);  // two's complement: as_signed() gives a signed one back
  }

  // As the text format writes it (an integer in decimal).
  const std::string& text() const { return text_; }
  bool is_integer() const { return kind_ != kind::text; }
  bool is_signed() const { return kind_ == kind::signed_int; }
  int64_t as_signed() const { return static_cast<int64_t>(bits_); }
  uint64_t as_unsigned() const { return bits_; }

  friend bool operator==(const log_value& a, const log_value& b) {
    return a.kind_ == b.kind_ && a.text_ == b.text_;
  }
  friend bool operator!=(const log_value& a, const log_value& b) { return !(a == b); }

 private:
  enum class kind : uint8_t { text, signed_int, unsigned_int };
  std::string text_;
  kind kind_ = kind::text;
  uint64_t bits_ = 0;
};

}  // namespace maxsess
