#include "domain/validate.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace maxsess {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

// 1..65535, decimal, no sign, no leading zero (one spelling per port, so
// "h:80" and "h:080" cannot be two streamers).
bool valid_port(std::string_view s) {
  if (!all_digits(s) || s.size() > 5 || s.front() == '0') return false;
  unsigned long n = 0;
  for (char c : s) n = n * 10 + static_cast<unsigned long>(c - '0');
  return n >= 1 && n <= 65535;
}

// Four decimal octets 0..255 without leading zeros ("010" is octal to
// inet_aton and decimal to others: refused rather than guessed).
bool valid_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    auto dot = s.find('.', i);
    auto part = s.substr(i, dot == std::string_view::npos ? std::string_view::npos : dot - i);
    if (!all_digits(part) || part.size() > 3 || (part.size() > 1 && part.front() == '0')) return false;
    unsigned n = 0;
    for (char c : part) n = n * 10 + static_cast<unsigned>(c - '0');
    if (n > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  return parts == 4;
}

bool valid_ipv6(std::string_view s) {
  // INET6_ADDRSTRLEN bounds the longest spelling (with an embedded IPv4).
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return false;
  for (char c : s)
    if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
      return false;  // no zone ids ("%eth0"), nothing inet_pton might skip
  char text[INET6_ADDRSTRLEN];
  std::memcpy(text, s.data(), s.size());
  text[s.size()] = '\0';
  unsigned char addr[16];
  return inet_pton(AF_INET6, text, addr) == 1;
}

bool valid_dns_label(std::string_view l) {
  if (l.empty() || l.size() > 63) return false;
  if (l.front() == '-' || l.back() == '-') return false;
  for (char c : l)
    if (!is_alnum(c) && c != '-') return false;
  return true;
}

bool valid_dns_name(std::string_view s) {
  if (s.empty() || s.size() > max_dns_name_length) return false;
  std::size_t i = 0;
  std::string_view last;
  while (true) {
    auto dot = s.find('.', i);
    last = s.substr(i, dot == std::string_view::npos ? std::string_view::npos : dot - i);
    if (!valid_dns_label(last)) return false;  // also an empty label: "a..b", ".a", "a."
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  // A name whose last label is all digits would read as an IPv4 address
  // (RFC 3696 §2: top-level domains are not all-numeric): "999.1.1.1".
  return !all_digits(last);
}

// Ends the authority of a URL for redaction: generous on purpose (a '\' or
// an '@' in a path only makes the redaction wider, never lets userinfo out).
bool ends_authority(char c) {
  auto u = static_cast<unsigned char>(c);
  return c == '/' || c == '?' || c == '#' || u <= 0x20 || u == 0x7f || c == '"' || c == '\'' ||
         c == '<' || c == '>';
}

}  // namespace

std::size_t find_control_char(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) return i;
  }
  return std::string_view::npos;
}

bool valid_streamer_host(std::string_view s) {
  if (s.empty()) return false;
  if (s.front() == '[') {  // [IPv6] or [IPv6]:port
    auto close = s.find(']');
    if (close == std::string_view::npos || !valid_ipv6(s.substr(1, close - 1))) return false;
    auto after = s.substr(close + 1);
    return after.empty() || (after.front() == ':' && valid_port(after.substr(1)));
  }
  auto first_colon = s.find(':');
  if (first_colon != std::string_view::npos && s.find(':', first_colon + 1) != std::string_view::npos)
    return valid_ipv6(s);  // two colons or more: a bare IPv6 literal, no port
  auto name = s.substr(0, first_colon);
  if (first_colon != std::string_view::npos && !valid_port(s.substr(first_colon + 1))) return false;
  return valid_ipv4(name) || valid_dns_name(name);
}

bool url_has_userinfo(std::string_view url) {
  auto scheme_end = url.find("://");
  auto rest = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  return authority.find('@') != std::string_view::npos;
}

std::optional<std::string> http_url_problem(std::string_view field, std::string_view url) {
  const std::string f(field);
  if (has_control_char(url)) return f + " must not contain control characters";
  std::string_view rest;
  if (url.rfind("http://", 0) == 0)
    rest = url.substr(7);
  else if (url.rfind("https://", 0) == 0)
    rest = url.substr(8);
  else
    return f + " must start with http:// or https://";
  auto path_at = rest.find_first_of("/?#");
  auto authority = rest.substr(0, path_at);
  if (authority.find('@') != std::string_view::npos)
    return f + " must not contain credentials (user:password@): put them in api_user and api_password";
  if (!valid_streamer_host(authority))
    return f + " must be http(s)://host[:port][/path] with a DNS name, an IPv4 address or an [IPv6] address";
  if (path_at != std::string_view::npos)
    for (char c : rest.substr(path_at)) {
      auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7f)
        return f + " must not contain spaces or characters outside printable ASCII in its path (percent-encode them)";
    }
  return std::nullopt;
}

std::string redact_userinfo(std::string_view text) {
  auto p = text.find("://");
  if (p == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  while (p != std::string_view::npos) {
    std::size_t begin = p + 3, end = begin;
    while (end < text.size() && !ends_authority(text[end])) ++end;
    auto at = text.substr(begin, end - begin).rfind('@');
    if (at != std::string_view::npos && at > 0) {
      out.append(text.substr(copied, begin - copied));
      out += "***";
      copied = begin + at;  // from the '@' on
    }
    p = text.find("://", end);
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace maxsess
