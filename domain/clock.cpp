#include "domain/clock.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <ctime>

namespace maxsess {

namespace {

// Floor division, so times before 1970 split into (seconds, ms) correctly.
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil): no timegm, no TZ environment, no locale.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n digits at s[pos..]; advances pos.
bool read_digits(const std::string& s, std::size_t& pos, std::size_t n, int64_t& out) {
  if (pos + n > s.size())
    return false;
  int64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!is_digit(c))
      return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool expect(const std::string& s, std::size_t& pos, char a, char b = '\0') {
  if (pos >= s.size())
    return false;
  char c = s[pos];
  if (c != a && (b == '\0' || c != b))
    return false;
  ++pos;
  return true;
}

}  // namespace

std::string to_rfc3339(sys_time t) {
  const int64_t ms = to_unix_ms(t);
  const int64_t secs = floor_div(ms, 1000);
  const int64_t frac = ms - secs * 1000;
  const auto tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (gmtime_r(&tt, &tm) == nullptr)
    return {};
  // The digits written here, not by snprintf (its format parsing was 2 % of
  // the worker threads' CPU per approval, issue 7). sys_time counts
  // nanoseconds in 64 bits, so the year always has four digits (1677-2262).
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&out](std::size_t at, int value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10)
      out[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
  };
  put(0, tm.tm_year + 1900, 4);
  put(5, tm.tm_mon + 1, 2);
  put(8, tm.tm_mday, 2);
  put(11, tm.tm_hour, 2);
  put(14, tm.tm_min, 2);
  put(17, tm.tm_sec, 2);
  put(20, static_cast<int>(frac), 3);
  return out;
}

// Accepts YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm); 'T'/'Z' in either
// case (RFC 3339 §5.6 allows it). Fractions beyond nanoseconds are truncated.
std::optional<sys_time> parse_rfc3339(const std::string& s) {
  std::size_t pos = 0;
  int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(s, pos, 4, year) || !expect(s, pos, '-') || !read_digits(s, pos, 2, month)
      || !expect(s, pos, '-') || !read_digits(s, pos, 2, day) || !expect(s, pos, 'T', 't')
      || !read_digits(s, pos, 2, hour) || !expect(s, pos, ':')
      || !read_digits(s, pos, 2, minute) || !expect(s, pos, ':')
      || !read_digits(s, pos, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12)
    return std::nullopt;
  if (day < 1 || day > days_in_month(year, static_cast<unsigned>(month)))
    return std::nullopt;
  // 60 is a leap second: it lands on the next minute's first second.
  if (hour > 23 || minute > 59 || second > 60)
    return std::nullopt;

  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && is_digit(s[pos])) {
      if (digits < 9)
        nanos = nanos * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0)
      return std::nullopt;
    for (std::size_t i = digits; i < 9; ++i)
      nanos *= 10;
  }

  int64_t offset_s = 0;
  if (pos >= s.size())
    return std::nullopt;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int64_t sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t oh = 0, om = 0;
    if (!read_digits(s, pos, 2, oh) || !expect(s, pos, ':') || !read_digits(s, pos, 2, om))
      return std::nullopt;
    if (oh > 23 || om > 59)
      return std::nullopt;
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;

  const int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  // Local time minus its offset is UTC.
  const int64_t unix_s = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  const auto since_epoch = std::chrono::seconds(unix_s) + std::chrono::nanoseconds(nanos);
  return sys_time{std::chrono::duration_cast<sys_time::duration>(since_epoch)};
}

int64_t to_unix_seconds(sys_time t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

int64_t to_unix_ms(sys_time t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

sys_time from_unix_ms(int64_t ms) {
  // Saturates: times from outside (a streamer's events, Flussonic's API)
  // can be any int64, and milliseconds beyond the year 2262 overflow
  // sys_time's int64 nanoseconds (undefined behaviour; found by the
  // webhook_batch fuzz target).
  constexpr int64_t limit = std::numeric_limits<int64_t>::max() / 1'000'000;
  ms = std::clamp(ms, -limit, limit);
  return sys_time{std::chrono::duration_cast<sys_time::duration>(std::chrono::milliseconds(ms))};
}

}  // namespace maxsess
