#include "domain/metrics.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

namespace maxsess {

namespace {
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  // The shortest text that reads back as the same double: a Unix time in
  // seconds keeps its milliseconds (9 significant digits rounded
  // 1796118662.3 to 1.79611826e+09, ten seconds off).
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
}  // namespace

std::string metric_registry::escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string metric_registry::render_labels(const labels& l) {
  if (l.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < l.size(); ++i) {
    if (i) out += ',';
    out += l[i].first + "=\"" + escape_label(l[i].second) + "\"";
  }
  return out + "}";
}

void metric_registry::describe_counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  f.type = "counter";
  f.help = help;
}

void metric_registry::describe_gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  f.type = "gauge";
  f.help = help;
}

void metric_registry::describe_histogram(const std::string& name, const std::string& help,
                                         std::vector<double> buckets) {
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  f.type = "histogram";
  f.help = help;
  f.buckets = std::move(buckets);
}

namespace {
// std::atomic<double>::fetch_add is C++20.
void add(std::atomic<double>& a, double n) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed)) {
  }
}
}  // namespace

void metric_registry::zero(const std::string& name, const labels& l) {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  families_[name].values.try_emplace(key, 0.0);
}

void metric_registry::inc(const std::string& name, const labels& l, double n) { counter(name, l).inc(n); }

void metric_registry::set(const std::string& name, const labels& l, double value) {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  families_[name].values.try_emplace(key, 0.0).first->second.store(value, std::memory_order_relaxed);
}

void metric_registry::observe(const std::string& name, const labels& l, double value) {
  histogram(name, l).observe(value);
}

metric_registry::counter_ref metric_registry::counter(const std::string& name, const labels& l) {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  return counter_ref(&families_[name].values.try_emplace(key, 0.0).first->second);
}

metric_registry::hist& metric_registry::histogram_locked(family& f, const std::string& key) {
  auto& h = f.histograms[key];
  if (!h) h = std::make_unique<hist>(f.buckets);
  return *h;
}

metric_registry::histogram_ref metric_registry::histogram(const std::string& name, const labels& l) {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  return histogram_ref(&histogram_locked(families_[name], key));
}

void metric_registry::counter_ref::inc(double n) const {
  if (cell_ != nullptr) add(*cell_, n);
}

void metric_registry::histogram_ref::observe(double value) const {
  if (h_ == nullptr) return;
  std::size_t i = 0;
  while (i < h_->bounds.size() && value > h_->bounds[i]) ++i;  // i == size(): only +Inf
  h_->counts[i].fetch_add(1, std::memory_order_relaxed);
  add(h_->sum, value);
}

double metric_registry::value(const std::string& name, const labels& l) const {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto v = f->second.values.find(key);
  return v == f->second.values.end() ? 0 : v->second.load(std::memory_order_relaxed);
}

lazy_counters::lazy_counters(metric_registry& registry, std::string name, std::size_t keys, labels_of labels)
    : registry_(registry),
      name_(std::move(name)),
      labels_(std::move(labels)),
      keys_(keys),
      cells_(std::make_unique<std::atomic<std::atomic<double>*>[]>(keys)) {
  for (std::size_t i = 0; i < keys_; ++i) cells_[i].store(nullptr, std::memory_order_relaxed);
}

void lazy_counters::inc(std::size_t key, double n) {
  if (key >= keys_) return;
  auto* cell = cells_[key].load(std::memory_order_acquire);
  if (cell == nullptr) {
    // Two threads may resolve it at once: both get the same series.
    cell = registry_.counter(name_, labels_(key)).cell_;
    cells_[key].store(cell, std::memory_order_release);
  }
  add(*cell, n);
}

std::string metric_registry::render(const std::string& extra) const {
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  for (auto& [name, f] : families_) {
    if (!f.help.empty()) out << "# HELP " << name << " " << f.help << "\n";
    out << "# TYPE " << name << " " << f.type << "\n";
    for (auto& [key, v] : f.values) out << name << key << " " << number(v.load(std::memory_order_relaxed)) << "\n";
    for (auto& [key, hp] : f.histograms) {
      const hist& h = *hp;
      // key is "{a="b"}" or empty: splice "le" into it. (A named
      // reference: C++17 lambdas cannot capture a structured binding, and
      // clang, which builds the fuzz targets, refuses it.)
      const std::string& labels = key;
      auto with_le = [&labels](const std::string& le) {
        if (labels.empty()) return "{le=\"" + le + "\"}";
        return labels.substr(0, labels.size() - 1) + ",le=\"" + le + "\"}";
      };
      // Read as it is at this moment: an observation made meanwhile may be
      // in a bucket and not yet in the count (or the reverse), never lost.
      uint64_t cumulative = 0;
      for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += h.counts[i].load(std::memory_order_relaxed);
        out << name << "_bucket" << with_le(number(h.bounds[i])) << " " << cumulative << "\n";
      }
      cumulative += h.counts[h.bounds.size()].load(std::memory_order_relaxed);
      out << name << "_bucket" << with_le("+Inf") << " " << cumulative << "\n";
      out << name << "_sum" << key << " " << number(h.sum.load(std::memory_order_relaxed)) << "\n";
      out << name << "_count" << key << " " << cumulative << "\n";
    }
  }
  out << extra;
  return out.str();
}

}  // namespace maxsess
