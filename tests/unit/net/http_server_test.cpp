// The Beast HTTP server against real sockets on 127.0.0.1 (port 0), driven
// by the synchronous test client. Timing assertions use generous bounds.
#include "net/http_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <set>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "domain/clock.hpp"
#include "domain/log.hpp"
#include "tests/support/http_client.hpp"

namespace {

using namespace std::chrono_literals;
using maxsess::net::handler_fn;
using maxsess::net::http_server;
using maxsess::net::make_json_response;
using maxsess::net::reply_fn;
using maxsess::net::request;
using maxsess::net::response;
using maxsess::net::server_options;
using maxsess::test::http_client;
using maxsess::test::raw_exchange;
namespace http = maxsess::net::http;
using steady = std::chrono::steady_clock;

constexpr const char* localhost = "127.0.0.1";

// Echoes method, target, remote address and body.
void echo(request req, std::string remote, reply_fn reply) {
  response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/plain");
  res.set("X-Method", req.method_string());
  res.set("X-Target", req.target());
  res.set("X-Remote", remote);
  res.body() = req.body();
  reply(std::move(res));
}

response text(std::string body) {
  response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::move(body);
  return res;
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = steady::now() + timeout;
  while (!pred()) {
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

long long ms_since(steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
}

class HttpServer : public ::testing::Test {
 protected:
  void start(handler_fn handler, server_options opts = {}) {
    opts.host = localhost;
    opts.port = 0;
    server_ = std::make_unique<http_server>(opts, std::move(handler));
    server_->start();
    port_ = server_->bound_port();
    ASSERT_NE(port_, 0);
  }

  // Background work started by handlers (late replies); joined at the end.
  void spawn(std::function<void()> f) {
    std::lock_guard<std::mutex> lk(mutex_);
    background_.emplace_back(std::move(f));
  }

  void TearDown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lk(mutex_);
      threads.swap(background_);
    }
    for (auto& t : threads) t.join();
    server_.reset();
  }

  std::unique_ptr<http_server> server_;
  uint16_t port_ = 0;
  std::mutex mutex_;
  std::vector<std::thread> background_;
};

TEST_F(HttpServer, GetRoundtrip) {
  start(echo);
  http_client client(localhost, port_);
  auto r = client.get("/hello?x=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers["x-method"], "GET");
  EXPECT_EQ(r.headers["x-target"], "/hello?x=1");
  EXPECT_EQ(r.headers["x-remote"], "127.0.0.1");
  EXPECT_EQ(r.headers["content-length"], "0");
  EXPECT_TRUE(r.keep_alive);
}

TEST_F(HttpServer, PostRoundtrip) {
  start(echo);
  http_client client(localhost, port_);
  const std::string body = R"({"hello":"world","n":[1,2,3]})";
  auto r = client.post_json("/things", body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.headers["x-method"], "POST");
  EXPECT_EQ(r.headers["content-length"], std::to_string(body.size()));
  auto d = client.del("/things/1");
  EXPECT_EQ(d.headers["x-method"], "DELETE");
}

TEST_F(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  start(echo);
  http_client client(localhost, port_);
  for (int i = 0; i < 5; ++i) {
    auto r = client.post_json("/n", std::to_string(i));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::to_string(i));
    EXPECT_TRUE(r.keep_alive);
  }
  EXPECT_EQ(server_->connections_accepted(), 1u);

  http_client other(localhost, port_);
  EXPECT_EQ(other.get("/").status, 200);
  EXPECT_EQ(server_->connections_accepted(), 2u);
}

TEST_F(HttpServer, ClientConnectionCloseIsHonoured) {
  start(echo);
  auto out = raw_exchange(localhost, port_,
                          "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  // raw_exchange returns when the server closes: well before its 3 s timeout.
  EXPECT_NE(out.find("HTTP/1.1 200 OK"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
}

TEST_F(HttpServer, Http10GetsHttp10AnswerAndClose) {
  start(echo);
  const auto t0 = steady::now();
  auto out = raw_exchange(localhost, port_, "GET /old HTTP/1.0\r\n\r\n", 5000);
  EXPECT_EQ(out.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << out;
  EXPECT_LT(ms_since(t0), 4000) << "the server should close an HTTP/1.0 connection";
}

TEST_F(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  start(echo);
  auto out = raw_exchange(localhost, port_,
                          "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
                          "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
                          "Connection: close\r\n\r\nsecond");
  const auto first = out.find("X-Target: /one");
  const auto second = out.find("X-Target: /two");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_NE(out.find("\r\n\r\nfirst"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n\r\nsecond"), std::string::npos) << out;
}

// A large body is read into room sized for it, and the buffer shrinks again
// before the next request (read_body, do_read): whatever was read ahead of
// the next request must survive both.
TEST_F(HttpServer, LargePipelinedBodiesArriveWholeAroundSmallOnes) {
  start(echo);
  auto body = [](char c, std::size_t n) {
    std::string b(n, c);
    for (std::size_t i = 0; i < n; i += 997) b[i] = static_cast<char>('0' + i % 10);
    return b;
  };
  const auto one = body('a', 60000), three = body('c', 50000);
  auto post = [](const std::string& target, const std::string& b, bool last) {
    return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(b.size()) +
           (last ? "\r\nConnection: close" : "") + "\r\n\r\n" + b;
  };
  auto out = raw_exchange(localhost, port_,
                          post("/one", one, false) + post("/two", "small", false) + post("/three", three, true),
                          5000);
  const auto first = out.find("\r\n\r\n" + one + "HTTP/1.1 200");
  const auto second = out.find("\r\n\r\nsmallHTTP/1.1 200");
  const auto third = out.find("\r\n\r\n" + three);
  ASSERT_NE(first, std::string::npos) << out.substr(0, 300);
  ASSERT_NE(second, std::string::npos) << out.substr(0, 300);
  ASSERT_NE(third, std::string::npos) << out.substr(0, 300);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_EQ(out.size(), third + 4 + three.size());
}

// The header alone first, then a large body in parts: the body's first
// bytes are read at Beast's own size, the rest into room made for it
// (read_body, read_body_rest); every byte arrives, in order.
TEST_F(HttpServer, LargeBodyArrivingAfterItsHeaderInPartsArrivesWhole) {
  start(echo);
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address(localhost), port_});
  std::string body(60000, 'x');  // under the default 64 KiB body_limit
  for (std::size_t i = 0; i < body.size(); i += 101) body[i] = static_cast<char>('a' + i % 26);
  const auto head = "POST /parts HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n";
  asio::write(sock, asio::buffer(head));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (std::size_t at = 0; at < body.size(); at += 20000) {
    asio::write(sock, asio::buffer(body.data() + at, std::min<std::size_t>(20000, body.size() - at)));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string got;
  char buf[8192];
  boost::system::error_code ec;
  while (!ec) got.append(buf, sock.read_some(asio::buffer(buf), ec));
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got.substr(0, 300);
  const auto at = got.find("\r\n\r\n");
  ASSERT_NE(at, std::string::npos);
  EXPECT_TRUE(got.compare(at + 4, std::string::npos, body) == 0) << got.size() - at - 4 << " body bytes back";
}

TEST_F(HttpServer, ExpectContinueGets100BeforeTheBody) {
  server_options opts;
  opts.read_timeout = 2s;  // bounds the test if no 100 comes
  start(echo, opts);
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address(localhost), port_});
  asio::write(sock, asio::buffer(std::string("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                                             "Expect: 100-continue\r\n\r\n")));
  std::string got;
  char buf[1024];
  boost::system::error_code ec;
  while (got.find("\r\n\r\n") == std::string::npos && !ec)
    got.append(buf, sock.read_some(asio::buffer(buf), ec));
  EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(sock, asio::buffer(std::string("body")));
  got.clear();
  while (got.find("\r\n\r\nbody") == std::string::npos && !ec)
    got.append(buf, sock.read_some(asio::buffer(buf), ec));
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
}

TEST_F(HttpServer, HeadAnswerHasLengthButNoBody) {
  start([](request, std::string, reply_fn reply) { reply(text("twelve bytes")); });
  http_client client(localhost, port_);
  auto r = client.request("HEAD", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], "12");
  EXPECT_EQ(r.body, "");
  // Nothing stray was left on the connection.
  EXPECT_EQ(client.get("/").body, "twelve bytes");
  EXPECT_EQ(server_->connections_accepted(), 1u);
}

TEST_F(HttpServer, ReplyLaterFromAnotherThread) {
  start([this](request req, std::string, reply_fn reply) {
    spawn([body = req.body(), reply] {
      std::this_thread::sleep_for(50ms);
      reply(text("late:" + body));
    });
  });
  http_client client(localhost, port_);
  const auto t0 = steady::now();
  auto r = client.post_json("/", "x");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "late:x");
  EXPECT_GE(ms_since(t0), 40);
  // The connection stays usable.
  EXPECT_EQ(client.post_json("/", "y").body, "late:y");
  EXPECT_EQ(server_->connections_accepted(), 1u);
}

// The handler deadline is armed only after the handler returned without an
// answer. One given from another thread while the handler is still running
// (an actor that answered at once) must be written, not lost between the
// two, and must not be followed by a 503 at the deadline.
TEST_F(HttpServer, ReplyFromAnotherThreadBeforeTheHandlerReturns) {
  server_options opts;
  opts.handler_timeout = 100ms;
  start(
      [](request req, std::string, reply_fn reply) {
        std::thread t([body = req.body(), reply] { reply(text("other:" + body)); });
        t.join();
      },
      opts);
  http_client client(localhost, port_);
  for (int i = 0; i < 20; ++i) {
    auto r = client.post_json("/", std::to_string(i));
    ASSERT_EQ(r.status, 200) << i;
    ASSERT_EQ(r.body, "other:" + std::to_string(i));
  }
  std::this_thread::sleep_for(150ms);  // past the deadline: nothing more comes
  auto r = client.post_json("/", "last");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "other:last");
  EXPECT_EQ(server_->connections_accepted(), 1u);
  EXPECT_TRUE(wait_until([&] { return server_->requests_in_flight() == 0; }));
}

TEST_F(HttpServer, RequestsInFlightCountsUnansweredRequests) {
  std::mutex m;
  std::vector<reply_fn> held;
  start([&](request, std::string, reply_fn reply) {
    std::lock_guard<std::mutex> lk(m);
    held.push_back(std::move(reply));
  });
  EXPECT_EQ(server_->requests_in_flight(), 0u);
  auto answer = std::async(std::launch::async, [&] {
    http_client client(localhost, port_);
    return client.get("/").body;
  });
  // The request is counted before its handler runs, so wait for the handler
  // too (under ASan the handler can lag the count by milliseconds).
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lk(m);
    return !held.empty();
  }));
  EXPECT_EQ(server_->requests_in_flight(), 1u);
  {
    std::lock_guard<std::mutex> lk(m);
    ASSERT_EQ(held.size(), 1u);
    held[0](text("done"));
  }
  EXPECT_EQ(answer.get(), "done");
  EXPECT_TRUE(wait_until([&] { return server_->requests_in_flight() == 0; }));
}

TEST_F(HttpServer, NoReplyGives503AfterHandlerTimeout) {
  std::mutex m;
  std::vector<reply_fn> held;
  server_options opts;
  opts.handler_timeout = 200ms;
  start(
      [&](request req, std::string, reply_fn reply) {
        if (req.target() == "/ok") return reply(text("ok"));
        std::lock_guard<std::mutex> lk(m);
        held.push_back(std::move(reply));
      },
      opts);
  http_client client(localhost, port_);
  const auto t0 = steady::now();
  auto r = client.get("/never");
  const auto elapsed = ms_since(t0);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.body, R"({"error":{"code":"unavailable","message":"no answer in time"}})");
  EXPECT_GE(elapsed, 150);
  EXPECT_LT(elapsed, 5000);

  // A reply after the 503 is dropped: the connection's next answer is its own.
  {
    std::lock_guard<std::mutex> lk(m);
    ASSERT_EQ(held.size(), 1u);
    held[0](text("too late"));
  }
  std::this_thread::sleep_for(50ms);
  auto next = client.get("/ok");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "ok");
  EXPECT_EQ(server_->connections_accepted(), 1u);
  EXPECT_TRUE(wait_until([&] { return server_->requests_in_flight() == 0; }));
}

TEST_F(HttpServer, PerRequestTimeoutOverridesTheDefault) {
  // handler_timeout_for: a short deadline for some requests, the long
  // default for others (jobs), chosen per request.
  std::mutex m;
  std::vector<reply_fn> held;
  server_options opts;
  opts.handler_timeout = 60s;
  opts.handler_timeout_for = [](const request& r) {
    return r.target() == "/short" ? std::chrono::milliseconds(200) : std::chrono::milliseconds(60000);
  };
  start(
      [&](request req, std::string, reply_fn reply) {
        std::lock_guard<std::mutex> lk(m);
        held.push_back(std::move(reply));
        (void)req;
      },
      opts);
  http_client a(localhost, port_);
  const auto t0 = steady::now();
  EXPECT_EQ(a.get("/short").status, 503);
  EXPECT_LT(ms_since(t0), 5000);
  // The long one is still waiting well after the short one's deadline; it
  // gets the handler's answer.
  http_client b(localhost, port_);
  std::thread t([&] { EXPECT_EQ(b.get("/long").body, "late"); });
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lk(m);
    return held.size() == 2;
  }));
  std::this_thread::sleep_for(400ms);
  {
    std::lock_guard<std::mutex> lk(m);
    held[1](text("late"));
  }
  t.join();
}

TEST_F(HttpServer, SecondReplyIsIgnored) {
  start([](request req, std::string, reply_fn reply) {
    const std::string t(req.target());
    reply(text("first " + t));
    reply(text("second " + t));
  });
  http_client client(localhost, port_);
  EXPECT_EQ(client.get("/a").body, "first /a");
  EXPECT_EQ(client.get("/b").body, "first /b");
  EXPECT_EQ(client.get("/c").body, "first /c");
  EXPECT_EQ(server_->connections_accepted(), 1u);
}

TEST_F(HttpServer, HandlerExceptionGives500) {
  start([](request req, std::string, reply_fn reply) {
    if (req.target() == "/throw") throw std::runtime_error("boom");
    reply(text("fine"));
  });
  http_client client(localhost, port_);
  auto r = client.get("/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("\"code\":\"internal\""), std::string::npos) << r.body;
  EXPECT_EQ(client.get("/ok").body, "fine");
}

TEST_F(HttpServer, UnexpectedEventsAreLogged) {
  std::ostringstream out;
  maxsess::system_clock_source clock;
  maxsess::logger log(out, maxsess::log_level::debug, false, clock);
  server_options opts;
  opts.log = &log;
  start([](request, std::string, reply_fn) -> void { throw std::runtime_error("kaboom"); }, opts);
  EXPECT_EQ(http_client(localhost, port_).get("/").status, 500);
  server_.reset();  // joins the I/O threads: the log is complete
  EXPECT_NE(out.str().find("kaboom"), std::string::npos) << out.str();
}

TEST_F(HttpServer, HandlerMayForceClose) {
  start([](request, std::string, reply_fn reply) {
    auto res = text("bye");
    res.set(http::field::connection, "close");
    reply(std::move(res));
  });
  http_client client(localhost, port_);
  auto r = client.get("/");
  EXPECT_EQ(r.body, "bye");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(client.get("/").body, "bye");  // on a new connection
  EXPECT_EQ(server_->connections_accepted(), 2u);
}

TEST_F(HttpServer, BodyOverLimitGives413) {
  std::atomic<int> calls{0};
  server_options opts;
  opts.body_limit = 1024;
  start(
      [&](request req, std::string remote, reply_fn reply) {
        ++calls;
        echo(std::move(req), std::move(remote), std::move(reply));
      },
      opts);
  http_client client(localhost, port_);
  EXPECT_EQ(client.post_json("/", std::string(1024, 'a')).status, 200);  // at the limit

  auto r = client.post_json("/", std::string(1025, 'a'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_NE(r.body.find(R"({"error":{"code":"payload_too_large","message":")"), std::string::npos)
      << r.body;
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(calls.load(), 1);

  // Much larger than the limit (the server does not read it all).
  auto big = client.post_json("/", std::string(4 * 1024 * 1024, 'b'));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(HttpServer, ChunkedBodyOverLimitGives413) {
  server_options opts;
  opts.body_limit = 16;
  start(echo, opts);
  auto out = raw_exchange(localhost, port_,
                          "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
  EXPECT_NE(out.find("payload_too_large"), std::string::npos) << out;
}

TEST_F(HttpServer, GarbageGives400) {
  std::atomic<int> calls{0};
  start([&](request req, std::string remote, reply_fn reply) {
    ++calls;
    echo(std::move(req), std::move(remote), std::move(reply));
  });
  const auto t0 = steady::now();
  auto out = raw_exchange(localhost, port_, "\x01\x02 this is not HTTP at all\r\n\r\n", 5000);
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Type: application/json"), std::string::npos) << out;
  EXPECT_NE(out.find(R"({"error":{"code":"bad_request","message":"malformed HTTP request"}})"),
            std::string::npos)
      << out;
  EXPECT_LT(ms_since(t0), 4000) << "the server should close after a 400";
  EXPECT_EQ(calls.load(), 0);

  // A bad header line after a good request line.
  auto out2 = raw_exchange(localhost, port_, "GET / HTTP/1.1\r\nNo colon here\r\n\r\n");
  EXPECT_EQ(out2.rfind("HTTP/1.1 400", 0), 0u) << out2;
  EXPECT_EQ(calls.load(), 0);

  // The server is fine afterwards.
  http_client client(localhost, port_);
  EXPECT_EQ(client.get("/").status, 200);
}

// RFC 9112 §3.2 (issue 8): an HTTP/1.1 request without Host, or any request
// with two, is 400 and never reaches the handler; HTTP/1.0 needs no Host.
TEST_F(HttpServer, Http11WithoutHostOrWithTwoHostsGives400) {
  std::atomic<int> calls{0};
  start([&](request req, std::string remote, reply_fn reply) {
    ++calls;
    echo(std::move(req), std::move(remote), std::move(reply));
  });
  const auto t0 = steady::now();
  auto none = raw_exchange(localhost, port_, "GET / HTTP/1.1\r\n\r\n", 5000);
  EXPECT_EQ(none.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << none;
  EXPECT_NE(none.find(R"({"error":{"code":"bad_request","field":"Host","message":"an HTTP/1.1 request needs a Host header"}})"),
            std::string::npos)
      << none;
  EXPECT_LT(ms_since(t0), 4000) << "the server should close after a 400";
  auto with_body = raw_exchange(localhost, port_, "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(with_body.rfind("HTTP/1.1 400", 0), 0u) << with_body;
  auto two = raw_exchange(localhost, port_, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  EXPECT_EQ(two.rfind("HTTP/1.1 400", 0), 0u) << two;
  EXPECT_NE(two.find("more than one Host header"), std::string::npos) << two;
  auto two_old = raw_exchange(localhost, port_, "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n");
  EXPECT_EQ(two_old.rfind("HTTP/1.1 400", 0), 0u) << two_old;
  EXPECT_EQ(calls.load(), 0);

  auto old = raw_exchange(localhost, port_, "GET /old HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << old;
  auto empty_host = raw_exchange(localhost, port_, "GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(empty_host.rfind("HTTP/1.1 200", 0), 0u) << "an empty Host is allowed (RFC 9112 §3.2): " << empty_host;
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(HttpServer, SlowClientIsDisconnectedAfterReadTimeout) {
  server_options opts;
  opts.read_timeout = 300ms;
  start(echo, opts);
  const auto t0 = steady::now();
  auto out = raw_exchange(localhost, port_, "GET /slow HTTP/1.1\r\nHost: x\r\nX-Half", 10000);
  const auto elapsed = ms_since(t0);
  EXPECT_EQ(out, "");
  EXPECT_GE(elapsed, 200);
  EXPECT_LT(elapsed, 5000) << "the server did not close a stalled connection";
}

TEST_F(HttpServer, IdleKeepAliveConnectionIsClosedAfterReadTimeout) {
  server_options opts;
  opts.read_timeout = 200ms;
  start(echo, opts);
  http_client client(localhost, port_);
  EXPECT_EQ(client.get("/1").status, 200);
  std::this_thread::sleep_for(600ms);
  // The client notices the stale connection and retries once on a new one.
  EXPECT_EQ(client.get("/2").status, 200);
  EXPECT_EQ(server_->connections_accepted(), 2u);
}

// The read deadline is per request, not per connection: the lazy watchdog
// must move with each request instead of cutting a busy connection when the
// first deadline passes.
TEST_F(HttpServer, BusyKeepAliveConnectionOutlivesTheReadTimeout) {
  server_options opts;
  opts.read_timeout = 300ms;
  start(echo, opts);
  http_client client(localhost, port_);
  const auto t0 = steady::now();
  int answered = 0;
  while (ms_since(t0) < 1500) {
    EXPECT_EQ(client.get("/" + std::to_string(answered)).status, 200);
    ++answered;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(answered, 5);
  EXPECT_EQ(server_->connections_accepted(), 1u)
      << "a connection busy for 5 read timeouts was closed and reopened";
}

// A client that stops reading an answer is cut off after write_timeout
// (the answer is far larger than the socket buffers can hold).
TEST_F(HttpServer, StalledReaderIsDisconnectedAfterWriteTimeout) {
  server_options opts;
  opts.write_timeout = 300ms;
  const std::size_t size = 64u << 20;
  start([size](request, std::string, reply_fn reply) { reply(text(std::string(size, 'x'))); }, opts);
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket sock(ioc);
  sock.open(boost::asio::ip::tcp::v4());
  sock.set_option(boost::asio::socket_base::receive_buffer_size(4096));
  sock.connect({boost::asio::ip::make_address(localhost), port_});
  const std::string req = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(sock, boost::asio::buffer(req));
  std::this_thread::sleep_for(1500ms);  // never read meanwhile: the server's write stalls
  // Now read what is there: the server must have closed before sending it all.
  std::size_t got = 0;
  std::array<char, 65536> buf{};
  boost::system::error_code ec;
  const auto t0 = steady::now();
  while (!ec && ms_since(t0) < 10000) got += sock.read_some(boost::asio::buffer(buf), ec);
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset) << ec.message();
  EXPECT_LT(got, size) << "the whole answer arrived: the write was never cut off";
  EXPECT_TRUE(wait_until([&] { return server_->requests_in_flight() == 0; }));
}

TEST_F(HttpServer, StopAnswersRequestInFlight) {
  start([this](request, std::string, reply_fn reply) {
    spawn([reply] {
      std::this_thread::sleep_for(200ms);
      reply(text("finished"));
    });
  });
  auto answer = std::async(std::launch::async, [port = port_] {
    http_client client(localhost, port);
    return client.get("/work");
  });
  ASSERT_TRUE(wait_until([&] { return server_->requests_in_flight() == 1; }));
  const auto t0 = steady::now();
  server_->stop(5s);
  const auto elapsed = ms_since(t0);
  EXPECT_LT(elapsed, 4000);

  auto r = answer.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "finished");
  EXPECT_FALSE(r.keep_alive) << "answers written while stopping carry Connection: close";
  EXPECT_EQ(server_->requests_in_flight(), 0u);

  EXPECT_THROW(http_client(localhost, port_).get("/"), std::runtime_error);
  server_->stop();  // idempotent
}

TEST_F(HttpServer, StopClosesIdleConnectionsAtOnce) {
  start(echo);
  // A keep-alive connection waiting for its next request.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket sock(ioc);
  sock.connect({boost::asio::ip::make_address(localhost), port_});
  const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(sock, boost::asio::buffer(req));
  char buf[1024];
  ASSERT_GT(sock.read_some(boost::asio::buffer(buf)), 0u);
  // And one that never sent anything.
  boost::asio::ip::tcp::socket quiet(ioc);
  quiet.connect({boost::asio::ip::make_address(localhost), port_});
  ASSERT_TRUE(wait_until([&] { return server_->connections_accepted() == 2; }));

  const auto t0 = steady::now();
  server_->stop(5s);
  EXPECT_LT(ms_since(t0), 2000) << "stop() waited for idle connections";

  for (auto* s : {&sock, &quiet}) {
    boost::system::error_code ec;
    s->read_some(boost::asio::buffer(buf), ec);
    EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
        << ec.message();
  }

  boost::system::error_code ec;
  boost::asio::ip::tcp::socket late(ioc);
  late.connect({boost::asio::ip::make_address(localhost), port_}, ec);
  EXPECT_TRUE(ec) << "connecting after stop() should fail";
}

TEST_F(HttpServer, StopGivesUpAfterDrain) {
  std::mutex m;
  std::vector<reply_fn> held;
  server_options opts;
  opts.handler_timeout = 60s;
  start(
      [&](request, std::string, reply_fn reply) {
        std::lock_guard<std::mutex> lk(m);
        held.push_back(std::move(reply));
      },
      opts);
  auto answer = std::async(std::launch::async, [port = port_] {
    http_client client(localhost, port);
    return client.get("/stuck");
  });
  ASSERT_TRUE(wait_until([&] { return server_->requests_in_flight() == 1; }));
  const auto t0 = steady::now();
  server_->stop(300ms);
  const auto elapsed = ms_since(t0);
  EXPECT_GE(elapsed, 250);
  EXPECT_LT(elapsed, 4000);
  EXPECT_THROW(answer.get(), std::runtime_error);  // connection closed unanswered

  // Replying now, or after the server is gone, is harmless.
  std::lock_guard<std::mutex> lk(m);
  ASSERT_EQ(held.size(), 1u);
  auto reply = held[0];
  reply(text("way too late"));
  server_.reset();
  reply(text("even later"));
}

TEST_F(HttpServer, ReplyAfterServerDestroyedIsIgnored) {
  std::promise<reply_fn> got;
  server_options opts;
  opts.handler_timeout = 60s;
  start([&](request, std::string, reply_fn reply) { got.set_value(std::move(reply)); }, opts);
  auto answer = std::async(std::launch::async, [port = port_] {
    try {
      http_client(localhost, port).get("/");
      return true;
    } catch (const std::exception&) {
      return false;
    }
  });
  auto reply = got.get_future().get();
  server_->stop(50ms);
  server_.reset();
  reply(text("nobody listens"));
  EXPECT_FALSE(answer.get());
}

// Each I/O thread runs its own event loop and connections are dealt out in
// turn: four connections on two threads use both, and each connection stays
// on one thread (its handlers need no strand).
TEST_F(HttpServer, ConnectionsAreSpreadOverTheIoThreadsAndStayOnTheirs) {
  server_options opts;
  opts.threads = 2;
  std::mutex m;
  std::map<std::string, std::set<std::thread::id>> threads_of;  // connection tag -> threads seen
  start(
      [&](request req, std::string, reply_fn reply) {
        {
          std::lock_guard<std::mutex> lk(m);
          threads_of[std::string(req.target())].insert(std::this_thread::get_id());
        }
        reply(text("ok"));
      },
      opts);
  std::vector<std::unique_ptr<http_client>> clients;
  for (int c = 0; c < 4; ++c) clients.push_back(std::make_unique<http_client>(localhost, port_));
  for (int round = 0; round < 5; ++round)
    for (int c = 0; c < 4; ++c) ASSERT_EQ(clients[c]->get("/c" + std::to_string(c)).status, 200);
  EXPECT_EQ(server_->connections_accepted(), 4u);
  std::set<std::thread::id> all;
  std::lock_guard<std::mutex> lk(m);
  ASSERT_EQ(threads_of.size(), 4u);
  for (auto& [tag, ids] : threads_of) {
    EXPECT_EQ(ids.size(), 1u) << tag << " was handled on more than one I/O thread";
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(all.size(), 2u) << "the connections were not spread over both I/O threads";
}

TEST_F(HttpServer, ManyConcurrentClients) {
  server_options opts;
  opts.threads = 4;
  start(echo, opts);
  constexpr int clients = 64;
  constexpr int requests = 50;
  std::atomic<int> ok{0};
  std::atomic<int> wrong{0};
  std::mutex m;
  std::string first_error;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      try {
        http_client client(localhost, port_);
        for (int i = 0; i < requests; ++i) {
          const std::string body = "client " + std::to_string(c) + " request " + std::to_string(i);
          auto r = client.post_json("/echo/" + std::to_string(c), body);
          if (r.status == 200 && r.body == body &&
              r.headers["x-target"] == "/echo/" + std::to_string(c))
            ++ok;
          else
            ++wrong;
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lk(m);
        if (first_error.empty()) first_error = e.what();
        ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0) << first_error;
  EXPECT_EQ(ok.load(), clients * requests);
  EXPECT_EQ(server_->connections_accepted(), static_cast<uint64_t>(clients));
  EXPECT_TRUE(wait_until([&] { return server_->requests_in_flight() == 0; }));
}

server_options local_any_port() {
  server_options opts;
  opts.host = localhost;
  opts.port = 0;
  opts.threads = 1;
  return opts;
}

TEST(HttpServerStart, PortInUseThrowsClearError) {
  http_server first(local_any_port(), echo);
  first.start();
  server_options opts;
  opts.host = localhost;
  opts.port = first.bound_port();
  http_server second(opts, echo);
  try {
    second.start();
    FAIL() << "start() on a port in use should throw";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(std::to_string(opts.port)), std::string::npos) << what;
  }
}

TEST(HttpServerStart, UnusableAddressThrows) {
  server_options opts;
  opts.host = "192.0.2.1";  // TEST-NET-1: not an address of this machine
  opts.port = 0;
  http_server s(opts, echo);
  EXPECT_THROW(s.start(), std::runtime_error);
}

TEST(HttpServerStart, StopWithoutStartAndDestructorAreFine) {
  http_server a(local_any_port(), echo);
  a.stop();
  a.stop();
  http_server b(local_any_port(), echo);
  b.start();
  EXPECT_NE(b.bound_port(), 0);
}

TEST(MakeJsonResponse, SetsContentTypeLengthAndKeepAlive) {
  auto res = make_json_response(http::status::created, R"({"a":1})");
  EXPECT_EQ(res.result(), http::status::created);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res[http::field::content_length], "7");
  EXPECT_EQ(res.body(), R"({"a":1})");
  EXPECT_TRUE(res.keep_alive());
  EXPECT_EQ(res.version(), 11u);

  auto closing = make_json_response(http::status::ok, "{}", 10, false);
  EXPECT_EQ(closing.version(), 10u);
  EXPECT_FALSE(closing.keep_alive());
}

}  // namespace
