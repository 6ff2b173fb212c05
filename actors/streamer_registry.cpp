#include "actors/streamer_registry.hpp"

#include <algorithm>
#include <tuple>

namespace maxsess::actors {

namespace {
auto fields(const streamer& s) {
  return std::tie(s.id, s.host, s.url, s.api_url, s.api_user, s.api_password, s.mode,
                  s.securetoken_secret, s.link_template, s.capacity, s.enabled, s.allowed_sources,
                  s.access_secrets, s.api_tls_verify);
}
bool same(std::vector<streamer> a, std::vector<streamer> b) {
  auto by_id = [](const streamer& x, const streamer& y) { return x.id < y.id; };
  std::sort(a.begin(), a.end(), by_id);
  std::sort(b.begin(), b.end(), by_id);
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const streamer& x, const streamer& y) { return fields(x) == fields(y); });
}
}  // namespace

void streamer_registry::reload(reload_fn done) {
  db_.post(
      [this, done](storage::session_store& db) {
        // A put or remove on another reader thread may commit and land in
        // the directory while this reads an older snapshot: then read again
        // (its change is committed by the time it lands, so the next read
        // sees it). A few tries; each loss means the table kept changing.
        for (int tries = 0;; ++tries) {
          const auto version = directory_.version();
          auto now = db.list_streamers();
          const auto count = now.size();
          bool changed = !same(now, directory_.list());
          if (changed && !directory_.replace_all_if(version, std::move(now))) {
            if (tries < 4) continue;
            // The puts and removes keep what they changed current; what else
            // differs waits for the next reload, and the caller says so.
            if (done) done(false, count, "the streamers table kept changing while it was read; not applied");
            return;
          }
          if (changed && on_change_) on_change_();
          if (done) done(changed, count, {});
          return;
        }
      },
      [done](const std::string& error) {
        if (done) done(false, 0, error);  // else the next reload tries again
      });
}

void streamer_registry::put(streamer s, done_fn done) {
  db_.post(
      [this, s, done](storage::session_store& db) {
        // Hosts are unique (the webhook path names streamers by host): the
        // table's unique constraint decides, also between concurrent PUTs.
        try {
          db.put_streamer(s);
        } catch (const storage::conflict_error&) {
          auto other = directory_.find_by_host(s.host);
          done(admin_status::conflict,
               "host " + s.host + " is already used by " +
                   (other ? "streamer " + std::to_string(other->id) : std::string("another streamer")));
          return;
        }
        directory_.put(s);
        if (on_change_) on_change_();
        done(admin_status::ok, {});
      },
      [done](const std::string& error) { done(admin_status::unavailable, error); });
}

void streamer_registry::remove(int64_t id, done_fn done) {
  db_.post(
      [this, id, done](storage::session_store& db) {
        if (!db.delete_streamer(id)) {
          directory_.remove(id);
          done(admin_status::not_found, "streamer " + std::to_string(id) + " is not registered");
          return;
        }
        directory_.remove(id);
        if (on_change_) on_change_();
        done(admin_status::ok, {});
      },
      [done](const std::string& error) { done(admin_status::unavailable, error); });
}

}  // namespace maxsess::actors
