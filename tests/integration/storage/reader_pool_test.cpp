// storage::reader_pool: jobs on pooled connections, errors reported.
#include <algorithm>
#include <atomic>
#include <thread>

#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using namespace std::chrono_literals;

class StorageReaderPool : public migrated_db {};

TEST_F(StorageReaderPool, RunsJobsOnItsConnections) {
  {
    storage::session_store store(dsn);
    store.apply({account("acc1", 3)});
  }
  storage::reader_pool pool(dsn, 3);
  collector<int64_t> results;
  collector<std::string> errors;
  for (int i = 0; i < 30; ++i)
    pool.post(
        [&](storage::session_store& s) {
          auto a = s.get_account("acc1");
          results.add(a ? a->max_sessions : -1);
        },
        [&](const std::string& e) { errors.add(e); });
  ASSERT_TRUE(results.wait(30));
  for (auto v : results.values())
    EXPECT_EQ(v, 3);
  EXPECT_TRUE(errors.values().empty());
}

TEST_F(StorageReaderPool, OneConnectionRunsJobsInOrder) {
  storage::reader_pool pool(dsn, 1);
  collector<int> order;
  for (int i = 0; i < 20; ++i)
    pool.post([&, i](storage::session_store&) { order.add(i); }, nullptr);
  ASSERT_TRUE(order.wait(20));
  auto v = order.values();
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(v[static_cast<size_t>(i)], i);
}

TEST_F(StorageReaderPool, ReportsJobErrors) {
  storage::reader_pool pool(dsn, 2);
  collector<std::string> errors;
  auto on_error = [&](const std::string& e) { errors.add(e); };
  pool.post([](storage::session_store&) { throw storage::storage_error("boom"); }, on_error);
  pool.post(
      [](storage::session_store& s) {
        s.put_streamer(streamer{});  // id 0 violates the schema
      },
      on_error);
  ASSERT_TRUE(errors.wait(2));
  auto e = errors.values();
  EXPECT_TRUE(std::find(e.begin(), e.end(), "boom") != e.end());
  EXPECT_TRUE(std::any_of(e.begin(), e.end(), [](const std::string& m) {
    return m.find("streamers") != std::string::npos;
  })) << e[0] << " / " << e[1];

  // The pool keeps working after errors.
  collector<int> ok;
  pool.post([&](storage::session_store& s) { ok.add(static_cast<int>(s.count_sessions())); },
            on_error);
  ASSERT_TRUE(ok.wait(1));
  EXPECT_EQ(ok.values()[0], 0);
}

TEST_F(StorageReaderPool, UnreachableDatabaseIsReportedPerJob) {
  storage::reader_pool pool(unreachable_dsn(), 2);
  collector<std::string> errors;
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i)
    pool.post([&](storage::session_store&) { ++ran; },
              [&](const std::string& e) { errors.add(e); });
  ASSERT_TRUE(errors.wait(3));
  EXPECT_EQ(ran.load(), 0);
  EXPECT_NE(errors.values()[0].find("connect"), std::string::npos) << errors.values()[0];
}

TEST_F(StorageReaderPool, StopRunsQueuedJobsThenRefusesNewOnes) {
  storage::reader_pool pool(dsn, 2);
  std::atomic<int> ran{0};
  for (int i = 0; i < 40; ++i)
    pool.post(
        [&](storage::session_store& s) {
          s.count_sessions();
          std::this_thread::sleep_for(1ms);
          ++ran;
        },
        nullptr);
  pool.stop();
  EXPECT_EQ(ran.load(), 40);
  pool.stop();  // idempotent

  collector<std::string> errors;
  pool.post([&](storage::session_store&) { ++ran; },
            [&](const std::string& e) { errors.add(e); });
  ASSERT_TRUE(errors.wait(1, 1s));
  EXPECT_EQ(ran.load(), 40);
}

TEST_F(StorageReaderPool, SurvivesADroppedConnection) {
  storage::reader_pool pool(dsn, 1);
  collector<int64_t> results;
  collector<std::string> errors;
  auto job = [&](storage::session_store& s) { results.add(s.count_sessions()); };
  auto on_error = [&](const std::string& e) { errors.add(e); };
  pool.post(job, on_error);
  ASSERT_TRUE(results.wait(1));
  ASSERT_GE(kill_connections(dsn), 1);
  pool.post(job, on_error);
  ASSERT_TRUE(results.wait(2));
  EXPECT_TRUE(errors.values().empty());
}

}  // namespace
}  // namespace maxsess
