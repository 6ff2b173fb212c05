#pragma once
// The product's value types (PRODUCT.md §1). Plain structs: the actors own
// the behaviour, storage persists them, net renders them as JSON.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/clock.hpp"

namespace maxsess {

// --- identifiers -------------------------------------------------------------

// account_id / device_id: 1..64 chars of [A-Za-z0-9._:@-], first alnum.
bool valid_id(std::string_view s);
constexpr std::size_t max_id_length = 64;
// Stream names are looser (Flussonic names may hold '/'), but bounded and
// printable, no spaces, no '?'/'#' (they end up in a URL path).
bool valid_stream_name(std::string_view s);
constexpr std::size_t max_stream_length = 256;

// --- enums with their wire names ---------------------------------------------

enum class session_status { pending, active, ended, killed };
const char* to_string(session_status s);
std::optional<session_status> parse_session_status(std::string_view s);
// pending + active hold a slot (when the content is counted).
inline bool holds_slot(session_status s) {
  return s == session_status::pending || s == session_status::active;
}

enum class content_type { live, timeshift, catchup, npvr, vod, radio };
const char* to_string(content_type c);
// Returns nullopt for unknown names; "multicast" is recognised by the caller
// (it is refused as unsupported_content, not as a bad request).
std::optional<content_type> parse_content_type(std::string_view s);
// radio is never limited and never counted.
inline bool is_counted(content_type c) { return c != content_type::radio; }

enum class end_reason { user, never_started, stale, flussonic_closed, gone, killed_over_limit, killed_by_operator };
const char* to_string(end_reason r);
std::optional<end_reason> parse_end_reason(std::string_view s);

enum class link_mode { auth_backend, securetoken };
const char* to_string(link_mode m);
std::optional<link_mode> parse_link_mode(std::string_view s);

// --- records -----------------------------------------------------------------

struct content_ref {
  content_type type = content_type::live;
  std::string stream;
  std::optional<int64_t> start;     // Unix seconds (timeshift/catchup/npvr)
  std::optional<int64_t> duration;  // seconds
};

// One Flussonic play session bound to a device session (a device that zaps
// or reconnects may have had several).
struct flussonic_session {
  std::string id;   // Flussonic's session_id (UUID)
  std::string ip;
  bool open = true;
  sys_time updated_at{};
  std::string stream;  // what this Flussonic session plays (a zapping device has several)
};

// One per (account, device). Every field of PRODUCT.md §1.
struct playback_session {
  std::string account_id;
  std::string device_id;
  session_status status = session_status::pending;
  content_ref content;
  int64_t streamer_id = 0;
  std::string client_ip;
  std::vector<flussonic_session> flussonic;
  std::string token;
  sys_time started_at{};
  sys_time updated_at{};
  std::optional<sys_time> ended_at;
  int64_t duration_s = 0;
  int64_t bytes = 0;
  std::optional<end_reason> reason;
  bool exempt = false;  // recorded while the account was exempt: never counted
  // Opened in shadow mode although enforce would have refused it (or killed
  // it for the limit): it plays, is shown, and is never counted, so later
  // decisions stay what enforce would have made (docs/shadow.md).
  bool over_limit = false;
};

// Settings of an account as stored (absent row = defaults from config).
struct account_settings {
  std::string account_id;
  int64_t max_sessions = 0;  // 0 = unlimited
  bool exempt = false;
};

struct streamer {
  int64_t id = 0;
  std::string host;
  std::string url;
  std::string api_url;
  std::string api_user;
  std::string api_password;
  // An https api_url's certificate is checked (chain and name) unless false.
  bool api_tls_verify = true;
  link_mode mode = link_mode::auth_backend;
  std::string securetoken_secret;
  std::string link_template;  // empty = "{url}/{stream}/index.m3u8?token={token}"
  int64_t capacity = 0;        // 0 = no cap
  bool enabled = true;
  // Who may call the streamer-side endpoints as this streamer
  // (docs/security.md): CIDRs of its source addresses (empty = any), and
  // the secrets its URLs carry (empty = none; several while one rotates).
  std::vector<std::string> allowed_sources;
  std::vector<std::string> access_secrets;
};

}  // namespace maxsess

namespace maxsess {
// Accounts map to a fixed number of shards (cluster ownership unit). Stable
// across builds and platforms: FNV-1a 64 of the id, modulo shards.
int shard_of(std::string_view account_id, int shards);
// FNV-1a 64 (the hash shard_of uses).
uint64_t fnv1a64(std::string_view text);
}  // namespace maxsess
