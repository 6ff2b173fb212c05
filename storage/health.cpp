#include "storage/health.hpp"

#include <memory>

#include "storage/pq.hpp"

namespace maxsess::storage {

db_health::db_health(std::string dsn, std::chrono::milliseconds every,
                     std::function<void(bool, const std::string&)> on_change)
    : dsn_(std::move(dsn)), every_(every), on_change_(std::move(on_change)), thread_([this] { loop(); }) {}

db_health::~db_health() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void db_health::loop() {
  std::unique_ptr<detail::connection> conn;
  for (;;) {
    std::string error;
    try {
      if (!conn) conn = std::make_unique<detail::connection>(dsn_);
      detail::with_reconnect(*conn, [](detail::connection& c) { return c.exec("SELECT 1"); });
    } catch (const std::exception& e) {
      error = e.what();
      conn.reset();
    }
    bool now_ok = error.empty();
    if (now_ok != ok_.exchange(now_ok) && on_change_) on_change_(now_ok, error);
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, every_, [this] { return stop_; })) return;
  }
}

}  // namespace maxsess::storage
