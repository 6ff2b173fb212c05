// storage::batch_writer: group commit, per-submit outcomes, failures,
// flush on stop.
#include <atomic>
#include <mutex>
#include <thread>

#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using namespace std::chrono_literals;
using storage::write_status;

class StorageBatchWriter : public migrated_db {};

TEST_F(StorageBatchWriter, ConcurrentSubmitsAreGroupCommitted) {
  storage::batch_writer writer(dsn, 64, 5ms);
  collector<write_status> done;
  constexpr int threads = 4, per_thread = 125;
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t)
    submitters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto s = bare_session("acc" + std::to_string(t), "dev" + std::to_string(i));
        writer.submit({upsert(s, 1, t)}, [&](write_status st) { done.add(st); });
      }
    });
  for (auto& t : submitters)
    t.join();
  ASSERT_TRUE(done.wait(threads * per_thread)) << "callbacks missing";
  for (auto st : done.values())
    EXPECT_EQ(st, write_status::ok);

  auto stats = writer.get_stats();
  EXPECT_EQ(stats.submits, static_cast<uint64_t>(threads * per_thread));
  EXPECT_EQ(stats.ops, static_cast<uint64_t>(threads * per_thread));
  EXPECT_LT(stats.commits, stats.submits) << "no group commit happened";
  EXPECT_EQ(stats.failures, 0u);
  storage::session_store store(dsn);
  EXPECT_EQ(store.count_sessions(), threads * per_thread);
  for (int t = 0; t < threads; ++t)
    EXPECT_EQ(store.sessions_of("acc" + std::to_string(t)).size(), static_cast<size_t>(per_thread));
}

TEST_F(StorageBatchWriter, SeveralLanesKeepEachAccountsOrderAndUseEveryLane) {
  // Each account rewrites one row over and over with a growing byte count,
  // without waiting for the commits: what is stored at the end must be the
  // last version of every account's row, whichever lanes the accounts took.
  storage::batch_writer writer(dsn, 64, 0ms, 0ms, 3);
  collector<write_status> done;
  constexpr int accounts = 24, versions = 40;
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t)
    submitters.emplace_back([&, t] {
      for (int v = 1; v <= versions; ++v)
        for (int a = t; a < accounts; a += 4) {
          auto s = bare_session("acc" + std::to_string(a), "dev");
          s.bytes = v;
          writer.submit({upsert(s, 1)}, [&](write_status st) { done.add(st); });
        }
    });
  for (auto& t : submitters)
    t.join();
  ASSERT_TRUE(done.wait(accounts * versions)) << "callbacks missing";
  for (auto st : done.values())
    EXPECT_EQ(st, write_status::ok);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE bytes = " +
                                        std::to_string(versions)),
            std::to_string(accounts));
  // Three lanes = three writer connections to the server.
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                    "current_database() AND pid <> pg_backend_pid()"),
            "3");
  writer.flush_and_stop();
  EXPECT_EQ(writer.get_stats().submits, static_cast<uint64_t>(accounts * versions));
}

TEST_F(StorageBatchWriter, OkIsReportedOnlyOnceTheRowIsVisible) {
  storage::batch_writer writer(dsn, 16, 1ms);
  storage::session_store store(dsn);
  std::atomic<int> missing{0};
  collector<write_status> done;
  for (int i = 0; i < 50; ++i)
    writer.submit({upsert(bare_session("acc", "d" + std::to_string(i)), 1)},
                  [&, i](write_status st) {
                    // Another connection must already see the committed row.
                    if (test::query_scalar(dsn, "SELECT count(*) FROM playback_sessions"
                                                " WHERE device_id = 'd" +
                                                    std::to_string(i) + "'") != "1")
                      ++missing;
                    done.add(st);
                  });
  ASSERT_TRUE(done.wait(50));
  EXPECT_EQ(missing.load(), 0);
}

TEST_F(StorageBatchWriter, ALoneSubmitIsCommittedWithoutCompany) {
  storage::batch_writer writer(dsn, 256, 20ms);
  collector<write_status> done;
  writer.submit({account("acc1", 2)}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(1, std::chrono::seconds(30)));
  EXPECT_EQ(done.values()[0], write_status::ok);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT max_sessions FROM accounts"), "2");
  EXPECT_EQ(writer.get_stats().commits, 1u);
}

TEST_F(StorageBatchWriter, BatchesRespectMaxRowsAndKeepSubmitsWhole) {
  storage::batch_writer writer(dsn, 10, 50ms);
  collector<write_status> done;
  for (int i = 0; i < 100; ++i)
    writer.submit({upsert(bare_session("acc", "d" + std::to_string(i)), 1)},
                  [&](write_status st) { done.add(st); });
  // A submit larger than batch_max_rows goes as one transaction.
  std::vector<storage::write_op> big;
  for (int i = 0; i < 25; ++i)
    big.push_back(upsert(bare_session("big", "d" + std::to_string(i)), 1));
  writer.submit(std::move(big), [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(101));
  for (auto st : done.values())
    EXPECT_EQ(st, write_status::ok);
  auto stats = writer.get_stats();
  EXPECT_GE(stats.commits, 11u);  // at most 10 ops per batch, plus the big one
  EXPECT_EQ(stats.ops, 125u);
  storage::session_store store(dsn);
  EXPECT_EQ(store.count_sessions(), 125);
}

TEST_F(StorageBatchWriter, ASubmitWithAFencedOpIsFenced) {
  {
    storage::session_store store(dsn);
    store.apply({upsert(bare_session("acc1", "dev1"), 5)});
  }
  storage::batch_writer writer(dsn, 64, 1ms);
  collector<write_status> done;
  auto stale = full_session("acc1", "dev1");
  writer.submit({account("acc1", 4), upsert(stale, 3)}, [&](write_status st) { done.add(st); });
  writer.submit({upsert(bare_session("acc1", "dev2"), 5)}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(2));
  EXPECT_EQ(done.values()[0], write_status::fenced);
  EXPECT_EQ(done.values()[1], write_status::ok);
  // The fenced op changed nothing; the submit's other op did apply.
  EXPECT_EQ(test::query_scalar(dsn, "SELECT status FROM playback_sessions WHERE device_id='dev1'"),
            "pending");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT max_sessions FROM accounts"), "4");
  EXPECT_EQ(writer.get_stats().fenced_submits, 1u);
}

TEST_F(StorageBatchWriter, AFailingSubmitFailsAloneAndAppliesNothing) {
  // A long window so both submits land in one batch.
  storage::batch_writer writer(dsn, 64, 300ms);
  collector<std::pair<int, write_status>> done;
  writer.submit({upsert(bare_session("bad", "dev1"), 1), account("bad", -1)},
                [&](write_status st) { done.add({0, st}); });
  writer.submit({upsert(bare_session("good", "dev1"), 1)},
                [&](write_status st) { done.add({1, st}); });
  ASSERT_TRUE(done.wait(2));
  for (auto [which, st] : done.values())
    EXPECT_EQ(st, which == 0 ? write_status::failed : write_status::ok) << which;
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE account_id='bad'"),
            "0");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM accounts"), "0");
  EXPECT_EQ(test::query_scalar(dsn,
                               "SELECT count(*) FROM playback_sessions WHERE account_id='good'"),
            "1");
  auto stats = writer.get_stats();
  EXPECT_GE(stats.failures, 2u);  // the batch, its retry, the bad submit alone
  EXPECT_EQ(stats.failed_submits, 1u);
  EXPECT_NE(stats.last_error.find("max_sessions"), std::string::npos) << stats.last_error;

  // The writer keeps working.
  writer.submit({account("later", 1)}, [&](write_status st) { done.add({2, st}); });
  ASSERT_TRUE(done.wait(3));
  EXPECT_EQ(done.values()[2].second, write_status::ok);
}

TEST_F(StorageBatchWriter, ALoneFailingSubmitIsFailed) {
  storage::batch_writer writer(dsn, 64, 1ms);
  collector<write_status> done;
  writer.submit({account("x", -5)}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(1));
  EXPECT_EQ(done.values()[0], write_status::failed);
  EXPECT_EQ(writer.get_stats().failures, 2u);  // the attempt and its one retry
}

// A migration that changes a column the prepared upsert returns (schema
// 12 made the ids COLLATE "C") leaves the statement failing with "cached
// plan must not change result type" on every call: the writer prepares
// its statements again and the submit is still committed (by the retry).
TEST_F(StorageBatchWriter, APreparedStatementWhoseResultChangedIsPreparedAgain) {
  storage::batch_writer writer(dsn, 64, 1ms);
  collector<write_status> done;
  writer.submit({upsert(bare_session("acc1", "d1"), 1)}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(1));
  ASSERT_EQ(done.values()[0], write_status::ok);
  test::query_scalar(dsn, "ALTER TABLE playback_sessions ALTER COLUMN device_id TYPE text COLLATE \"POSIX\"");
  writer.submit({upsert(bare_session("acc1", "d2"), 1)}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(2));
  EXPECT_EQ(done.values()[1], write_status::ok);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE account_id = 'acc1'"), "2");
  EXPECT_EQ(writer.get_stats().failures, 1u);  // the first attempt, not its retry
}

TEST_F(StorageBatchWriter, FlushAndStopCommitsEverythingQueued) {
  // A window far longer than the test: only the flush can commit these.
  storage::batch_writer writer(dsn, 1000, 60s);
  collector<write_status> done;
  for (int i = 0; i < 50; ++i)
    writer.submit({upsert(bare_session("acc", "d" + std::to_string(i)), 1)},
                  [&](write_status st) { done.add(st); });
  auto before = std::chrono::steady_clock::now();
  writer.flush_and_stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 30s);
  EXPECT_EQ(done.values().size(), 50u);  // answered before flush_and_stop returned
  for (auto st : done.values())
    EXPECT_EQ(st, write_status::ok);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM playback_sessions"), "50");

  writer.flush_and_stop();  // idempotent
  collector<write_status> late;
  writer.submit({account("late", 1)}, [&](write_status st) { late.add(st); });
  ASSERT_TRUE(late.wait(1, 1s));
  EXPECT_EQ(late.values()[0], write_status::failed);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM accounts"), "0");
}

TEST_F(StorageBatchWriter, DestructorFlushes) {
  collector<write_status> done;
  {
    storage::batch_writer writer(dsn, 1000, 60s);
    for (int i = 0; i < 10; ++i)
      writer.submit({account("a" + std::to_string(i), 1)}, [&](write_status st) { done.add(st); });
  }
  EXPECT_EQ(done.values().size(), 10u);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM accounts"), "10");
}

TEST_F(StorageBatchWriter, UnreachableDatabaseFailsSubmits) {
  storage::batch_writer writer(unreachable_dsn(), 64, 1ms);
  collector<write_status> done;
  writer.submit({account("a", 1)}, [&](write_status st) { done.add(st); });
  writer.submit({account("b", 1)}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(2));
  for (auto st : done.values())
    EXPECT_EQ(st, write_status::failed);
  EXPECT_EQ(writer.get_stats().failed_submits, 2u);
  EXPECT_NE(writer.get_stats().last_error.find("connect"), std::string::npos);
}

TEST_F(StorageBatchWriter, RetriesAfterADroppedConnection) {
  storage::batch_writer writer(dsn, 64, 1ms);
  collector<write_status> done;
  writer.submit({account("a", 1)}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(1));
  ASSERT_GE(kill_connections(dsn), 1);
  writer.submit({account("b", 1)}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(2));
  EXPECT_EQ(done.values()[1], write_status::ok);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM accounts"), "2");
}

TEST_F(StorageBatchWriter, AnEmptySubmitIsOk) {
  storage::batch_writer writer(dsn, 64, 1ms);
  collector<write_status> done;
  writer.submit({}, [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(1));
  EXPECT_EQ(done.values()[0], write_status::ok);
}

// after(): the barrier a dead account actor's successor waits on before it
// reads the account (actors/account_actor.cpp, after_death).
TEST_F(StorageBatchWriter, AfterAnswersOnceTheAccountsEarlierSubmitsAreCommitted) {
  constexpr int lanes = 3;
  storage::batch_writer writer(dsn, 8, 2ms, 0ms, lanes);
  // An account whose lane is not the one an empty submit() takes (lane 0):
  // after() must find the account's own lane.
  std::string acc;
  for (int i = 0; acc.empty(); ++i)
    if (fnv1a64("acc" + std::to_string(i)) % lanes != 0) acc = "acc" + std::to_string(i);
  // The table locked by another transaction: the account's upserts wait in
  // their lane, and so must the barrier behind them (a barrier on an idle
  // lane commits nothing and is answered at once).
  raw_connection holder(dsn);
  holder.exec("BEGIN");
  holder.exec("LOCK TABLE playback_sessions IN EXCLUSIVE MODE");
  std::mutex m;
  std::vector<std::string> order;
  collector<write_status> done;
  constexpr int rows = 40;
  for (int i = 0; i < rows; ++i)
    writer.submit({upsert(bare_session(acc, "d" + std::to_string(i)), 1)}, [&, i](write_status st) {
      std::lock_guard lock(m);
      order.push_back("d" + std::to_string(i));
      done.add(st);
    });
  std::string seen;
  writer.after(acc, [&](write_status st) {
    // Another connection already sees every row submitted before.
    seen = test::query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE account_id = '" + acc + "'");
    std::lock_guard lock(m);
    order.push_back("after");
    done.add(st);
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(done.values().size(), 0u) << "answered while the writes before it were blocked";
  holder.exec("COMMIT");
  ASSERT_TRUE(done.wait(rows + 1));
  for (auto st : done.values()) EXPECT_EQ(st, write_status::ok);
  EXPECT_EQ(seen, std::to_string(rows));
  {
    std::lock_guard lock(m);
    EXPECT_EQ(order.back(), "after") << "answered before a write submitted ahead of it";
  }
  writer.flush_and_stop();
  EXPECT_EQ(writer.get_stats().submits, static_cast<uint64_t>(rows)) << "a barrier is not a submit";
}

TEST_F(StorageBatchWriter, AfterOnAnIdleWriterCommitsNothingAndFailsWithoutADatabase) {
  storage::batch_writer writer(dsn, 64, 0ms);
  collector<write_status> done;
  writer.after("nobody", [&](write_status st) { done.add(st); });
  ASSERT_TRUE(done.wait(1));
  EXPECT_EQ(done.values()[0], write_status::ok);
  EXPECT_EQ(writer.get_stats().commits, 0u) << "a barrier alone is not a commit";

  storage::batch_writer unreachable(unreachable_dsn(), 64, 0ms);
  collector<write_status> refused;
  unreachable.after("nobody", [&](write_status st) { refused.add(st); });
  ASSERT_TRUE(refused.wait(1));
  EXPECT_EQ(refused.values()[0], write_status::failed);
}

}  // namespace
}  // namespace maxsess
