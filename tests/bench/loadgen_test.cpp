// The load generator's own checks (label unit): its histogram, its zipf
// sampler, its JSON lines, and both loops against a tiny in-process HTTP
// server. Counts are asserted exactly where the design makes them exact
// (every open-loop slot of the window is either answered or late), times
// only with generous bounds.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cmath>
#include <random>
#include <thread>

#include "tests/bench/loadgen.hpp"

namespace lg = maxsess::loadgen;

TEST(LoadgenHistogram, QuantilesWithinTheBucketPrecision) {
  lg::histogram h;
  for (uint64_t us = 1; us <= 100000; ++us) h.record(us * 1000);
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.max_ns(), 100000u * 1000);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = q * 100000 * 1000;
    EXPECT_NEAR(static_cast<double>(h.quantile_ns(q)), exact, exact * 0.016) << q;
  }
  EXPECT_EQ(h.quantile_ns(1.0), h.max_ns());
}

TEST(LoadgenHistogram, SmallValuesAreExactAndMergeAdds) {
  lg::histogram a, b;
  for (uint64_t v = 0; v < 100; ++v) a.record(v);
  b.record(5);
  a.merge(b);
  EXPECT_EQ(a.count(), 101u);
  EXPECT_EQ(a.quantile_ns(0.0), 0u);
  EXPECT_EQ(a.quantile_ns(0.06), 5u);  // ranks 6 and 7 are both 5
  EXPECT_EQ(a.max_ns(), 99u);
}

TEST(LoadgenZipf, RanksFollowOneOverK) {
  const lg::zipf_sampler z(1000, 1.0);
  EXPECT_EQ(z.draw(0.0), 0u);
  EXPECT_EQ(z.draw(0.9999999), 999u);
  std::mt19937_64 rng(7);
  std::vector<uint64_t> seen(1000);
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++seen[z(rng)];
  double h = 0;
  for (int k = 1; k <= 1000; ++k) h += 1.0 / k;
  // Rank 1 gets 1/H(1000) ≈ 13.4 %, rank 2 half of that, rank 10 a tenth.
  EXPECT_NEAR(seen[0] / double(n), 1 / h, 0.01);
  EXPECT_NEAR(seen[1] / double(n), 0.5 / h, 0.01);
  EXPECT_NEAR(seen[9] / double(n), 0.1 / h, 0.005);
}

TEST(LoadgenZipf, ExponentZeroIsUniform) {
  const lg::zipf_sampler z(4, 0.0);
  EXPECT_EQ(z.draw(0.1), 0u);
  EXPECT_EQ(z.draw(0.3), 1u);
  EXPECT_EQ(z.draw(0.6), 2u);
  EXPECT_EQ(z.draw(0.9), 3u);
  EXPECT_THROW(lg::zipf_sampler(0, 1.0), std::invalid_argument);
}

TEST(LoadgenJson, ContractShapeWithNullsAndEscapes) {
  lg::figure f;
  f.scenario = "links-zipf";
  f.value = 1234.5;
  f.p50_ms = 1.25;
  f.note = "a \"quoted\"\nline";
  EXPECT_EQ(lg::json_line(f),
            "{\"scenario\": \"links-zipf\", \"metric\": \"req/s\", \"value\": 1234.5, \"p50_ms\": 1.25, "
            "\"p99_ms\": null, \"cpu_us_per_op\": null, \"rss_mib\": null, "
            "\"note\": \"a \\\"quoted\\\"\\nline\"}");
}

namespace {

// Answers every request with 200 and a fixed body after `delay`; one thread
// per connection (a test has few).
class tiny_server {
 public:
  explicit tiny_server(std::chrono::milliseconds delay) : delay_(delay) {
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
      for (;;) {
        boost::asio::ip::tcp::socket s(io_);
        boost::system::error_code ec;
        acceptor_.accept(s, ec);
        if (ec || stop_) return;
        conns_.emplace_back([this, s = std::move(s)]() mutable { serve(std::move(s)); });
      }
    });
  }
  ~tiny_server() {
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
    for (auto& c : conns_) c.join();
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_; }

 private:
  void serve(boost::asio::ip::tcp::socket s) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(s, buf, req, ec);
      if (ec) return;
      ++requests_;
      if (delay_.count()) std::this_thread::sleep_for(delay_);
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.body() = req.target() == "/echo-length" ? std::to_string(req.body().size()) : "{\"ok\":true}";
      res.keep_alive(true);
      res.prepare_payload();
      http::write(s, res, ec);
      if (ec) return;
    }
  }
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  std::chrono::milliseconds delay_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

}  // namespace

TEST(LoadgenRun, ClosedLoopCountsEveryAnswer) {
  tiny_server server(std::chrono::milliseconds(0));
  lg::options o;
  o.ports = {server.port()};
  o.connections = 4;
  o.threads = 2;
  o.duration = std::chrono::milliseconds(300);
  o.make_request = [](lg::request& r, const lg::gen_state& g) {
    r.method = "POST";
    r.target = "/echo-length";
    r.body = std::string(10 + g.seq % 7, 'x');
  };
  // Every request the server answered is judged, the ones answered after the
  // window too (the loop sends nothing new then, and drains what is in flight).
  std::atomic<int> judged{0};
  std::atomic<int> wrong_length{0};
  o.check = [&](uint64_t seq, int status, std::string_view body) {
    ++judged;
    if (std::string(body) != std::to_string(10 + seq % 7)) ++wrong_length;
    return status == 200;
  };
  const auto res = lg::run(o);
  EXPECT_EQ(judged.load(), server.requests());
  EXPECT_EQ(wrong_length.load(), 0);
  EXPECT_EQ(res.unexpected, 0u);
  EXPECT_GT(res.requests, 10u);
  EXPECT_EQ(res.errors, 0u) << res.first_error;
  EXPECT_EQ(res.statuses.at(200), res.requests);
  EXPECT_EQ(res.latency.count(), res.requests);
  EXPECT_TRUE(res.first_unexpected.empty()) << res.first_unexpected;
  // The server saw the bodies' lengths (Content-Length was right).
  EXPECT_GE(std::stoi(res.sample_body), 10);
  EXPECT_LE(std::stoi(res.sample_body), 16);
  EXPECT_LE(res.requests, static_cast<uint64_t>(server.requests()));
  EXPECT_GT(res.cpu_s, 0);
}

TEST(LoadgenRun, OpenLoopAccountsForEverySlotOfTheWindow) {
  // 2 connections of a server that takes 20 ms per answer keep up with at
  // most ~100 req/s; at 400 req/s most slots wait: they are late or
  // answered late, and their latency is measured from the intended time.
  tiny_server server(std::chrono::milliseconds(20));
  lg::options o;
  o.ports = {server.port()};
  o.connections = 2;
  o.open_loop = true;
  o.rate = 400;
  o.duration = std::chrono::milliseconds(500);
  o.drain = std::chrono::milliseconds(100);
  o.make_request = [](lg::request& r, const lg::gen_state&) { r.target = "/"; };
  const auto res = lg::run(o);
  EXPECT_EQ(res.errors, 0u) << res.first_error;
  // 400/s over 0.5 s: 200 slots, each either answered or late (±1 at the edges).
  EXPECT_NEAR(static_cast<double>(res.requests + res.late), 200, 1);
  EXPECT_EQ(res.latency.count(), res.requests + res.late);
  EXPECT_GT(res.late, 0u);
  // Queueing shows: the worst waited for most of the window, not 20 ms.
  EXPECT_GT(res.latency.max_ns(), 200'000'000u);
}

TEST(LoadgenRun, RefusedConnectionIsASetUpError) {
  uint16_t port;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  lg::options o;
  o.ports = {port};
  o.connections = 1;
  o.make_request = [](lg::request&, const lg::gen_state&) {};
  EXPECT_THROW(lg::run(o), std::runtime_error);
}
