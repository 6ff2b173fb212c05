// Fuzz target: the auth backend's query parser (GET /flussonic/auth?...,
// FLUSSONIC.md §1), through the real route: query splitting and
// percent-decoding, the token check, the numbers (duration, bytes).
// Input: the query string (after '?'). The seeds carry tokens signed under
// api_harness::secret that are valid at fixed_now_s, so mutations explore
// past the signature check.
// Properties: one answer, 200 or 403 only, always JSON; the accounts are
// asked only with the claims of a token this key signed (ids and stream as
// the link route validates them, no forged field); allowed answers name
// that account in X-UserId.
#include "tests/fuzz/api_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maxsess;
  auto& h = fuzz::api_harness::get();
  std::string target = "/flussonic/auth?";
  target.append(reinterpret_cast<const char*>(data), size);
  auto r = h.call(net::request{net::http::verb::get, target, 11});
  FUZZ_CHECK(r.result_int() == 200 || r.result_int() == 403);
  if (auto& a = h.accounts.last_auth) {
    FUZZ_CHECK(r.result_int() == 200);
    FUZZ_CHECK(valid_id(a->account_id));
    FUZZ_CHECK(valid_id(a->device_id));
    FUZZ_CHECK(valid_stream_name(a->stream));
    FUZZ_CHECK(!a->session_id.empty());
    FUZZ_CHECK(a->duration >= -1 && a->bytes >= -1);
    FUZZ_CHECK(r[std::string("X-UserId")] == a->account_id);
  } else {
    FUZZ_CHECK(r.result_int() == 403);
  }
  return 0;
}
