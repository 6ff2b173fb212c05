#include "daemon/status.hpp"

#include <nlohmann/json.hpp>

#include "daemon/version.hpp"
#include "domain/thread_name.hpp"

namespace maxsess {

namespace {
// Refusals for the limit, as net/http_api.cpp counts them: link requests
// answered 403 max_sessions_reached, and Flussonic auth checks decided
// afresh and refused for the limit (the audit trail's `denied`).
// Refusals for the limit, links and auth checks; in shadow mode the ones
// enforce would have made (result would_deny), so the chart shows what
// enforcing would refuse — the page's mode badge says which.
double denials_so_far(const metric_registry& m) {
  return m.value("maxsess_link_decisions_total", {{"result", "denied"}}) +
         m.value("maxsess_auth_decisions_total", {{"result", "max_sessions_reached"}}) +
         m.value("maxsess_link_decisions_total", {{"result", "would_deny"}}) +
         m.value("maxsess_auth_decisions_total", {{"result", "would_deny"}});
}
}  // namespace

status_service::status_service(status_options opts, storage::reader_pool& reader,
                               const actors::streamer_directory& streamers, metric_registry& metrics,
                               const clock_source& clock)
    : opts_(std::move(opts)), reader_(reader), streamers_(streamers), metrics_(metrics), clock_(clock) {
  // Samples often enough that a denial lands in its own minute (at most
  // sample_every late); render() samples too, so the page is never behind.
  if (opts_.sample_every.count() > 0)
    sampler_ = std::thread([this] {
      name_this_thread("status-sampler");
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stopping_) {
        lock.unlock();
        sample();
        lock.lock();
        wake_.wait_for(lock, opts_.sample_every, [this] { return stopping_; });
      }
    });
}

status_service::~status_service() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

void status_service::sample() { denials_.sample(clock_.now(), denials_so_far(metrics_)); }

void status_service::render(std::function<void(std::string)> done) {
  sample();
  auto now = clock_.now();
  auto denials = denials_.last_hour(now);
  // What needs no database is read here; the rest on a reader thread.
  nlohmann::json doc = {{"node", opts_.node_id},
                        {"version", build_version()},
                        {"commit", build_commit()},
                        {"cluster", opts_.cluster},
                        {"time", to_rfc3339(now)},
                        {"limits_enabled", opts_.limits_enabled},
                        {"default_max_sessions", opts_.default_max_sessions},
                        {"denials",
                         {{"first_minute", to_rfc3339(denials.first_minute)},
                          {"per_minute", denials.counts},
                          {"last_hour", denials.total}}}};
  if (opts_.mode) doc["mode"] = opts_.mode();
  auto streamers = streamers_.list();
  const int want = opts_.accounts_at_limit;
  const bool limits = opts_.limits_enabled;
  const int64_t default_max = opts_.default_max_sessions;
  reader_.post(
      [doc = std::move(doc), streamers = std::move(streamers), want, limits, default_max,
       done](storage::session_store& db) mutable {
        doc["sessions"] = db.count_by_status();
        auto live = db.count_live_by_streamer();
        auto count = [&](int64_t id, const char* status) -> int64_t {
          auto i = live.find({id, status});
          return i == live.end() ? 0 : i->second;
        };
        auto list = nlohmann::json::array();
        for (const auto& s : streamers)
          list.push_back({{"id", s.id},
                          {"host", s.host},
                          {"enabled", s.enabled},
                          {"capacity", s.capacity},
                          {"pending", count(s.id, "pending")},
                          {"active", count(s.id, "active")}});
        doc["streamers"] = std::move(list);
        // One more than shown tells whether there are more.
        std::vector<storage::session_store::account_at_limit> full;
        if (limits) full = db.accounts_at_limit(default_max, want + 1);
        doc["accounts_at_limit_more"] = static_cast<int>(full.size()) > want;
        if (static_cast<int>(full.size()) > want) full.resize(static_cast<std::size_t>(want));
        auto at_limit = nlohmann::json::array();
        for (auto& a : full)
          at_limit.push_back({{"account_id", a.account_id}, {"max_sessions", a.max_sessions}, {"live", a.live}});
        doc["accounts_at_limit"] = std::move(at_limit);
        done(doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      },
      [done](const std::string&) { done({}); });
}

}  // namespace maxsess
