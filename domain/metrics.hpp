#pragma once
// Prometheus metrics: counters and histograms with labels, rendered in the
// text exposition format. One registry is built in main and passed to whoever
// counts (no global instance). Thread-safe; a counter update is a short
// critical section, far below the cost of the request it counts.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace maxsess {

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

  // The text format; `extra` is appended (gauges computed at scrape time).
  std::string render(const std::string& extra = {}) const;

  static std::string escape_label(const std::string& v);

 private:
  struct family {
    std::string type = "counter";
    std::string help;
    std::vector<double> buckets;
    std::map<std::string, double> values;  // rendered label set -> value
    struct hist {
      std::vector<uint64_t> counts;
      uint64_t count = 0;
      double sum = 0;
    };
    std::map<std::string, hist> histograms;
  };
  static std::string render_labels(const labels& l);
  mutable std::mutex mutex_;
  std::map<std::string, family> families_;
};

}  // namespace maxsess
