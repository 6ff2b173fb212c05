#include "domain/token.hpp"

// hmac_sha256_key keeps SHA-256 states between calls, which only the
// low-level SHA256_* functions allow without an allocation per copy; they
// are deprecated in OpenSSL 3 but present (Debian 12's 3.0), and this is the
// only file that uses them.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <stdexcept>

#include "domain/model.hpp"

// OpenSSL failures in HMAC/SHA-1/RAND_bytes mean a broken library or an
// exhausted entropy source; they throw std::runtime_error rather than hand out
// a weak token.

namespace maxsess {

namespace {

constexpr std::string_view token_version = "m2";         // signed now: expiry in ms
constexpr std::string_view seconds_version = "m1";       // still verified: expiry in s
constexpr std::string_view default_kid = "k1";
constexpr std::size_t max_kid_length = 16;
// Longest valid token is about 600 chars (64 + 64 + 256 bytes of payload);
// anything much longer is refused before any decoding work.
constexpr std::size_t max_token_length = 1024;

int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

bool valid_kid(std::string_view kid) {
  if (kid.empty() || kid.size() > max_kid_length)
    return false;
  for (char c : kid) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto at = s.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

// The first N pieces of `s` split at `sep` without allocating; false when
// there are not exactly N (a token has a fixed shape, and verify runs on
// every auth check: the vector of split() was ≈ 1.4 % of that path).
template <std::size_t N>
bool split_exact(std::string_view s, char sep, std::array<std::string_view, N>& out) {
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < N; ++i) {
    auto at = s.find(sep, start);
    if (at == std::string_view::npos) return false;
    out[i] = s.substr(start, at - start);
    start = at + 1;
  }
  out[N - 1] = s.substr(start);
  return out[N - 1].find(sep) == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

// Non-negative decimal that fits int64_t.
std::optional<int64_t> parse_unsigned(std::string_view s) {
  if (s.empty() || s.size() > 19)
    return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    int d = c - '0';
    if (v > (INT64_MAX - d) / 10)
      return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

const unsigned char* bytes_of(std::string_view s) {
  // Never hand OpenSSL a null pointer, even for empty input.
  static const unsigned char empty = 0;
  return s.empty() ? &empty : reinterpret_cast<const unsigned char*>(s.data());
}

std::string sha1_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes_of(data), data.size(), md, &len, EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("SHA-1 failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 0x0f]);
  }
  return out;
}

void set_why(std::string* why, std::string text) {
  if (why != nullptr)
    *why = std::move(text);
}

}  // namespace

const char* to_string(token_error e) {
  switch (e) {
    case token_error::malformed:
      return "malformed";
    case token_error::unknown_key:
      return "unknown_key";
    case token_error::bad_signature:
      return "bad_signature";
    case token_error::expired:
      return "expired";
  }
  return "unknown";
}

// --- low-level helpers -------------------------------------------------------

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // + the NUL EVP writes
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

// Strict: no padding, no foreign characters, and the unused low bits of the
// last character must be zero, so every byte string has exactly one encoding
// (a token cannot be altered into another accepted spelling).
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = b64url_value(c);
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), bytes_of(key), static_cast<int>(key.size()), bytes_of(data),
           data.size(), md, &len)
      == nullptr)
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(md), len);
}

struct hmac_sha256_key::state {
  SHA256_CTX inner;  // after (key ^ ipad)
  SHA256_CTX outer;  // after (key ^ opad)
};

hmac_sha256_key::hmac_sha256_key(std::string_view key) {
  constexpr std::size_t block = 64;
  unsigned char k[block] = {};
  if (key.size() > block) {  // RFC 2104: a longer key is hashed first
    SHA256(bytes_of(key), key.size(), k);
  } else {
    std::copy(key.begin(), key.end(), reinterpret_cast<char*>(k));
  }
  unsigned char pad[block];
  auto s = std::make_shared<state>();
  for (std::size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x36;
  if (SHA256_Init(&s->inner) != 1 || SHA256_Update(&s->inner, pad, block) != 1)
    throw std::runtime_error("SHA-256 failed");
  for (std::size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x5c;
  if (SHA256_Init(&s->outer) != 1 || SHA256_Update(&s->outer, pad, block) != 1)
    throw std::runtime_error("SHA-256 failed");
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
  s_ = std::move(s);
}

std::array<unsigned char, 32> hmac_sha256_key::mac(std::string_view data) const {
  std::array<unsigned char, 32> out{};
  SHA256_CTX c = s_->inner;  // a plain struct: copied, not allocated
  unsigned char inner[SHA256_DIGEST_LENGTH];
  if (SHA256_Update(&c, bytes_of(data), data.size()) != 1 || SHA256_Final(inner, &c) != 1)
    throw std::runtime_error("SHA-256 failed");
  c = s_->outer;
  if (SHA256_Update(&c, inner, sizeof inner) != 1 || SHA256_Final(out.data(), &c) != 1)
    throw std::runtime_error("SHA-256 failed");
  OPENSSL_cleanse(&c, sizeof c);
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // The length is not secret (a MAC's length is public); only the content
  // comparison must not leak where the first difference is.
  if (a.size() != b.size())
    return false;
  return CRYPTO_memcmp(bytes_of(a), bytes_of(b), a.size()) == 0;
}

// --- link_signer -------------------------------------------------------------

std::optional<link_signer> link_signer::from_spec(std::string_view spec, std::string* why) {
  spec = trim(spec);
  if (spec.empty()) {
    set_why(why, "token secret is empty");
    return std::nullopt;
  }
  link_signer out;
  if (spec.find(':') == std::string_view::npos) {
    out.keys_.emplace_back(std::string(default_kid), std::string(spec));
    out.macs_.emplace_back(spec);
    return out;
  }
  std::set<std::string_view> seen;
  std::size_t index = 0;
  for (auto entry : split(spec, ',')) {
    ++index;
    entry = trim(entry);
    auto colon = entry.find(':');
    if (colon == std::string_view::npos) {
      set_why(why, "token secret entry " + std::to_string(index)
                       + " is not \"kid:secret\" (several keys are written "
                         "\"kid1:secret1,kid2:secret2\")");
      return std::nullopt;
    }
    auto kid = entry.substr(0, colon);
    auto secret = entry.substr(colon + 1);
    if (!valid_kid(kid)) {
      set_why(why, "token secret entry " + std::to_string(index) + ": key id \"" + std::string(kid)
                       + "\" must be 1-16 characters of [A-Za-z0-9_-]");
      return std::nullopt;
    }
    if (secret.empty()) {
      set_why(why, "token secret entry " + std::to_string(index) + ": key \"" + std::string(kid)
                       + "\" has an empty secret");
      return std::nullopt;
    }
    if (!seen.insert(kid).second) {
      set_why(why, "token secret: key id \"" + std::string(kid) + "\" appears more than once");
      return std::nullopt;
    }
    out.keys_.emplace_back(std::string(kid), std::string(secret));
    out.macs_.emplace_back(secret);
  }
  return out;
}

std::string link_signer::sign(const std::string& account_id, const std::string& device_id,
                              const std::string& stream, sys_time expires) const {
  if (keys_.empty())
    throw std::logic_error("link_signer::sign without a key");
  const auto& kid = keys_.front().first;
  std::string payload;
  payload.reserve(account_id.size() + device_id.size() + stream.size() + 2);
  payload.append(account_id).push_back('\0');
  payload.append(device_id).push_back('\0');
  payload.append(stream);

  std::string token;
  token.append(token_version).push_back('.');
  token.append(kid).push_back('.');
  token.append(std::to_string(to_unix_ms(expires))).push_back('.');
  token.append(base64url_encode(payload));
  // The key's precomputed pad states (as verify uses): the one-shot HMAC()
  // fetched SHA-256 and set up both pads on every link (4 % of the worker
  // threads' CPU per approval, issue 7).
  const auto mac = macs_.front().mac(token);
  token.push_back('.');
  token.append(base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size())));
  return token;
}

std::variant<token_claims, token_error> link_signer::verify(std::string_view token, sys_time now,
                                                           bool check_expiry) const {
  if (token.empty() || token.size() > max_token_length)
    return token_error::malformed;
  std::array<std::string_view, 5> parts;
  if (!split_exact(token, '.', parts) || (parts[0] != token_version && parts[0] != seconds_version) ||
      !valid_kid(parts[1]))
    return token_error::malformed;
  const bool whole_seconds = parts[0] == seconds_version;
  const auto expires = parse_unsigned(parts[2]);
  // The expiry in ms must fit int64_t too (m1: seconds * 1000).
  if (!expires || (whole_seconds && *expires > INT64_MAX / 1000))
    return token_error::malformed;
  const int64_t expires_ms = whole_seconds ? *expires * 1000 : *expires;
  const auto payload = base64url_decode(parts[3]);
  const auto mac = base64url_decode(parts[4]);
  if (!payload || !mac)
    return token_error::malformed;
  std::array<std::string_view, 3> fields;
  if (!split_exact(*payload, '\0', fields) || !valid_id(fields[0]) || !valid_id(fields[1])
      || !valid_stream_name(fields[2]))
    return token_error::malformed;

  const hmac_sha256_key* key = nullptr;
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i].first == parts[1]) {
      key = &macs_[i];
      break;
    }
  }
  if (key == nullptr)
    return token_error::unknown_key;

  const auto signed_len = token.size() - parts[4].size() - 1;
  const auto expected = key->mac(token.substr(0, signed_len));
  if (!constant_time_equal(std::string_view(reinterpret_cast<const char*>(expected.data()), expected.size()),
                           *mac))
    return token_error::bad_signature;

  if (check_expiry && (whole_seconds ? to_unix_seconds(now) >= *expires : to_unix_ms(now) >= expires_ms))
    return token_error::expired;

  token_claims claims;
  claims.kid = std::string(parts[1]);
  claims.account_id = std::string(fields[0]);
  claims.device_id = std::string(fields[1]);
  claims.stream = std::string(fields[2]);
  claims.expires_ms = expires_ms;
  claims.expires = expires_ms / 1000;
  claims.whole_seconds = whole_seconds;
  return claims;
}

sys_time issued_at(const token_claims& c, std::chrono::milliseconds link_ttl) {
  auto expiry = from_unix_ms(c.expires_ms);
  if (c.whole_seconds) expiry += std::chrono::milliseconds(999);
  return expiry - link_ttl;
}

bool is_signed_token(std::string_view token) {
  return token.size() > 3 && token[2] == '.' &&
         (token.substr(0, 2) == token_version || token.substr(0, 2) == seconds_version);
}

// --- securetoken -------------------------------------------------------------

std::string make_securetoken(const std::string& stream, const std::string& ip, int64_t starttime,
                             int64_t endtime, const std::string& secret, const std::string& salt,
                             const std::string& user_id) {
  const std::string start = std::to_string(starttime);
  const std::string end = std::to_string(endtime);
  std::string input;
  input.append(stream);
  input.append(ip.empty() ? std::string("no_check_ip") : ip);
  input.append(start);
  input.append(end);
  input.append(secret);
  input.append(salt);
  input.append(user_id);
  return sha1_hex(input) + "-" + salt + "-" + end + "-" + start;
}

std::string random_token_string(std::size_t n) {
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    const std::size_t want = std::min(sizeof buf, n - out.size());
    if (RAND_bytes(buf, static_cast<int>(want)) != 1)
      throw std::runtime_error("RAND_bytes failed");
    // 62 symbols: letters and digits only, because a securetoken is split
    // on '-' by Flussonic. Bytes >= 248 are dropped so 256 % 62 causes no bias.
    static constexpr char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (std::size_t i = 0; i < want && out.size() < n; ++i)
      if (buf[i] < 248) out.push_back(alnum[buf[i] % 62]);
  }
  return out;
}

}  // namespace maxsess
