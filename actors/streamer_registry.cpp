#include "actors/streamer_registry.hpp"

namespace maxsess::actors {

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
