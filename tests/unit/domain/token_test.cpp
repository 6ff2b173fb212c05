#include "domain/token.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace maxsess {
namespace {

using std::chrono::seconds;

sys_time at(int64_t unix_s) { return sys_time{} + seconds(unix_s); }

link_signer signer(const char* spec) {
  std::string why;
  auto s = link_signer::from_spec(spec, &why);
  EXPECT_TRUE(s.has_value()) << spec << ": " << why;
  return s ? *s : *link_signer::from_spec("fallback");
}

token_error error_of(const std::variant<token_claims, token_error>& r) {
  EXPECT_TRUE(std::holds_alternative<token_error>(r)) << "token verified unexpectedly";
  return std::holds_alternative<token_error>(r) ? std::get<token_error>(r)
                                                 : token_error::malformed;
}

// The parts of a token, for building tampered ones.
std::vector<std::string> parts_of(const std::string& token) {
  std::vector<std::string> out(1);
  for (char c : token) {
    if (c == '.')
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i)
      out.push_back('.');
    out += parts[i];
  }
  return out;
}

// Signs any text the way link_signer does, to build well-MACed bad tokens.
std::string with_mac(const std::string& secret, const std::string& signed_part) {
  return signed_part + "." + base64url_encode(hmac_sha256(secret, signed_part));
}

std::string payload(const std::string& a, const std::string& d, const std::string& s) {
  return base64url_encode(a + std::string(1, '\0') + d + std::string(1, '\0') + s);
}

constexpr int64_t exp_s = 1700000000;

// Computed independently with Python's hmac/base64:
//   signed = "m1.k1.1700000000." + b64url(b"alice\0stb-1\0live/ch1")
//   token  = signed + "." + b64url(hmac.new(b"s3cret", signed, sha256).digest())
constexpr const char* known_token =
    "m1.k1.1700000000.YWxpY2UAc3RiLTEAbGl2ZS9jaDE.Rzq-bJHfXpkY2hcHRRjZdHI3L-znBIxEDztK5rYyEs0";

// The format links are signed in now: the expiry in milliseconds.
//   signed = "m2.k1.1700000000123." + b64url(b"alice\0stb-1\0live/ch1")
constexpr const char* known_m2_token =
    "m2.k1.1700000000123.YWxpY2UAc3RiLTEAbGl2ZS9jaDE.CPpia0AylQvP2KpBhzTQcc_ndXtSF3xJYecNGcUoSwM";

sys_time at_ms(int64_t unix_ms) { return sys_time{} + std::chrono::milliseconds(unix_ms); }

TEST(link_signer, sign_matches_known_vector) {
  auto s = signer("s3cret");  // no ':' => one key, kid k1
  EXPECT_EQ(s.signing_kid(), "k1");
  EXPECT_EQ(s.sign("alice", "stb-1", "live/ch1", at_ms(exp_s * 1000 + 123)), known_m2_token);
  EXPECT_EQ(signer("k1:s3cret").sign("alice", "stb-1", "live/ch1", at_ms(exp_s * 1000 + 123)),
            known_m2_token);
}

TEST(link_signer, m2_carries_milliseconds) {
  auto s = signer("s3cret");
  auto r = s.verify(known_m2_token, at_ms(exp_s * 1000 + 122), true);
  ASSERT_TRUE(std::holds_alternative<token_claims>(r));
  const auto& c = std::get<token_claims>(r);
  EXPECT_EQ(c.expires_ms, exp_s * 1000 + 123);
  EXPECT_EQ(c.expires, exp_s);
  EXPECT_FALSE(c.whole_seconds);
  // Expired at its millisecond, not at the end of its second.
  EXPECT_EQ(error_of(s.verify(known_m2_token, at_ms(exp_s * 1000 + 123), true)), token_error::expired);
  // Issued link_ttl before its expiry, to the millisecond.
  EXPECT_EQ(issued_at(c, std::chrono::minutes(10)), at_ms(exp_s * 1000 + 123) - std::chrono::minutes(10));
}

// Links issued before the upgrade (m1, whole seconds) keep verifying, and are
// taken as issued as late as their second allows, so they are never judged
// older than they are.
TEST(link_signer, m1_links_still_verify) {
  auto r = signer("s3cret").verify(known_token, at(exp_s - 1), true);
  ASSERT_TRUE(std::holds_alternative<token_claims>(r));
  const auto& c = std::get<token_claims>(r);
  EXPECT_TRUE(c.whole_seconds);
  EXPECT_EQ(c.expires_ms, exp_s * 1000);
  EXPECT_EQ(issued_at(c, std::chrono::minutes(10)), at_ms(exp_s * 1000 + 999) - std::chrono::minutes(10));
  EXPECT_TRUE(is_signed_token(known_token));
  EXPECT_TRUE(is_signed_token(known_m2_token));
  EXPECT_FALSE(is_signed_token("c0ffee-salt-1700000000-1699999000"));  // a securetoken
  EXPECT_FALSE(is_signed_token("m3.k1.1.x.y"));
  EXPECT_FALSE(is_signed_token("m2"));
}

TEST(link_signer, sign_then_verify) {
  auto s = signer("main:0123456789abcdef");
  auto token = s.sign("acc-1", "00:1A:79:2B:3C:4D", "vod/movies/film.mp4", at(exp_s));
  auto r = s.verify(token, at(exp_s - 10), true);
  ASSERT_TRUE(std::holds_alternative<token_claims>(r)) << to_string(std::get<token_error>(r));
  const auto& c = std::get<token_claims>(r);
  EXPECT_EQ(c.kid, "main");
  EXPECT_EQ(c.account_id, "acc-1");
  EXPECT_EQ(c.device_id, "00:1A:79:2B:3C:4D");
  EXPECT_EQ(c.stream, "vod/movies/film.mp4");
  EXPECT_EQ(c.expires, exp_s);
  // URL-safe: nothing that needs escaping in a query string.
  for (char ch : token)
    EXPECT_TRUE(isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')
        << token;
}

TEST(link_signer, known_vector_verifies) {
  auto r = signer("s3cret").verify(known_token, at(exp_s - 1), true);
  ASSERT_TRUE(std::holds_alternative<token_claims>(r));
  EXPECT_EQ(std::get<token_claims>(r).account_id, "alice");
  EXPECT_EQ(std::get<token_claims>(r).stream, "live/ch1");
}

TEST(link_signer, other_secret_is_bad_signature) {
  EXPECT_EQ(error_of(signer("other").verify(known_token, at(0), true)),
            token_error::bad_signature);
}

TEST(link_signer, tampered_payload_is_bad_signature) {
  auto p = parts_of(known_token);
  p[3] = payload("alice", "stb-2", "live/ch1");
  EXPECT_EQ(error_of(signer("s3cret").verify(join(p), at(0), true)), token_error::bad_signature);
  p[3] = payload("alice", "stb-1", "live/ch2");
  EXPECT_EQ(error_of(signer("s3cret").verify(join(p), at(0), true)), token_error::bad_signature);
}

TEST(link_signer, tampered_expiry_is_bad_signature) {
  auto p = parts_of(known_token);
  p[2] = "1800000000";
  EXPECT_EQ(error_of(signer("s3cret").verify(join(p), at(0), true)), token_error::bad_signature);
}

TEST(link_signer, tampered_mac_is_bad_signature) {
  auto p = parts_of(known_token);
  p[4][0] = p[4][0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(error_of(signer("s3cret").verify(join(p), at(0), true)), token_error::bad_signature);
  p = parts_of(known_token);
  p[4] = p[4].substr(0, 40);  // truncated MAC (still valid base64url)
  EXPECT_EQ(error_of(signer("s3cret").verify(join(p), at(0), true)), token_error::bad_signature);
  p[4] = "";
  EXPECT_EQ(error_of(signer("s3cret").verify(join(p), at(0), true)), token_error::bad_signature);
}

TEST(link_signer, unknown_kid) {
  auto p = parts_of(known_token);
  p[1] = "k2";
  EXPECT_EQ(error_of(signer("s3cret").verify(join(p), at(0), true)), token_error::unknown_key);
  // Correctly MACed under a key the verifier does not hold.
  auto foreign = signer("zz:s3cret").sign("alice", "stb-1", "live/ch1", at(exp_s));
  EXPECT_EQ(error_of(signer("s3cret").verify(foreign, at(0), true)), token_error::unknown_key);
}

TEST(link_signer, malformed_tokens) {
  auto s = signer("s3cret");
  auto p = parts_of(known_token);
  const std::string sig = "m1.k1.1700000000.";
  std::vector<std::string> bad = {
      "",
      "garbage",
      "m1.k1.1700000000.YWxpY2UAc3RiLTEAbGl2ZS9jaDE",            // 4 parts
      std::string(known_token) + ".x",                           // 6 parts
      "m3" + std::string(known_token).substr(2),                 // version
      "M1" + std::string(known_token).substr(2),
      join({p[0], "", p[2], p[3], p[4]}),                        // empty kid
      join({p[0], "k!", p[2], p[3], p[4]}),                      // impossible kid
      join({p[0], std::string(17, 'k'), p[2], p[3], p[4]}),
      join({p[0], p[1], "", p[3], p[4]}),                        // expiry not numeric
      join({p[0], p[1], "-1", p[3], p[4]}),
      join({p[0], p[1], "17e8", p[3], p[4]}),
      join({p[0], p[1], "99999999999999999999", p[3], p[4]}),    // overflows int64
      join({p[0], p[1], "9300000000000000000", p[3], p[4]}),     // m1: overflows in ms
      join({p[0], p[1], p[2], p[3] + "=", p[4]}),                // padding
      join({p[0], p[1], p[2], "YWxp+2UA", p[4]}),                // not URL-safe alphabet
      join({p[0], p[1], p[2], p[3], p[4] + "="}),
      join({p[0], p[1], p[2], p[3], "A"}),                       // impossible length
      std::string(known_token) + std::string(2000, 'A'),
  };
  for (const auto& t : bad)
    EXPECT_EQ(error_of(s.verify(t, at(0), true)), token_error::malformed) << t;
}

TEST(link_signer, malformed_payloads_even_with_a_valid_mac) {
  auto s = signer("s3cret");
  std::string nul(1, '\0');
  std::vector<std::string> payloads = {
      base64url_encode("alice" + nul + "stb-1"),                          // 2 parts
      base64url_encode("alice" + nul + "stb-1" + nul + "live" + nul + "x"),  // 4 parts
      payload("", "stb-1", "live/ch1"),
      payload("-alice", "stb-1", "live/ch1"),
      payload("alice", std::string(65, 'd'), "live/ch1"),
      payload("alice", "stb-1", "../secret"),
      payload("alice", "stb-1", "live ch1"),
      payload("alice", "stb-1", ""),
      "",
  };
  for (const auto& pl : payloads) {
    auto t = with_mac("s3cret", "m1.k1.1700000000." + pl);
    EXPECT_EQ(error_of(s.verify(t, at(0), true)), token_error::malformed) << t;
  }
}

TEST(link_signer, check_order) {
  auto s = signer("s3cret");
  auto p = parts_of(known_token);
  // malformed before unknown_key
  EXPECT_EQ(error_of(s.verify(join({p[0], "k9", "x", p[3], p[4]}), at(0), true)),
            token_error::malformed);
  // unknown_key before bad_signature
  EXPECT_EQ(error_of(s.verify(join({p[0], "k9", p[2], p[3], "AAAA"}), at(0), true)),
            token_error::unknown_key);
  // bad_signature before expired
  EXPECT_EQ(error_of(s.verify(join({p[0], p[1], p[2], p[3], "AAAA"}), at(exp_s + 100), true)),
            token_error::bad_signature);
}

TEST(link_signer, expiry_only_when_checked) {
  auto s = signer("s3cret");
  EXPECT_TRUE(std::holds_alternative<token_claims>(s.verify(known_token, at(exp_s - 1), true)));
  EXPECT_EQ(error_of(s.verify(known_token, at(exp_s), true)), token_error::expired);
  EXPECT_EQ(error_of(s.verify(known_token, at(exp_s + 86400), true)), token_error::expired);
  // update_session: an old link never cuts a film off.
  EXPECT_TRUE(
      std::holds_alternative<token_claims>(s.verify(known_token, at(exp_s + 86400 * 365), false)));
}

TEST(link_signer, rotation_keeps_old_tokens_valid) {
  auto old_signer = signer("old:first-secret");
  auto token = old_signer.sign("alice", "stb-1", "live/ch1", at(exp_s));
  auto rotated = signer("new:second-secret,old:first-secret");
  EXPECT_EQ(rotated.signing_kid(), "new");
  auto r = rotated.verify(token, at(0), true);
  ASSERT_TRUE(std::holds_alternative<token_claims>(r)) << to_string(std::get<token_error>(r));
  EXPECT_EQ(std::get<token_claims>(r).kid, "old");
  // New tokens are signed by the first key, and the old-only verifier does
  // not know it.
  auto fresh = rotated.sign("alice", "stb-1", "live/ch1", at(exp_s));
  EXPECT_EQ(parts_of(fresh)[1], "new");
  EXPECT_TRUE(std::holds_alternative<token_claims>(rotated.verify(fresh, at(0), true)));
  EXPECT_EQ(error_of(old_signer.verify(fresh, at(0), true)), token_error::unknown_key);
  // Once the old key is dropped, its tokens stop verifying.
  EXPECT_EQ(error_of(signer("new:second-secret").verify(token, at(0), true)),
            token_error::unknown_key);
}

TEST(link_signer, secret_may_hold_colons) {
  auto s = signer("k1:a:b");
  auto token = s.sign("alice", "stb-1", "live/ch1", at(exp_s));
  EXPECT_EQ(token, with_mac("a:b", "m2.k1.1700000000000." + payload("alice", "stb-1", "live/ch1")));
}

TEST(link_signer, spec_tolerates_spaces_around_entries) {
  auto s = signer(" new:x , old:y ");
  EXPECT_EQ(s.signing_kid(), "new");
  auto t = signer("old:y").sign("a", "b", "c", at(exp_s));
  EXPECT_TRUE(std::holds_alternative<token_claims>(s.verify(t, at(0), true)));
}

TEST(link_signer, from_spec_errors) {
  for (const char* spec : {"", "   ", "k1:", ":secret", "bad kid:x", "k.1:x",
                           "abcdefghijklmnopq:x",  // 17 chars
                           "a:x,a:y", "a:x,", "a:x,,b:y", "a:x,nocolon", ",a:x"}) {
    std::string why;
    EXPECT_FALSE(link_signer::from_spec(spec, &why).has_value()) << spec;
    EXPECT_FALSE(why.empty()) << spec;
  }
  EXPECT_FALSE(link_signer::from_spec("").has_value());  // why may be null
  std::string why;
  link_signer::from_spec("a:x,a:y", &why);
  EXPECT_NE(why.find("\"a\""), std::string::npos) << why;
  EXPECT_TRUE(link_signer::from_spec("abcdefghijklmnop:x").has_value());  // 16 chars
  EXPECT_TRUE(link_signer::from_spec("A_b-9:x").has_value());
}

TEST(token_error, names) {
  EXPECT_STREQ(to_string(token_error::malformed), "malformed");
  EXPECT_STREQ(to_string(token_error::unknown_key), "unknown_key");
  EXPECT_STREQ(to_string(token_error::bad_signature), "bad_signature");
  EXPECT_STREQ(to_string(token_error::expired), "expired");
}

TEST(base64url, rfc4648_vectors) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");  // '+' and '/' in plain base64
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(base64url_decode("Zm9vYmFy"), "foobar");
}

TEST(base64url, round_trips_every_byte_and_length) {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len <= all.size(); ++len) {
    auto in = all.substr(all.size() - len);  // ends with 0xff, 0xfe...
    auto enc = base64url_encode(in);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    auto dec = base64url_decode(enc);
    ASSERT_TRUE(dec.has_value()) << len;
    ASSERT_EQ(*dec, in) << len;
  }
  auto enc = base64url_encode(all);
  EXPECT_EQ(base64url_decode(enc), all);
}

TEST(base64url, decode_is_strict) {
  for (const char* s : {"Zg==", "Zm8=", "Z", "Zm9vY", "Zh", "Zm9", "Zm+v", "Zm/v", "Zm9v\n", "Zm 9"})
    EXPECT_FALSE(base64url_decode(s).has_value()) << s;
  EXPECT_EQ(base64url_decode(""), std::string());
}

// A MAC as the lower-case hex the RFC 4231 vectors are published in.
template <class Bytes>
std::string to_hex(const Bytes& mac) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string h;
  for (unsigned char c : mac) {
    h.push_back(hex[c >> 4]);
    h.push_back(hex[c & 15]);
  }
  return h;
}

TEST(hmac_sha256, rfc4231_case_2) {
  auto mac = hmac_sha256("Jefe", "what do ya want for nothing?");
  ASSERT_EQ(mac.size(), 32u);
  EXPECT_EQ(to_hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hmac_sha256("", "").size(), 32u);
}

// The precomputed key (what verify uses) gives the one-shot HMAC's bytes for
// keys shorter than, as long as, and longer than SHA-256's 64-byte block
// (hashed first, RFC 2104), and for data across block boundaries; RFC 4231
// case 6 pins the long-key case to a published value.
TEST(hmac_sha256_key, matches_the_one_shot_hmac) {
  for (std::size_t key_len : {0u, 1u, 4u, 63u, 64u, 65u, 131u, 300u}) {
    std::string key;
    for (std::size_t i = 0; i < key_len; ++i) key.push_back(static_cast<char>('a' + i % 26 + (i % 7)));
    hmac_sha256_key k(key);
    for (std::size_t data_len : {0u, 1u, 55u, 56u, 64u, 119u, 120u, 200u}) {
      std::string data(data_len, 'x');
      for (std::size_t i = 0; i < data_len; ++i) data[i] = static_cast<char>(i * 31 + key_len);
      auto a = k.mac(data);
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(a.data()), a.size()), hmac_sha256(key, data))
          << "key " << key_len << " data " << data_len;
      auto again = k.mac(data);
      EXPECT_EQ(a, again) << "the key's states are not consumed by a call";
    }
  }
  hmac_sha256_key rfc(std::string(131, '\xaa'));
  auto mac = rfc.mac("Test Using Larger Than Block-Size Key - Hash Key First");
  EXPECT_EQ(to_hex(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(constant_time_equal, compares_content_and_length) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

// Expected hashes computed with coreutils, e.g.
//   printf '%s' 'live/ch110.0.0.117000000001700003600s3cretabc123' | sha1sum
TEST(securetoken, known_vectors) {
  EXPECT_EQ(make_securetoken("live/ch1", "10.0.0.1", 1700000000, 1700003600, "s3cret", "abc123"),
            "f393b51619e1fc4df07de462ee04889e4d42d860-abc123-1700003600-1700000000");
  EXPECT_EQ(make_securetoken("live/ch1", "", 1700000000, 1700003600, "s3cret", "abc123"),
            "b4c4a8367a79b4b807a03145b6b307d467bc92cc-abc123-1700003600-1700000000");
  EXPECT_EQ(make_securetoken("live/ch1", "10.0.0.1", 1700000000, 1700003600, "s3cret", "abc123",
                             "user42"),
            "c369971960d30540ede7424935414c64dd2dd904-abc123-1700003600-1700000000");
}

TEST(random_token_string, length_alphabet_and_uniqueness) {
  EXPECT_EQ(random_token_string(0), "");
  for (std::size_t n : {1u, 16u, 64u, 65u, 200u}) {
    auto s = random_token_string(n);
    EXPECT_EQ(s.size(), n);
    for (char c : s)
      EXPECT_TRUE(isalnum(static_cast<unsigned char>(c))) << s;
  }
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i)
    seen.insert(random_token_string(16));
  EXPECT_EQ(seen.size(), 100u);
  // All 62 symbols show up in a long sample.
  auto big = random_token_string(20000);
  EXPECT_EQ(std::set<char>(big.begin(), big.end()).size(), 62u);
}

}  // namespace
}  // namespace maxsess
