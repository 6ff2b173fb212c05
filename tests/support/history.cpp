#include "tests/support/history.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <sstream>
#include <stdexcept>

namespace maxsess::test {

time_ns steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

const char* kind_name(violation::kind k) {
  switch (k) {
    case violation::kind::over_limit: return "over_limit";
    case violation::kind::holder_denied: return "holder_denied";
    case violation::kind::unknown_account: return "unknown_account";
  }
  return "?";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

std::string to_string(const violation& v) {
  std::ostringstream os;
  os << kind_name(v.what) << " account=" << v.account << " at=" << v.at << "ns limit=" << v.limit
     << " holders=[" << join(v.holders) << "]: " << v.explanation;
  return os.str();
}

std::string describe(const std::vector<violation>& vs, std::size_t max_lines) {
  std::string out;
  for (std::size_t i = 0; i < vs.size() && i < max_lines; ++i)
    out += to_string(vs[i]) + "\n";
  if (vs.size() > max_lines)
    out += "... and " + std::to_string(vs.size() - max_lines) + " more\n";
  return out;
}

history::history(std::map<std::string, int64_t> limits) : limits_(std::move(limits)) {}

void history::set_limit(const std::string& account, int64_t max_sessions) {
  std::lock_guard lock(mutex_);
  limits_[account] = max_sessions;
}

void history::record(link_op op) {
  if (op.answer != link_answer::indeterminate && op.received < op.sent)
    throw std::invalid_argument("history: link answer received before it was sent");
  std::lock_guard lock(mutex_);
  links_.push_back(std::move(op));
}

void history::record(end_op op) {
  if (op.acknowledged && op.received < op.sent)
    throw std::invalid_argument("history: end answer received before it was sent");
  std::lock_guard lock(mutex_);
  ends_.push_back(std::move(op));
}

std::size_t history::size() const {
  std::lock_guard lock(mutex_);
  return links_.size() + ends_.size();
}

std::map<device_ref, std::vector<history::span>> history::certain_spans() const {
  std::map<device_ref, std::vector<const end_op*>> ends_of;
  for (const auto& e : ends_)
    ends_of[{e.account, e.device}].push_back(&e);

  std::map<device_ref, std::vector<span>> spans;
  for (const auto& a : links_) {
    if (a.answer != link_answer::approved)
      continue;
    const device_ref dev{a.account, a.device};
    // The first end that may have landed after this approval: anything not
    // answered before the approval was sent.
    time_ns until = never_ends;
    for (const end_op* e : ends_of[dev])
      if (!e->acknowledged || e->received > a.sent)
        until = std::min(until, e->sent);
    if (until > a.received)
      spans[dev].push_back({a.received, until});
  }
  for (auto& [dev, v] : spans) {
    std::sort(v.begin(), v.end(), [](const span& x, const span& y) { return x.from < y.from; });
    std::vector<span> merged;
    for (const auto& s : v) {
      if (!merged.empty() && s.from <= merged.back().to)
        merged.back().to = std::max(merged.back().to, s.to);
      else
        merged.push_back(s);
    }
    v = std::move(merged);
  }
  return spans;
}

std::vector<violation> history::check() const {
  std::lock_guard lock(mutex_);
  std::vector<violation> out;

  std::set<std::string> accounts;
  for (const auto& op : links_)
    accounts.insert(op.account);
  for (const auto& op : ends_)
    accounts.insert(op.account);
  for (const auto& acc : accounts)
    if (!limits_.count(acc))
      out.push_back({violation::kind::unknown_account, acc, 0, 0, {},
                     "the test gave the checker no max_sessions for this account"});

  const auto spans = certain_spans();

  // Sweep each account's spans in time order; at one instant ends go first
  // (a span is [from, to), so one ending exactly when another starts is no
  // overlap).
  struct edge {
    time_ns at;
    int delta;
    std::string device;
  };
  std::map<std::string, std::vector<edge>> edges;
  for (const auto& [dev, v] : spans)
    for (const auto& s : v) {
      edges[dev.account].push_back({s.from, +1, dev.device});
      if (s.to != never_ends)
        edges[dev.account].push_back({s.to, -1, dev.device});
    }
  for (auto& [acc, ev] : edges) {
    auto lim = limits_.find(acc);
    if (lim == limits_.end() || lim->second == 0)
      continue;
    std::sort(ev.begin(), ev.end(), [](const edge& x, const edge& y) {
      return x.at != y.at ? x.at < y.at : x.delta < y.delta;
    });
    std::set<std::string> holding;
    for (const auto& e : ev) {
      if (e.delta < 0) {
        holding.erase(e.device);
        continue;
      }
      holding.insert(e.device);
      if (static_cast<int64_t>(holding.size()) > lim->second) {
        std::vector<std::string> holders(holding.begin(), holding.end());
        out.push_back({violation::kind::over_limit, acc, e.at, lim->second, holders,
                       std::to_string(holding.size()) + " devices certainly held a slot when " +
                           e.device + "'s approval was received"});
      }
    }
  }

  // A device that already holds is approved again (zapping), never denied.
  for (const auto& d : links_) {
    if (d.answer != link_answer::denied)
      continue;
    auto it = spans.find({d.account, d.device});
    if (it == spans.end())
      continue;
    for (const auto& s : it->second)
      if (s.from < d.sent && d.received < s.to) {
        auto lim = limits_.find(d.account);
        out.push_back({violation::kind::holder_denied, d.account, d.sent,
                       lim == limits_.end() ? 0 : lim->second, {d.device},
                       d.device + " was denied while it certainly held a slot (since " +
                           std::to_string(s.from) + "ns)"});
      }
  }
  return out;
}

std::vector<device_ref> history::certain_holders_at_end() const {
  std::lock_guard lock(mutex_);
  std::vector<device_ref> out;
  for (const auto& [dev, v] : certain_spans())
    if (!v.empty() && v.back().to == never_ends)
      out.push_back(dev);
  return out;
}

}  // namespace maxsess::test
