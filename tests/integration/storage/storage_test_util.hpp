#pragma once
// Shared helpers of the storage integration tests (not a test source itself:
// tests/CMakeLists.txt globs *.cpp only).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "domain/model.hpp"
#include "storage/store.hpp"
#include "tests/support/pg_test.hpp"

// Readable gtest output for the enums (found by ADL).
namespace maxsess {
inline void PrintTo(session_status s, std::ostream* os) { *os << to_string(s); }
inline void PrintTo(content_type c, std::ostream* os) { *os << to_string(c); }
inline void PrintTo(end_reason r, std::ostream* os) { *os << to_string(r); }
inline void PrintTo(link_mode m, std::ostream* os) { *os << to_string(m); }
namespace storage {
inline void PrintTo(write_status s, std::ostream* os) { *os << to_string(s); }
}  // namespace storage
}  // namespace maxsess

namespace maxsess::storage_test {

inline constexpr const char* no_pg_message =
    "no test PostgreSQL (set MAXSESS_TEST_PG_DIR to a folder where `scripts/pg.sh start DIR` "
    "ran, or MAXSESS_TEST_DSN); run through ctest, which starts one";

// A fresh, migrated database per test; skips when there is no server.
class migrated_db : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::server_dsn())
      GTEST_SKIP() << no_pg_message;
    dsn = test::create_migrated_database("storage");
  }
  std::string dsn;
};

// A DSN nothing listens on (connection refused at once).
inline std::string unreachable_dsn() {
  return "host=127.0.0.1 port=1 dbname=nothing user=nobody connect_timeout=2";
}

inline sys_time at_ms(int64_t ms) { return from_unix_ms(ms); }

// A session with every field set to something non-default.
inline playback_session full_session(const std::string& account, const std::string& device) {
  playback_session s;
  s.account_id = account;
  s.device_id = device;
  s.status = session_status::active;
  s.content.type = content_type::catchup;
  s.content.stream = "news/hd";
  s.content.start = 1700000000;
  s.content.duration = 3600;
  s.streamer_id = 7;
  s.client_ip = "10.1.2.3";
  s.flussonic = {
      {"5f1c0b6a-0001", "10.1.2.3", false, at_ms(1700000001001), "sports"},
      {"5f1c0b6a-0002", "10.1.2.4", true, at_ms(1700000002999), "news/hd"},
  };
  s.token = "tok.v1.abc";
  s.started_at = at_ms(1700000000123);
  s.updated_at = at_ms(1700000060456);
  s.ended_at = at_ms(1700000099789);
  s.duration_s = 99;
  s.bytes = 123456789012LL;
  s.reason = end_reason::killed_over_limit;
  s.exempt = true;
  s.over_limit = true;  // bare_session has it false: both values round-trip
  return s;
}

// A minimal pending session: every optional empty.
inline playback_session bare_session(const std::string& account, const std::string& device) {
  playback_session s;
  s.account_id = account;
  s.device_id = device;
  s.status = session_status::pending;
  s.content.type = content_type::live;
  s.content.stream = "news";
  s.started_at = at_ms(1700000000000);
  s.updated_at = at_ms(1700000000000);
  return s;
}

inline void expect_same_session(const playback_session& a, const playback_session& b) {
  EXPECT_EQ(a.account_id, b.account_id);
  EXPECT_EQ(a.device_id, b.device_id);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.content.type, b.content.type);
  EXPECT_EQ(a.content.stream, b.content.stream);
  EXPECT_EQ(a.content.start, b.content.start);
  EXPECT_EQ(a.content.duration, b.content.duration);
  EXPECT_EQ(a.streamer_id, b.streamer_id);
  EXPECT_EQ(a.client_ip, b.client_ip);
  ASSERT_EQ(a.flussonic.size(), b.flussonic.size());
  for (std::size_t i = 0; i < a.flussonic.size(); ++i) {
    EXPECT_EQ(a.flussonic[i].id, b.flussonic[i].id) << i;
    EXPECT_EQ(a.flussonic[i].ip, b.flussonic[i].ip) << i;
    EXPECT_EQ(a.flussonic[i].open, b.flussonic[i].open) << i;
    EXPECT_EQ(to_unix_ms(a.flussonic[i].updated_at), to_unix_ms(b.flussonic[i].updated_at)) << i;
    EXPECT_EQ(a.flussonic[i].stream, b.flussonic[i].stream) << i;
  }
  EXPECT_EQ(a.token, b.token);
  EXPECT_EQ(to_unix_ms(a.started_at), to_unix_ms(b.started_at));
  EXPECT_EQ(to_unix_ms(a.updated_at), to_unix_ms(b.updated_at));
  ASSERT_EQ(a.ended_at.has_value(), b.ended_at.has_value());
  if (a.ended_at) {
    EXPECT_EQ(to_unix_ms(*a.ended_at), to_unix_ms(*b.ended_at));
  }
  EXPECT_EQ(a.duration_s, b.duration_s);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.exempt, b.exempt);
  EXPECT_EQ(a.over_limit, b.over_limit);
}

inline storage::write_op upsert(playback_session s, int64_t epoch, int shard = 3) {
  return storage::write_op::of(storage::session_upsert{std::move(s), shard, epoch});
}
inline storage::write_op erase(const std::string& account, const std::string& device,
                                int64_t epoch) {
  return storage::write_op::of(storage::session_delete{account, device, epoch});
}
// Session writes of a cluster node: fenced on the shard's lease row too.
inline storage::write_op owned_upsert(playback_session s, const std::string& owner, int64_t epoch,
                                      int shard = 3) {
  return storage::write_op::of(storage::session_upsert{std::move(s), shard, epoch, owner});
}
inline storage::write_op owned_erase(const std::string& account, const std::string& device,
                                     const std::string& owner, int64_t epoch, int shard = 3) {
  return storage::write_op::of(storage::session_delete{account, device, epoch, shard, owner});
}
inline storage::write_op account(const std::string& id, int64_t max_sessions, bool exempt = false) {
  return storage::write_op::of(storage::account_upsert{account_settings{id, max_sessions, exempt}});
}

// Collects asynchronous outcomes; wait() blocks until n arrived or timeout.
// A plain connection for holding locks in an open transaction.
class raw_connection {
 public:
  explicit raw_connection(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK)
      throw std::runtime_error(PQerrorMessage(conn_));
  }
  ~raw_connection() { PQfinish(conn_); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  void exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    auto st = PQresultStatus(r);
    std::string error = PQresultErrorMessage(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      throw std::runtime_error(sql + ": " + error);
  }

 private:
  PGconn* conn_;
};

template <class T>
class collector {
 public:
  void add(T v) {
    std::lock_guard<std::mutex> lock(mutex_);
    values_.push_back(std::move(v));
    cv_.notify_all();
  }
  bool wait(std::size_t n, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return values_.size() >= n; });
  }
  std::vector<T> values() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return values_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<T> values_;
};

// Drops every other connection to the test's database, as a server restart
// or a network cut would.
inline int kill_connections(const std::string& dsn) {
  return std::stoi(test::query_scalar(
      dsn,
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
      " WHERE datname = current_database() AND pid <> pg_backend_pid()"));
}

}  // namespace maxsess::storage_test
