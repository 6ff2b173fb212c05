#include "storage/health.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <memory>

#include "domain/thread_name.hpp"
#include "storage/pq.hpp"

namespace maxsess::storage {

namespace {

// `SELECT 1` answered within `limit`; "" when it was, else why not. A
// server that hangs (TCP still accepts, nothing comes back: stopped,
// swapping, a network that drops packets) must make /readyz 503, not hold
// the probe in a blocking read forever while it says "ready".
std::string select_one(detail::connection& c, std::chrono::milliseconds limit) {
  PGconn* pg = c.get();
  if (PQstatus(pg) != CONNECTION_OK) return "no connection";
  if (!PQsendQuery(pg, "SELECT 1")) return PQerrorMessage(pg);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (!PQconsumeInput(pg)) return PQerrorMessage(pg);
    if (!PQisBusy(pg)) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return "no answer to SELECT 1 within " + std::to_string(limit.count()) + " ms";
    pollfd p{PQsocket(pg), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  std::string error;
  while (PGresult* r = PQgetResult(pg)) {
    if (PQresultStatus(r) != PGRES_TUPLES_OK && error.empty()) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  return error;
}

}  // namespace

db_health::db_health(std::string dsn, std::chrono::milliseconds every, std::chrono::milliseconds answer_within,
                     std::function<void(bool, const std::string&)> on_change)
    : dsn_(std::move(dsn)),
      every_(every),
      answer_within_(answer_within),
      on_change_(std::move(on_change)),
      thread_([this] {
        name_this_thread("db-health");
        loop();
      }) {}

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
    // A connection the server dropped (a restart) is replaced at once, so
    // one round says ready again; a server that does not answer in time is
    // reported without a second wait.
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!conn) conn = std::make_unique<detail::connection>(dsn_);
        error = select_one(*conn, answer_within_);
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (error.empty()) break;
      const bool timed_out = conn && PQstatus(conn->get()) == CONNECTION_OK && PQisBusy(conn->get());
      conn.reset();  // never reuse a connection with a query still on it
      if (timed_out) break;
    }
    bool now_ok = error.empty();
    if (now_ok != ok_.exchange(now_ok) && on_change_) on_change_(now_ok, error);
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, every_, [this] { return stop_; })) return;
  }
}

}  // namespace maxsess::storage
