#pragma once
// loadgen: the project's own HTTP/1.1 load generator (issue 7).
//
// A few threads (default 1), each with its own io_context driving many
// keep-alive connections, so the client costs a few µs of CPU per request
// instead of the ~40 µs of a thread per connection (which on 2 cores ate a
// quarter of the machine). Two modes:
//   closed  like wrk: each connection sends its next request as soon as the
//           answer to the previous one came; latency = answer - send.
//   open    a fixed aggregate rate spread evenly over the connections; each
//           request has an INTENDED send time on that schedule and its
//           latency is measured from it, so a server that falls behind shows
//           its queueing in the percentiles instead of slowing the client
//           down (coordinated omission corrected, as wrk2 does).
// Requests come from a callback, so a scenario can draw its accounts from a
// zipf distribution (zipf_sampler below). Responses are parsed minimally:
// status line, Content-Length, Connection: close (no chunked bodies: every
// server measured here sends a length).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace maxsess::loadgen {

using clk = std::chrono::steady_clock;

// A log-linear latency histogram in nanoseconds (HDR-like): exact below
// 2^kSubBits ns, above that 2^(kSubBits-1) buckets per power of two, so a
// quantile is off by less than 1/2^(kSubBits-1) (1.6 %).
class histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr int kSub = 1 << kSubBits;
  histogram();
  void record(uint64_t ns);
  void merge(const histogram& o);
  uint64_t count() const { return count_; }
  uint64_t max_ns() const { return max_; }
  double mean_ns() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }
  // q in [0, 1]; the upper edge of the bucket holding that rank.
  uint64_t quantile_ns(double q) const;

 private:
  static size_t index_of(uint64_t ns);
  static uint64_t upper_of(size_t index);
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0, max_ = 0, sum_ = 0;
};

// Zipf over ranks 1..n with P(k) ∝ 1/k^s, by inverting a precomputed CDF
// (one binary search per draw; n doubles of memory: 8 MB for 1 M ranks).
class zipf_sampler {
 public:
  zipf_sampler(uint64_t n, double s);
  uint64_t n() const { return cdf_.size(); }
  // A rank in [0, n): rank 0 is the most popular.
  template <class Rng>
  uint64_t operator()(Rng& rng) const {
    return draw(std::uniform_real_distribution<double>(0.0, 1.0)(rng));
  }
  uint64_t draw(double u) const;  // u in [0, 1)

 private:
  std::vector<double> cdf_;
};

struct request {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// What a request callback may use: a per-thread generator and the request's
// sequence number (unique across the whole run).
struct gen_state {
  int thread = 0;
  int connection = 0;
  uint64_t seq = 0;
  std::mt19937_64* rng = nullptr;
};
using request_fn = std::function<void(request&, const gen_state&)>;

struct options {
  std::string host = "127.0.0.1";
  std::vector<uint16_t> ports;   // connection i talks to ports[i % size]
  int connections = 64;
  int threads = 1;
  bool open_loop = false;
  double rate = 0;               // open loop: requests/s over all connections
  std::chrono::milliseconds warmup{0};      // before the window, not recorded
  std::chrono::milliseconds duration{5000}; // the measured window
  std::chrono::milliseconds drain{2000};    // after it: answers in flight awaited (not recorded
                                            // in the closed loop; late in the open loop)
  // Fills the request (the object is reused: clear what you do not set).
  request_fn make_request;
  std::function<void(int thread)> on_thread_start;  // e.g. pinning
  // When set, judges each answer, warm-up and drain included (the request's gen_state.seq,
  // status, body) instead of run()'s `expect`; result.unexpected counts the
  // refused ones. Called on the load threads.
  std::function<bool(uint64_t seq, int status, std::string_view body)> check;
  std::atomic<bool>* interrupted = nullptr;          // stop early when set
  uint64_t seed = 42;
};

struct result {
  double elapsed_s = 0;           // the measured window
  uint64_t requests = 0;          // answers recorded in the window
  uint64_t late = 0;              // open loop: in the window, unanswered after drain
  std::map<int, uint64_t> statuses;
  uint64_t errors = 0;            // transport errors (each one reconnects)
  std::string first_error;
  uint64_t unexpected = 0;        // answers refused by check / expect (warm-up and drain too)
  std::string first_unexpected;   // first answer whose status is not 2xx/expected
  std::string sample_body;        // the first answer's body
  uint64_t response_bytes = 0;    // bodies of the recorded answers
  histogram latency;
  double cpu_s = 0;               // the load threads' own CPU (thread clocks)
  double cpu_us_per_request() const { return requests ? cpu_s * 1e6 / requests : 0; }
  double rate() const { return elapsed_s > 0 ? requests / elapsed_s : 0; }
  double quantile_ms(double q) const { return latency.quantile_ns(q) / 1e6; }
};

// Runs the load; blocks for warmup + duration (+ up to drain).
// `expected` statuses are not checked here: first_unexpected records the
// first answer whose status is not in `expect` (empty: 2xx).
result run(const options& o, const std::vector<int>& expect = {});

// One measured figure as the bench's JSON-lines contract has it (bench.sh's
// table printer reads these; the flows scenarios write the same shape):
// {"scenario": "links-zipf", "metric": "req/s", "value": 1234.5, "p50_ms": 1.2,
//  "p99_ms": 4.5, "cpu_us_per_op": 80.1, "rss_mib": 30.2, "note": "..."}
// A negative number is written as null (not measured).
struct figure {
  std::string scenario, metric = "req/s";
  double value = 0, p50_ms = -1, p99_ms = -1, cpu_us_per_op = -1, rss_mib = -1;
  std::string note;
};
std::string json_line(const figure& f);
// Appends json_line(f) and a newline to `path` (nothing when path is empty).
void append_json(const std::string& path, const figure& f);
std::string json_escape(const std::string& s);

}  // namespace maxsess::loadgen
