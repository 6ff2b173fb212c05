#pragma once
// Checks of untrusted text that ends up stored or logged (issue 8): control
// characters, streamer hosts, http(s) URLs, and the redaction of a URL's
// userinfo wherever one may be printed. Pure functions, no CAF, no Beast:
// http_api calls them on request bodies, the logger and the Flussonic
// client on what they print.
#include <optional>
#include <string>
#include <string_view>

namespace maxsess {

// Index of the first C0 control character (U+0000–U+001F) or DEL (U+007F)
// in `s`, or npos. These never belong in a stored string: PostgreSQL's text
// parameters end at a NUL (a host "e\0vil" was stored as "e"), and the
// others break log lines, URLs and the JSON of other tools.
std::size_t find_control_char(std::string_view s);
inline bool has_control_char(std::string_view s) { return find_control_char(s) != std::string_view::npos; }

// A streamer host as used in the webhook path and matched against
// Flussonic's calls: a DNS name (RFC 1123 labels: 1–63 of [A-Za-z0-9-], not
// starting or ending with '-', at most 253 characters, a last label that is
// not all digits), an IPv4 literal (four decimal octets, no leading zeros)
// or an IPv6 literal (in brackets when a port follows: "[::1]:8080"), with
// an optional ":port" (1–65535, no leading zeros).
bool valid_streamer_host(std::string_view s);
constexpr std::size_t max_dns_name_length = 253;

// Why `url` is not an acceptable http:// or https:// URL for the streamer
// field `field` ("url", "api_url"), as a sentence naming the field; nullopt
// when it is fine. Refused: another scheme, control characters, userinfo
// ("user:pass@": the message says to use api_user/api_password), a host
// that valid_streamer_host refuses, and a path/query with spaces or bytes
// outside printable ASCII.
std::optional<std::string> http_url_problem(std::string_view field, std::string_view url);

// True when the URL's authority holds userinfo ("scheme://user:pass@host").
bool url_has_userinfo(std::string_view url);

// `text` with the userinfo of every "scheme://userinfo@host" in it replaced
// by "***": "flussonic http://a:b@h/x failed" -> "flussonic http://***@h/x
// failed". For whatever may hold a URL and gets printed (log lines, error
// messages that reach an API answer). Text without "://" comes back as is.
std::string redact_userinfo(std::string_view text);

}  // namespace maxsess
