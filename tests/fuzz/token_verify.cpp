// Fuzz target: the link token verifier (domain/token.hpp) and its key spec.
// Input: the first byte picks what is fuzzed, the rest is the text.
//   0: verify(text), with and without the expiry check;
//   1: link_signer::from_spec(text), then sign + verify under it;
//   2: "account\ndevice\nstream" signed and verified back.
// Properties: never crashes; a token that verifies verifies the same way
// again and with the expiry check off; claims from ids/streams that pass
// validation survive sign -> verify unchanged (also with keys from any
// spec that from_spec accepts); a token one byte off never verifies.
#include <string>
#include <variant>

#include "domain/model.hpp"
#include "domain/token.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace maxsess;

const sys_time now{std::chrono::seconds(1767225600)};

void round_trip(const link_signer& s, const std::string& account, const std::string& device,
                const std::string& stream) {
  auto expires = now + std::chrono::minutes(10);
  auto token = s.sign(account, device, stream, expires);
  auto v = s.verify(token, now, true);
  if (valid_id(account) && valid_id(device) && valid_stream_name(stream)) {
    auto* c = std::get_if<token_claims>(&v);
    FUZZ_CHECK(c != nullptr);
    FUZZ_CHECK(c->account_id == account && c->device_id == device && c->stream == stream);
    FUZZ_CHECK(c->kid == s.signing_kid());
    // Still valid just before it expires (the expiry is checked through
    // verify, not a claims field, whose unit the token format may change).
    FUZZ_CHECK(std::holds_alternative<token_claims>(
        s.verify(token, expires - std::chrono::seconds(1), true)));
    // Expired an hour later, on new_session only.
    FUZZ_CHECK(std::holds_alternative<token_error>(s.verify(token, now + std::chrono::hours(1), true)));
    FUZZ_CHECK(std::holds_alternative<token_claims>(s.verify(token, now + std::chrono::hours(1), false)));
    // The MAC covers every byte: flipping one anywhere refuses the token.
    auto bad = token;
    bad[token.size() / 2] ^= 0x01;
    FUZZ_CHECK(std::holds_alternative<token_error>(s.verify(bad, now, true)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const link_signer signer = *link_signer::from_spec("k1:fuzz-secret,k0:old-secret");
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto v = signer.verify(text, now, true);
      if (auto* c = std::get_if<token_claims>(&v)) {
        auto again = signer.verify(text, now, false);
        auto* c2 = std::get_if<token_claims>(&again);
        FUZZ_CHECK(c2 && c2->account_id == c->account_id && c2->device_id == c->device_id &&
                   c2->stream == c->stream && c2->kid == c->kid);
      } else {
        signer.verify(text, now, false);
      }
      break;
    }
    case 1: {
      std::string why;
      auto s = link_signer::from_spec(text, &why);
      if (s) round_trip(*s, "acc1", "tv", "news");
      else FUZZ_CHECK(!why.empty());
      break;
    }
    case 2: {
      auto a = text.find('\n');
      auto b = a == std::string::npos ? a : text.find('\n', a + 1);
      if (b == std::string::npos) return 0;
      round_trip(signer, text.substr(0, a), text.substr(a + 1, b - a - 1), text.substr(b + 1));
      break;
    }
  }
  return 0;
}
