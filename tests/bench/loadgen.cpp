#include "tests/bench/loadgen.hpp"

#include <time.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <memory>
#include <sstream>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace maxsess::loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------- histogram

histogram::histogram() : buckets_(static_cast<size_t>(64 - kSubBits + 1) * kSub, 0) {}

size_t histogram::index_of(uint64_t ns) {
  if (ns < static_cast<uint64_t>(kSub)) return static_cast<size_t>(ns);
  const int msb = 63 - __builtin_clzll(ns);  // >= kSubBits
  const int shift = msb - kSubBits + 1;      // keeps kSubBits bits below the msb... and the msb
  // (ns >> shift) is in [kSub/2, kSub): one of kSub/2 sub-buckets of this power
  return static_cast<size_t>(shift) * (kSub / 2) + kSub / 2 + static_cast<size_t>((ns >> shift) - kSub / 2);
}

uint64_t histogram::upper_of(size_t index) {
  if (index < static_cast<size_t>(kSub)) return index;
  const size_t shift = (index - kSub / 2) / (kSub / 2);
  const uint64_t sub = (index - kSub / 2) % (kSub / 2) + kSub / 2;
  return ((sub + 1) << shift) - 1;
}

void histogram::record(uint64_t ns) {
  ++buckets_[index_of(ns)];
  ++count_;
  sum_ += ns;
  max_ = std::max(max_, ns);
}

void histogram::merge(const histogram& o) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
}

uint64_t histogram::quantile_ns(double q) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= std::max<uint64_t>(rank, 1)) return std::min(upper_of(i), max_);
  }
  return max_;
}

// ---------------------------------------------------------------- zipf

zipf_sampler::zipf_sampler(uint64_t n, double s) {
  if (n == 0) throw std::invalid_argument("zipf_sampler: n must be > 0");
  if (!(s >= 0)) throw std::invalid_argument("zipf_sampler: s must be >= 0");
  cdf_.resize(n);
  double sum = 0;
  for (uint64_t k = 0; k < n; ++k) {
    sum += 1.0 / std::pow(static_cast<double>(k + 1), s);
    cdf_[k] = sum;
  }
  for (auto& c : cdf_) c /= sum;
  cdf_.back() = 1.0;
}

uint64_t zipf_sampler::draw(double u) const {
  auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  if (it == cdf_.end()) --it;
  return static_cast<uint64_t>(it - cdf_.begin());
}

// ---------------------------------------------------------------- the load

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// What one thread saw; merged at the end.
struct tally {
  uint64_t requests = 0, late = 0, errors = 0, response_bytes = 0, unexpected = 0;
  std::map<int, uint64_t> statuses;
  std::string first_error, first_unexpected, sample_body;
  histogram latency;
  double cpu_s = 0;
};

struct window {
  clk::time_point start, measure_start, measure_end, hard_end;
};

class worker;

struct connection {
  connection(asio::io_context& io, int index, uint16_t port)
      : socket(io), timer(io), index(index), port(port) {}
  tcp::socket socket;
  asio::steady_timer timer;
  int index;
  uint16_t port;
  std::string wbuf;
  std::vector<char> rbuf = std::vector<char>(16384);
  size_t have = 0;
  bool in_flight = false;
  bool done = false;
  clk::time_point sent;      // closed loop: actual send; open loop: intended
  uint64_t seq = 0;          // the request in flight (gen_state.seq)
  uint64_t slot = 0;         // open loop: index of the next request on this connection
};

class worker {
 public:
  worker(const options& o, const std::vector<int>& expect, int id, std::atomic<uint64_t>& seq)
      : o_(o), expect_(expect), id_(id), seq_(seq), rng_(o.seed + id * 7919), end_timer_(io_),
        poll_timer_(io_) {}

  void add(int index) {
    conns_.push_back(std::make_unique<connection>(io_, index, o_.ports[index % o_.ports.size()]));
  }

  // Blocking connects, before the clock starts.
  void connect_all() {
    for (auto& c : conns_) {
      c->socket.connect(tcp::endpoint(asio::ip::make_address(o_.host), c->port));
      c->socket.set_option(tcp::no_delay(true));
    }
  }

  void run(const window& w) {
    w_ = w;
    const double cpu0 = thread_cpu_s();
    for (auto& c : conns_) {
      if (o_.open_loop)
        schedule(*c);
      else
        send(*c, clk::now());
    }
    // Both loops send nothing new after the window and wait up to `drain`
    // for the answers in flight (the server applies those requests anyway).
    end_timer_.expires_at(w_.hard_end);
    end_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) finish_all();
    });
    poll();
    io_.run();
    t_.cpu_s = thread_cpu_s() - cpu0;
  }

  tally& result() { return t_; }

 private:
  // open loop: the intended time of slot k on connection c; the aggregate
  // spacing is 1/rate, connection c takes every C-th slot.
  clk::time_point intended(const connection& c, uint64_t k) const {
    const double total = static_cast<double>(k) * o_.connections + c.index;
    return w_.start + std::chrono::nanoseconds(static_cast<int64_t>(total * 1e9 / o_.rate));
  }

  bool recorded(clk::time_point when) const { return when >= w_.measure_start && when < w_.measure_end; }

  void schedule(connection& c) {
    if (c.done) return;
    const auto at = intended(c, c.slot);
    if (at >= w_.measure_end || stopping_) {
      c.done = true;
      c.socket.close();
      c.timer.cancel();
      return;
    }
    if (at <= clk::now()) {
      ++c.slot;
      send(c, at);
      return;
    }
    c.timer.expires_at(at);
    c.timer.async_wait([this, &c, at](const boost::system::error_code& ec) {
      if (ec || c.done) return;
      ++c.slot;
      send(c, at);
    });
  }

  void next(connection& c) {
    if (o_.open_loop)
      schedule(c);
    else if (clk::now() < w_.measure_end && !stopping_)
      send(c, clk::now());
    else
      retire(c);
  }

  // The window is over for this connection: nothing more to send on it.
  void retire(connection& c) {
    c.done = true;
    boost::system::error_code ignored;
    c.socket.close(ignored);
    c.timer.cancel();
  }

  void send(connection& c, clk::time_point stamp) {
    gen_state g{id_, c.index, seq_.fetch_add(1, std::memory_order_relaxed), &rng_};
    req_.headers.clear();
    req_.body.clear();
    o_.make_request(req_, g);
    c.seq = g.seq;
    auto& b = c.wbuf;
    b.clear();
    b.append(req_.method).append(" ").append(req_.target).append(" HTTP/1.1\r\nHost: ")
        .append(o_.host).append("\r\n");
    for (auto& [k, v] : req_.headers) b.append(k).append(": ").append(v).append("\r\n");
    if (!req_.body.empty() || req_.method != "GET")
      b.append("Content-Length: ").append(std::to_string(req_.body.size())).append("\r\n");
    b.append("\r\n").append(req_.body);
    c.sent = stamp;
    c.in_flight = true;
    c.have = 0;
    asio::async_write(c.socket, asio::buffer(b), [this, &c](const boost::system::error_code& ec, size_t) {
      if (ec) return fail(c, ec.message());
      read(c);
    });
  }

  void read(connection& c) {
    if (c.have == c.rbuf.size()) c.rbuf.resize(c.rbuf.size() * 2);
    c.socket.async_read_some(asio::buffer(c.rbuf.data() + c.have, c.rbuf.size() - c.have),
                             [this, &c](const boost::system::error_code& ec, size_t n) {
                               if (ec) return fail(c, ec.message());
                               c.have += n;
                               parse(c);
                             });
  }

  static bool iequal_prefix(const char* p, const char* end, const char* lit) {
    for (; *lit; ++p, ++lit)
      if (p >= end || std::tolower(static_cast<unsigned char>(*p)) != *lit) return false;
    return true;
  }

  void parse(connection& c) {
    const char* data = c.rbuf.data();
    const char* end = data + c.have;
    static const char kEnd[] = "\r\n\r\n";
    const char* hdr_end = std::search(data, end, kEnd, kEnd + 4);
    if (hdr_end == end) return read(c);
    if (c.have < 12 || std::memcmp(data, "HTTP/1.", 7) != 0) return fail(c, "not an HTTP answer");
    const int status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
    size_t length = 0;
    bool close = false, chunked = false;
    for (const char* line = std::find(data, hdr_end, '\n') + 1; line < hdr_end;) {
      const char* eol = std::find(line, hdr_end + 2, '\n');
      if (iequal_prefix(line, eol, "content-length:")) {
        const char* p = line + 15;
        while (p < eol && *p == ' ') ++p;
        length = std::strtoull(p, nullptr, 10);
      } else if (iequal_prefix(line, eol, "connection:")) {
        close = iequal_prefix(std::find_if(line + 11, eol, [](char ch) { return ch != ' '; }), eol, "close");
      } else if (iequal_prefix(line, eol, "transfer-encoding:")) {
        chunked = true;
      }
      line = eol + 1;
    }
    if (chunked) return fail(c, "chunked answers are not supported");
    const size_t header_len = static_cast<size_t>(hdr_end + 4 - data);
    if (c.have < header_len + length) {
      if (c.rbuf.size() < header_len + length) c.rbuf.resize(header_len + length);
      return read(c);
    }
    const auto now = clk::now();
    c.in_flight = false;
    const bool in_window = o_.open_loop ? recorded(c.sent) : recorded(now);
    if (in_window) {
      ++t_.requests;
      ++t_.statuses[status];
      t_.response_bytes += length;
      t_.latency.record(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.sent).count()));
    }
    // Every answer is judged, the warm-up's and the drain's too: a scenario
    // that tracks what the server applied (webhooks) must see all of them.
    const bool ok =
        o_.check ? o_.check(c.seq, status, std::string_view(data + header_len, length))
        : expect_.empty() ? status / 100 == 2
                          : std::find(expect_.begin(), expect_.end(), status) != expect_.end();
    if (!ok) ++t_.unexpected;
    if (!ok && t_.first_unexpected.empty())
      t_.first_unexpected = std::to_string(status) + " " + std::string(data + header_len, std::min<size_t>(length, 300));
    if (t_.sample_body.empty() && status / 100 == 2) t_.sample_body.assign(data + header_len, length);
    c.have = 0;
    if (close) return reconnect(c, false);
    next(c);
  }

  void fail(connection& c, const std::string& what) {
    if (c.done || stopping_) return;
    ++t_.errors;
    if (t_.first_error.empty()) t_.first_error = what;
    reconnect(c, true);
  }

  // A fresh socket; after an error a short pause, so a refusing server does
  // not turn the client into a busy loop. An open-loop request that failed
  // is not retried: its slot is gone (it counts as an error).
  void reconnect(connection& c, bool pause) {
    boost::system::error_code ignored;
    c.socket.close(ignored);
    c.in_flight = false;
    c.socket = tcp::socket(io_);
    c.timer.expires_after(std::chrono::milliseconds(pause ? 10 : 0));
    c.timer.async_wait([this, &c](const boost::system::error_code& ec) {
      if (ec || c.done || stopping_) return;
      c.socket.async_connect(tcp::endpoint(asio::ip::make_address(o_.host), c.port),
                             [this, &c](const boost::system::error_code& ec2) {
                               if (ec2) return fail(c, "connect: " + ec2.message());
                               c.socket.set_option(tcp::no_delay(true));
                               next(c);
                             });
    });
  }

  // ^C: look every 100 ms; after the window, stop once every connection is done.
  void poll() {
    poll_timer_.expires_after(std::chrono::milliseconds(100));
    poll_timer_.async_wait([this](const boost::system::error_code& ec) {
      // stopping_: this wait may have expired (its handler queued) just as
      // the end timer's finish_all() cancelled it; re-arming then would keep
      // the io_context alive for good.
      if (ec || stopping_) return;
      if (o_.interrupted && *o_.interrupted) return finish_all();
      if (clk::now() >= w_.measure_end) {
        bool all_done = true;
        for (auto& c : conns_) {
          if (!c->done && !c->in_flight) {  // idle (a pacing timer, a reconnect)
            if (o_.open_loop)
              schedule(*c);  // closes it once past the window
            else
              retire(*c);
          }
          all_done = all_done && (c->done && !c->in_flight);
        }
        if (all_done) return finish_all();
      }
      poll();
    });
  }

  // The end: what the open loop still owes is counted late, measured up to now.
  void finish_all() {
    if (stopping_) return;
    stopping_ = true;
    const auto now = clk::now();
    for (auto& c : conns_) {
      if (o_.open_loop) {
        if (c->in_flight && recorded(c->sent)) {
          ++t_.late;
          t_.latency.record(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - c->sent).count()));
        }
        // Slots of the window never sent (the connection fell behind).
        for (uint64_t k = c->slot;; ++k) {
          const auto at = intended(*c, k);
          if (at >= w_.measure_end) break;
          if (!recorded(at)) continue;
          ++t_.late;
          t_.latency.record(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - at).count()));
        }
      }
      c->done = true;
      c->in_flight = false;
      boost::system::error_code ignored;
      c->socket.close(ignored);
      c->timer.cancel();
    }
    end_timer_.cancel();
    poll_timer_.cancel();
  }

  const options& o_;
  const std::vector<int>& expect_;
  int id_;
  std::atomic<uint64_t>& seq_;
  std::mt19937_64 rng_;
  asio::io_context io_{1};
  asio::steady_timer end_timer_, poll_timer_;
  std::vector<std::unique_ptr<connection>> conns_;
  request req_;
  window w_;
  bool stopping_ = false;
  tally t_;
};

}  // namespace

result run(const options& o, const std::vector<int>& expect) {
  if (o.ports.empty()) throw std::invalid_argument("loadgen: no ports");
  if (o.connections < 1 || o.threads < 1) throw std::invalid_argument("loadgen: connections and threads must be >= 1");
  if (o.open_loop && !(o.rate > 0)) throw std::invalid_argument("loadgen: open loop needs a rate > 0");
  if (!o.make_request) throw std::invalid_argument("loadgen: no request callback");
  const int threads = std::min(o.threads, o.connections);
  std::atomic<uint64_t> seq{0};
  std::vector<std::unique_ptr<worker>> workers;
  for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<worker>(o, expect, t, seq));
  for (int i = 0; i < o.connections; ++i) workers[i % threads]->add(i);

  // Connect everything first, then start every thread on one clock.
  std::atomic<int> connected{0};
  std::atomic<bool> go{false};
  std::mutex m;
  std::string setup_error;
  window w;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        if (o.on_thread_start) o.on_thread_start(t);
        workers[t]->connect_all();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> l(m);
        if (setup_error.empty()) setup_error = e.what();
      }
      ++connected;
      while (!go) std::this_thread::sleep_for(std::chrono::microseconds(200));
      {
        std::lock_guard<std::mutex> l(m);
        if (!setup_error.empty()) return;
      }
      workers[t]->run(w);
    });
  while (connected < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  w.start = clk::now() + std::chrono::milliseconds(2);
  w.measure_start = w.start + o.warmup;
  w.measure_end = w.measure_start + o.duration;
  w.hard_end = w.measure_end + o.drain;
  go = true;
  for (auto& th : pool) th.join();
  if (!setup_error.empty()) throw std::runtime_error("loadgen: set-up failed: " + setup_error);

  result r;
  r.elapsed_s = std::chrono::duration<double>(o.duration).count();
  for (auto& wk : workers) {
    auto& t = wk->result();
    r.requests += t.requests;
    r.late += t.late;
    r.unexpected += t.unexpected;
    r.errors += t.errors;
    r.response_bytes += t.response_bytes;
    for (auto& [s, n] : t.statuses) r.statuses[s] += n;
    if (r.first_error.empty()) r.first_error = t.first_error;
    if (r.first_unexpected.empty()) r.first_unexpected = t.first_unexpected;
    if (r.sample_body.empty()) r.sample_body = t.sample_body;
    r.latency.merge(t.latency);
    r.cpu_s += t.cpu_s;
  }
  // Interrupted early: the window was shorter than planned.
  if (o.interrupted && *o.interrupted)
    r.elapsed_s = std::max(1e-3, std::chrono::duration<double>(std::min(clk::now(), w.measure_end) - w.measure_start).count());
  return r;
}

// ---------------------------------------------------------------- JSON lines

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out;
}

std::string json_line(const figure& f) {
  auto num = [](double v) {
    if (v < 0 || !std::isfinite(v)) return std::string("null");
    std::ostringstream ss;
    ss << std::setprecision(6) << v;
    return ss.str();
  };
  std::ostringstream out;
  out << "{\"scenario\": \"" << json_escape(f.scenario) << "\", \"metric\": \"" << json_escape(f.metric)
      << "\", \"value\": " << (std::isfinite(f.value) ? num(std::max(0.0, f.value)) : "null")
      << ", \"p50_ms\": " << num(f.p50_ms) << ", \"p99_ms\": " << num(f.p99_ms)
      << ", \"cpu_us_per_op\": " << num(f.cpu_us_per_op) << ", \"rss_mib\": " << num(f.rss_mib)
      << ", \"note\": \"" << json_escape(f.note) << "\"}";
  return out.str();
}

void append_json(const std::string& path, const figure& f) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out << json_line(f) << "\n";
  if (!out) throw std::runtime_error("cannot append to " + path);
}

}  // namespace maxsess::loadgen
