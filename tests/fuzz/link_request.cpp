// Fuzz target: the link request parser (POST /api/v1/links), through the
// real route: JSON parsing, field types, id/stream/IP validation, the
// answer's rendering. Input: the request body.
// Properties: one answer, never 5xx, always JSON; a request that reaches
// the accounts carries only valid ids, stream and IP (bad input never gets
// past validation); answered 200 only then.
#include <boost/asio/ip/address.hpp>

#include "tests/fuzz/api_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maxsess;
  auto& h = fuzz::api_harness::get();
  net::request req{net::http::verb::post, "/api/v1/links", 11};
  req.set(net::http::field::content_type, "application/json");
  req.body().assign(reinterpret_cast<const char*>(data), size);
  req.prepare_payload();
  auto r = h.call(std::move(req));
  if (auto& lr = h.accounts.last_link) {
    FUZZ_CHECK(r.result_int() == 200);
    FUZZ_CHECK(valid_id(lr->account_id));
    FUZZ_CHECK(valid_id(lr->device_id));
    FUZZ_CHECK(valid_stream_name(lr->content.stream));
    FUZZ_CHECK(lr->streamer_id >= 0);
    FUZZ_CHECK(!lr->content.start || *lr->content.start >= 0);
    FUZZ_CHECK(!lr->content.duration || *lr->content.duration >= 0);
    if (!lr->client_ip.empty()) {
      boost::system::error_code ec;
      boost::asio::ip::make_address(lr->client_ip, ec);
      FUZZ_CHECK(!ec);
    }
  } else {
    FUZZ_CHECK(r.result_int() >= 400);
  }
  return 0;
}
