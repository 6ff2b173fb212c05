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

void metric_registry::zero(const std::string& name, const labels& l) {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  families_[name].values.try_emplace(key, 0);
}

void metric_registry::inc(const std::string& name, const labels& l, double n) {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  families_[name].values[key] += n;
}

void metric_registry::set(const std::string& name, const labels& l, double value) {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  families_[name].values[key] = value;
}

void metric_registry::observe(const std::string& name, const labels& l, double value) {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  auto& f = families_[name];
  auto& h = f.histograms[key];
  if (h.counts.size() != f.buckets.size()) h.counts.assign(f.buckets.size(), 0);
  for (std::size_t i = 0; i < f.buckets.size(); ++i)
    if (value <= f.buckets[i]) ++h.counts[i];
  ++h.count;
  h.sum += value;
}

double metric_registry::value(const std::string& name, const labels& l) const {
  auto key = render_labels(l);
  std::lock_guard lock(mutex_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto v = f->second.values.find(key);
  return v == f->second.values.end() ? 0 : v->second;
}

std::string metric_registry::render(const std::string& extra) const {
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  for (auto& [name, f] : families_) {
    if (!f.help.empty()) out << "# HELP " << name << " " << f.help << "\n";
    out << "# TYPE " << name << " " << f.type << "\n";
    for (auto& [key, v] : f.values) out << name << key << " " << number(v) << "\n";
    for (auto& [key, h] : f.histograms) {
      // key is "{a="b"}" or empty: splice "le" into it. (A named
      // reference: C++17 lambdas cannot capture a structured binding, and
      // clang, which builds the fuzz targets, refuses it.)
      const std::string& labels = key;
      auto with_le = [&labels](const std::string& le) {
        if (labels.empty()) return "{le=\"" + le + "\"}";
        return labels.substr(0, labels.size() - 1) + ",le=\"" + le + "\"}";
      };
      for (std::size_t i = 0; i < f.buckets.size(); ++i)
        out << name << "_bucket" << with_le(number(f.buckets[i])) << " " << h.counts[i] << "\n";
      out << name << "_bucket" << with_le("+Inf") << " " << h.count << "\n";
      out << name << "_sum" << key << " " << number(h.sum) << "\n";
      out << name << "_count" << key << " " << h.count << "\n";
    }
  }
  out << extra;
  return out.str();
}

}  // namespace maxsess
