#pragma once
// Prometheus metrics: counters and histograms with labels, rendered in the
// text exposition format. One registry is built in main and passed to whoever
// counts (no global instance). Thread-safe. Updating by name and labels
// renders the label set and looks it up under the registry's mutex; the
// per-request paths (every HTTP answer, every auth check) resolve their
// series once instead (counter_ref, histogram_ref, lazy_counters) and then
// update atomics only: the mutex and the label strings were ~1 µs and a
// contended lock between the I/O threads per request (issue 7).
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace maxsess {

class lazy_counters;

class metric_registry {
 public:
  using labels = std::vector<std::pair<std::string, std::string>>;

  // Declares a family (name, help). Undeclared families render without HELP.
  void describe_counter(const std::string& name, const std::string& help);
  void describe_gauge(const std::string& name, const std::string& help);
  // Histogram buckets are upper bounds in seconds.
  void describe_histogram(const std::string& name, const std::string& help,
                          std::vector<double> buckets);

  // Creates the series at 0 unless it exists: a counter that has not
  // counted yet still shows a sample, so increase()/rate() alerts see its
  // first increment instead of a series appearing out of nowhere.
  void zero(const std::string& name, const labels& l = {});
  void inc(const std::string& name, const labels& l = {}, double n = 1);
  void set(const std::string& name, const labels& l, double value);
  void observe(const std::string& name, const labels& l, double value);

  double value(const std::string& name, const labels& l = {}) const;  // counters/gauges, for tests

  // One series, resolved once; valid as long as the registry. A default
  // constructed ref counts nothing.
  class counter_ref {
   public:
    counter_ref() = default;
    void inc(double n = 1) const;

   private:
    friend class metric_registry;
    friend class lazy_counters;
    explicit counter_ref(std::atomic<double>* cell) : cell_(cell) {}
    std::atomic<double>* cell_ = nullptr;
  };
  struct hist;
  class histogram_ref {
   public:
    histogram_ref() = default;
    void observe(double value) const;

   private:
    friend class metric_registry;
    explicit histogram_ref(hist* h) : h_(h) {}
    hist* h_ = nullptr;
  };
  // The series (created like inc/observe would). A histogram's buckets are
  // those described when its series is created.
  counter_ref counter(const std::string& name, const labels& l = {});
  histogram_ref histogram(const std::string& name, const labels& l = {});

  // The text format; `extra` is appended (gauges computed at scrape time).
  std::string render(const std::string& extra = {}) const;

  static std::string escape_label(const std::string& v);

 private:
  struct family {
    std::string type = "counter";
    std::string help;
    std::vector<double> buckets;
    // Rendered label set -> series. std::map nodes never move, so a ref
    // keeps pointing at its series while others are added.
    std::map<std::string, std::atomic<double>> values;
    std::map<std::string, std::unique_ptr<hist>> histograms;
  };
  static std::string render_labels(const labels& l);
  hist& histogram_locked(family& f, const std::string& key);
  mutable std::mutex mutex_;  // the maps; series are atomics
  std::map<std::string, family> families_;
};

// A histogram series: a count per bucket (not cumulative: one atomic
// increment per observation; render sums them, the last one is above every
// bound, and their total is the count).
struct metric_registry::hist {
  explicit hist(std::vector<double> b)
      : bounds(std::move(b)), counts(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}
  const std::vector<double> bounds;
  std::unique_ptr<std::atomic<uint64_t>[]> counts;
  std::atomic<double> sum{0};
};

// Series of one counter family picked by a small integer (a route group and
// an HTTP status code, say), each resolved on its first increment, so that
// only the series that counted something appear, as with inc().
class lazy_counters {
 public:
  using labels_of = std::function<metric_registry::labels(std::size_t key)>;
  lazy_counters(metric_registry& registry, std::string name, std::size_t keys, labels_of labels);
  void inc(std::size_t key, double n = 1);  // a key out of range counts nothing

 private:
  metric_registry& registry_;
  std::string name_;
  labels_of labels_;
  std::size_t keys_;
  std::unique_ptr<std::atomic<std::atomic<double>*>[]> cells_;
};

}  // namespace maxsess
