#pragma once
// Who may call what (docs/security.md). No CAF and no sockets here, so every
// rule is unit-tested alone (tests/unit/net/access_test.cpp).
//
// - Bearer tokens of the admin and device APIs: several valid at once (so a
//   token rotates without cutting anyone off), replaced as a whole on SIGHUP.
// - The streamer side (Flussonic's auth backend calls, event webhooks): a
//   per-streamer allow-list of source addresses and per-streamer shared
//   secrets carried in the URL path Flussonic is configured with.
//
// Both live in immutable snapshots behind an atomically swapped shared_ptr:
// readers (the HTTP I/O threads) never wait for a writer (SIGHUP on the main
// thread, admin changes on a database thread), which builds the next snapshot
// aside and swaps it in whole. A reader sees the old set or the new one,
// never a mix.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.hpp"

namespace maxsess::net {

// Equal in constant time for inputs of equal length (the time depends on
// the lengths only, never on where the first difference is).
bool same_secret(std::string_view a, std::string_view b);

// --- addresses ------------------------------------------------------------------

// An IPv4 or IPv6 address as bytes; an IPv4-mapped IPv6 address
// (::ffff:10.0.0.1) is read as the IPv4 address, as the HTTP server reports
// such peers.
struct ip_address {
  std::array<uint8_t, 16> bytes{};  // IPv4: the first 4
  bool v4 = false;
};
std::optional<ip_address> parse_ip(std::string_view text);

// "10.0.0.0/8", "192.0.2.7" (= /32), "2001:db8::/32", "::1" (= /128).
struct cidr {
  ip_address network;
  int prefix = 0;
  bool contains(const ip_address& a) const;
};
// Host bits past the prefix must be zero ("10.0.0.1/8" is refused: it
// usually means a typo). On failure `why` says what is wrong.
std::optional<cidr> parse_cidr(std::string_view text, std::string* why = nullptr);

// --- streamer secrets -------------------------------------------------------------

// A streamer's access secret: 16-128 of A-Z a-z 0-9 - _ . ~ (URL-unreserved,
// so it survives any URL handling unescaped, and never holds a '/' or '?').
constexpr std::size_t min_access_secret = 16;
constexpr std::size_t max_access_secret = 128;
constexpr std::size_t max_access_secrets = 4;    // per streamer: rotation needs 2
constexpr std::size_t max_allowed_sources = 64;  // per streamer
bool valid_access_secret(std::string_view secret);

// --- bearer tokens ------------------------------------------------------------------

struct token_lists {
  std::vector<std::string> admin;   // empty: every admin call is refused
  std::vector<std::string> client;  // empty: the device API is open
};

class token_guard {
 public:
  explicit token_guard(token_lists initial = {});
  void replace(token_lists next);
  // Compares with every token of the snapshot (no early exit), each in
  // constant time.
  bool admin_ok(std::string_view presented) const;
  bool client_ok(std::string_view presented) const;  // true when the device API is open
  std::size_t admin_count() const;
  std::size_t client_count() const;

 private:
  std::shared_ptr<const token_lists> snapshot() const;
  std::shared_ptr<const token_lists> current_;  // std::atomic_load / atomic_store only
};

// --- streamer calls -------------------------------------------------------------------

// security.streamer_calls: what happens to a streamer-side call that does
// not prove which registered streamer it comes from.
//   open: such calls are served (no per-streamer check can apply); calls that
//         name a streamer are checked against its allow-list and secrets.
//   registered: refused. A call proves its streamer by coming from an address
//         in that streamer's allowed_sources and/or carrying one of its
//         access_secrets in the path; a streamer with neither cannot be
//         verified, so calls naming it are refused too.
enum class streamer_calls { open, registered };
std::optional<streamer_calls> parse_streamer_calls(std::string_view text);

enum class access_refusal {
  none,
  unknown_streamer,     // the path names a host no streamer is registered with
  source_not_allowed,   // the peer address is not in the named streamer's allowed_sources
  bad_secret,           // the named streamer has secrets; the path carried none of them
  unverified_streamer,  // registered policy, the named streamer has neither check
  unregistered_source,  // registered policy, no streamer named, no allow-list matched
};
const char* to_string(access_refusal r);  // the snake_case names above

struct access_verdict {
  access_refusal refusal = access_refusal::none;
  int64_t streamer_id = 0;  // the streamer the call was matched to, 0 when none
  bool ok() const { return refusal == access_refusal::none; }
};

struct streamer_call {
  std::string_view remote;                  // the peer address as the server reports it
  std::optional<std::string_view> host;     // the streamer host named in the path
  std::optional<std::string_view> secret;   // the secret segment of the path
};

class streamer_access {
 public:
  explicit streamer_access(streamer_calls policy = streamer_calls::open);
  // Builds the next snapshot from the registered streamers and swaps it in.
  // A source that does not parse (never stored by the API) matches nothing.
  void replace(const std::vector<streamer>& all);
  access_verdict check(const streamer_call& call) const;
  streamer_calls policy() const { return policy_; }

 private:
  struct entry {
    int64_t id = 0;
    std::string host;
    std::vector<cidr> sources;
    bool sources_given = false;  // allowed_sources non-empty (even if none parsed)
    std::vector<std::string> secrets;
  };
  struct table {
    std::vector<entry> entries;  // ordered by id
  };
  std::shared_ptr<const table> snapshot() const;
  streamer_calls policy_;
  std::shared_ptr<const table> current_;  // std::atomic_load / atomic_store only
};

// At most one log line per `interval` for a flood of similar events (refused
// streamer calls): should_log() says whether to log this one, and how many
// were let pass silently since the last line.
class log_gate {
 public:
  explicit log_gate(std::chrono::milliseconds interval) : interval_ms_(interval.count()) {}
  bool should_log(std::chrono::steady_clock::time_point now, uint64_t& suppressed);

 private:
  int64_t interval_ms_;
  std::atomic<int64_t> next_ms_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace maxsess::net
