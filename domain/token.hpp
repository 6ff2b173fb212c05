#pragma once
// Link tokens (PRODUCT.md §4).
//
// auth_backend mode: a self-contained, signed token that any node verifies
// with no database read. HMAC-SHA256 under a cluster-wide secret; the secret
// spec holds several keys "kid:secret,kid2:secret2" — the first signs, all
// verify — so keys rotate without cutting anyone off. Bound to account,
// device, stream; carries its expiry (link_ttl, checked on new_session only).
// Wire form (URL-safe, no padding):
//   m2.<kid>.<expires unix ms>.<base64url(account \0 device \0 stream)>.<base64url(mac)>
// The MAC covers everything before the last dot. Verification compares MACs
// in constant time. Links are signed m2; m1 (the same with the expiry in
// whole seconds, issued before milliseconds were needed) still verifies, so
// no link in circulation is cut off by an upgrade.
//
// Why milliseconds: a token tells when it was issued (expiry - link_ttl),
// and a link issued before the device's current session started (e.g.
// before a kill) must never open a session again. Whole seconds could not
// tell a pre-kill link from the new one issued in the same second.
//
// securetoken mode: Flussonic checks the link itself (FLUSSONIC.md §4).
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/clock.hpp"

namespace maxsess {

struct token_claims {
  std::string kid;
  std::string account_id;
  std::string device_id;
  std::string stream;
  int64_t expires = 0;     // Unix seconds (rounded down)
  int64_t expires_ms = 0;  // Unix milliseconds (m1: expires * 1000)
  bool whole_seconds = false;  // an m1 token: its expiry is known to the second only
};

// When the link was issued: its expiry minus link_ttl. An m1 token's expiry
// is rounded down to the second, so it is taken as issued at the end of that
// second: an old-format link is never judged older than it is (a stale-link
// refusal must not hit the device's current link).
sys_time issued_at(const token_claims& c, std::chrono::milliseconds link_ttl);

// Our signed tokens (m1 or m2) as opposed to securetokens and foreign ones.
bool is_signed_token(std::string_view token);

enum class token_error { malformed, unknown_key, bad_signature, expired };
const char* to_string(token_error e);

// HMAC-SHA256 under one key with its padded key blocks hashed once (the
// precomputation RFC 2104 describes): a MAC then costs hashing the data and
// the inner digest, with no allocation, where OpenSSL's one-shot HMAC()
// fetches the digest, allocates its contexts and hashes the key blocks on
// every call (about 2 µs of each auth check, issue 7). Same result as
// hmac_sha256(key, data).
class hmac_sha256_key {
 public:
  explicit hmac_sha256_key(std::string_view key);
  std::array<unsigned char, 32> mac(std::string_view data) const;

 private:
  struct state;
  std::shared_ptr<const state> s_;
};

class link_signer {
 public:
  // Parses "kid:secret[,kid:secret...]". A spec with no "kid:" prefix is one
  // key with kid "k1". Returns nullopt and sets *why on an empty/invalid spec
  // (empty secret, kid not [A-Za-z0-9_-]{1,16}, duplicate kid).
  static std::optional<link_signer> from_spec(std::string_view spec, std::string* why = nullptr);

  std::string sign(const std::string& account_id, const std::string& device_id,
                   const std::string& stream, sys_time expires) const;

  // check_expiry=false for update_session (a long film is never cut off
  // because its link is old).
  std::variant<token_claims, token_error> verify(std::string_view token, sys_time now,
                                                 bool check_expiry) const;

  const std::string& signing_kid() const { return keys_.front().first; }

 private:
  std::vector<std::pair<std::string, std::string>> keys_;  // kid, secret; [0] signs
  std::vector<hmac_sha256_key> macs_;                      // one per key, same order
};

// Flussonic securetoken (FLUSSONIC.md §4):
//   hash  = sha1_hex(stream + ip + starttime + endtime + secret + salt [+ user_id])
//   token = hash + "-" + salt + "-" + endtime + "-" + starttime
// ip empty => the literal "no_check_ip" is used in its place.
std::string make_securetoken(const std::string& stream, const std::string& ip,
                             int64_t starttime, int64_t endtime, const std::string& secret,
                             const std::string& salt, const std::string& user_id = {});

// Random string of n letters and digits (OpenSSL RAND_bytes), for salts:
// no '-' or '_', since securetokens are split on '-'.
std::string random_token_string(std::size_t n);

// Low-level helpers, exposed for tests.
std::string base64_encode(std::string_view bytes);     // RFC 4648 §4, padded
std::string base64url_encode(std::string_view bytes);  // RFC 4648 §5, no padding
std::optional<std::string> base64url_decode(std::string_view text);
std::string hmac_sha256(std::string_view key, std::string_view data);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace maxsess
