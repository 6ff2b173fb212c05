#include "net/access.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace maxsess::net {

bool same_secret(std::string_view a, std::string_view b) {
  // Fold every byte in, whatever the lengths: no early exit reveals where
  // the first difference is.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  // Keep the compiler from turning the loop into an early-exit compare.
  volatile unsigned char result = diff;
  return result == 0;
}

// --- addresses -------------------------------------------------------------------

std::optional<ip_address> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  // inet_pton stops at a NUL: "10.0.0.1\0junk" must not pass as 10.0.0.1.
  if (text.find_first_not_of("0123456789abcdefABCDEF.:") != std::string_view::npos) return std::nullopt;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  ip_address out;
  if (text.find(':') == std::string_view::npos) {
    // inet_pton takes dotted quads only (no "10.1", no octal), as wanted.
    if (inet_pton(AF_INET, buf, out.bytes.data()) != 1) return std::nullopt;
    out.v4 = true;
    return out;
  }
  if (inet_pton(AF_INET6, buf, out.bytes.data()) != 1) return std::nullopt;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(out.bytes.data(), mapped, 12) == 0) {
    std::memmove(out.bytes.data(), out.bytes.data() + 12, 4);
    std::fill(out.bytes.begin() + 4, out.bytes.end(), uint8_t{0});
    out.v4 = true;
  }
  return out;
}

bool cidr::contains(const ip_address& a) const {
  if (a.v4 != network.v4) return false;
  int bits = prefix;
  for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a.bytes[i] & mask) != network.bytes[i]) return false;
  }
  return true;
}

std::optional<cidr> parse_cidr(std::string_view text, std::string* why) {
  auto fail = [&](const char* what) -> std::optional<cidr> {
    if (why) *why = what;
    return std::nullopt;
  };
  const auto slash = text.find('/');
  auto addr = parse_ip(text.substr(0, slash));
  if (!addr) return fail("is not an IPv4 or IPv6 address (write e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)");
  // A mapped address written with a v6 prefix length would be ambiguous.
  if (addr->v4 && text.substr(0, slash).find(':') != std::string_view::npos && slash != std::string_view::npos)
    return fail("write an IPv4 network in dotted form (10.0.0.0/8), not as ::ffff:");
  const int max_prefix = addr->v4 ? 32 : 128;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos)
      return fail("has a bad prefix length after '/'");
    prefix = 0;
    for (char c : digits) prefix = prefix * 10 + (c - '0');
    if (prefix > max_prefix)
      return fail(addr->v4 ? "has a prefix length over 32" : "has a prefix length over 128");
  }
  cidr out{*addr, prefix};
  // Host bits must be zero: "10.0.0.1/8" is most likely a typo for /32.
  int bits = prefix;
  for (std::size_t i = 0; i < (addr->v4 ? 4u : 16u); ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    if ((addr->bytes[i] & ~mask) != 0) return fail("has bits set past the prefix length (write the network address, e.g. 10.0.0.0/8)");
  }
  return out;
}

bool valid_access_secret(std::string_view secret) {
  if (secret.size() < min_access_secret || secret.size() > max_access_secret) return false;
  return std::all_of(secret.begin(), secret.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
  });
}

// --- bearer tokens ------------------------------------------------------------------

namespace {
// Every candidate is compared (no early exit), each in constant time.
bool any_matches(const std::vector<std::string>& tokens, std::string_view presented) {
  bool found = false;
  for (const auto& t : tokens) found |= same_secret(t, presented);
  return found && !presented.empty();
}
}  // namespace

token_guard::token_guard(token_lists initial)
    : current_(std::make_shared<const token_lists>(std::move(initial))) {}

std::shared_ptr<const token_lists> token_guard::snapshot() const { return std::atomic_load(&current_); }

void token_guard::replace(token_lists next) {
  std::atomic_store(&current_, std::shared_ptr<const token_lists>(
                                   std::make_shared<const token_lists>(std::move(next))));
}

bool token_guard::admin_ok(std::string_view presented) const {
  return any_matches(snapshot()->admin, presented);
}

bool token_guard::client_ok(std::string_view presented) const {
  auto s = snapshot();
  return s->client.empty() || any_matches(s->client, presented);
}

std::size_t token_guard::admin_count() const { return snapshot()->admin.size(); }
std::size_t token_guard::client_count() const { return snapshot()->client.size(); }

// --- streamer calls -------------------------------------------------------------------

std::optional<streamer_calls> parse_streamer_calls(std::string_view text) {
  if (text == "open") return streamer_calls::open;
  if (text == "registered") return streamer_calls::registered;
  return std::nullopt;
}

const char* to_string(access_refusal r) {
  switch (r) {
    case access_refusal::none: return "none";
    case access_refusal::unknown_streamer: return "unknown_streamer";
    case access_refusal::source_not_allowed: return "source_not_allowed";
    case access_refusal::bad_secret: return "bad_secret";
    case access_refusal::unverified_streamer: return "unverified_streamer";
    case access_refusal::unregistered_source: return "unregistered_source";
  }
  return "unknown";
}

streamer_access::streamer_access(streamer_calls policy)
    : policy_(policy), current_(std::make_shared<const table>()) {}

std::shared_ptr<const streamer_access::table> streamer_access::snapshot() const {
  return std::atomic_load(&current_);
}

void streamer_access::replace(const std::vector<streamer>& all) {
  auto next = std::make_shared<table>();
  for (const auto& s : all) {
    entry e;
    e.id = s.id;
    e.host = s.host;
    e.sources_given = !s.allowed_sources.empty();
    for (const auto& text : s.allowed_sources)
      if (auto c = parse_cidr(text)) e.sources.push_back(*c);
    e.secrets = s.access_secrets;
    next->entries.push_back(std::move(e));
  }
  std::sort(next->entries.begin(), next->entries.end(),
            [](const entry& a, const entry& b) { return a.id < b.id; });
  std::atomic_store(&current_, std::shared_ptr<const table>(std::move(next)));
}

access_verdict streamer_access::check(const streamer_call& call) const {
  // The common case of an open deployment (every auth call on the bare
  // path) needs no lookup: it is served whoever calls.
  if (!call.host && policy_ == streamer_calls::open) return {access_refusal::none, 0};
  auto t = snapshot();
  const auto peer = parse_ip(call.remote);
  auto source_in = [&](const entry& e) {
    return peer && std::any_of(e.sources.begin(), e.sources.end(),
                               [&](const cidr& c) { return c.contains(*peer); });
  };
  if (call.host) {
    auto it = std::find_if(t->entries.begin(), t->entries.end(),
                           [&](const entry& e) { return e.host == *call.host; });
    if (it == t->entries.end()) return {access_refusal::unknown_streamer, 0};
    const entry& e = *it;
    if (e.sources_given && !source_in(e)) return {access_refusal::source_not_allowed, e.id};
    if (!e.secrets.empty()) {
      // A streamer with secrets needs one of them. One without ignores a
      // secret sent: Flussonic's URL can then be changed first, maxsess
      // second, with no refused call in between.
      if (!call.secret || !any_matches(e.secrets, *call.secret)) return {access_refusal::bad_secret, e.id};
    }
    if (policy_ == streamer_calls::registered && !e.sources_given && e.secrets.empty())
      return {access_refusal::unverified_streamer, e.id};
    return {access_refusal::none, e.id};
  }
  // No streamer named (the bare auth paths): an address in the allow-list of
  // a streamer that needs no secret identifies it.
  for (const auto& e : t->entries)
    if (e.sources_given && e.secrets.empty() && source_in(e)) return {access_refusal::none, e.id};
  return {access_refusal::unregistered_source, 0};  // registered policy (open returned above)
}

bool log_gate::should_log(std::chrono::steady_clock::time_point now, uint64_t& suppressed) {
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  int64_t next = next_ms_.load(std::memory_order_relaxed);
  if (ms < next || !next_ms_.compare_exchange_strong(next, ms + interval_ms_)) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  return true;
}

}  // namespace maxsess::net
