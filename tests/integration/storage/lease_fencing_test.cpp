// Session writes fenced on the shard's lease row (write_op owner), through
// session_store::apply and the batch_writer, against a real PostgreSQL:
// a node that lost its lease writes nothing, not even a row the new owner
// never saw, and a takeover and a write in flight never both win.
#include <libpq-fe.h>

#include <atomic>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>

#include "storage/shard_leases.hpp"
#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using namespace std::chrono_literals;
using storage::write_status;

class StorageLeaseFencing : public migrated_db {
 protected:
  void expire_leases() {
    test::query_scalar(dsn, "UPDATE shard_leases SET expires_at = clock_timestamp() - interval "
                            "'1 second'");
  }
  std::string rows_of(const std::string& device) {
    return test::query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE device_id = '" +
                                       device + "'");
  }
  std::string status_of(const std::string& device) {
    return test::query_scalar(dsn, "SELECT status FROM playback_sessions WHERE device_id = '" +
                                       device + "'");
  }
  // Backends of our storage classes (application_name maxsessd...) waiting for
  // a lock on this database.
  int lock_waiters() {
    return std::stoi(test::query_scalar(
        dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
             " AND application_name LIKE 'maxsessd%' AND wait_event_type = 'Lock'"));
  }
  bool wait_for_lock_waiters(int n) {
    auto until = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < until) {
      if (lock_waiters() >= n)
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

playback_session active(const std::string& account, const std::string& device) {
  auto s = bare_session(account, device);
  s.status = session_status::active;
  return s;
}

TEST_F(StorageLeaseFencing, AStaleNodesInsertOfANewDeviceIsFencedAfterATakeover) {
  storage::shard_leases n1_leases(dsn), n2_leases(dsn);
  storage::batch_writer n1(dsn, 64, 1ms), n2(dsn, 64, 1ms);
  collector<std::pair<std::string, write_status>> done;
  auto on = [&](std::string what) { return [&, what](write_status st) { done.add({what, st}); }; };

  ASSERT_EQ(n1_leases.shards().acquire(3, "n1", 60s)->epoch, 1);
  n1.submit({owned_upsert(bare_session("acc1", "tv"), "n1", 1)}, on("n1 tv"));
  ASSERT_TRUE(done.wait(1));

  // n1 freezes; its lease runs out and n2 takes the shard over.
  expire_leases();
  auto taken = n2_leases.shards().acquire(3, "n2", 60s);
  ASSERT_TRUE(taken.has_value());
  ASSERT_EQ(taken->epoch, 2);
  n2.submit({owned_upsert(active("acc1", "phone"), "n2", 2)}, on("n2 phone"));
  ASSERT_TRUE(done.wait(2));

  // n1 wakes up and writes a device that has no row: the per-row epoch
  // check has nothing to compare with, the lease row fences it.
  n1.submit({owned_upsert(bare_session("acc1", "tablet"), "n1", 1)}, on("n1 tablet"));
  n1.submit({owned_upsert(active("acc1", "tv"), "n1", 1)}, on("n1 tv again"));
  n1.submit({owned_erase("acc1", "phone", "n1", 1)}, on("n1 erase phone"));
  ASSERT_TRUE(done.wait(5));

  auto got = done.values();
  EXPECT_EQ(got[0], std::make_pair(std::string("n1 tv"), write_status::ok));
  EXPECT_EQ(got[1], std::make_pair(std::string("n2 phone"), write_status::ok));
  EXPECT_EQ(got[2], std::make_pair(std::string("n1 tablet"), write_status::fenced));
  EXPECT_EQ(got[3], std::make_pair(std::string("n1 tv again"), write_status::fenced));
  EXPECT_EQ(got[4], std::make_pair(std::string("n1 erase phone"), write_status::fenced));
  EXPECT_EQ(rows_of("tablet"), "0");
  EXPECT_EQ(status_of("tv"), "pending");
  EXPECT_EQ(status_of("phone"), "active");
  EXPECT_EQ(n1.get_stats().fenced_submits, 3u);
  EXPECT_EQ(n2.get_stats().fenced_submits, 0u);

  // The new owner carries on.
  n2.submit({owned_upsert(bare_session("acc1", "tablet"), "n2", 2),
             owned_erase("acc1", "tv", "n2", 2)},
            on("n2 tablet"));
  ASSERT_TRUE(done.wait(6));
  EXPECT_EQ(done.values()[5].second, write_status::ok);
  EXPECT_EQ(rows_of("tablet"), "1");
  EXPECT_EQ(rows_of("tv"), "0");
}

TEST_F(StorageLeaseFencing, TheCurrentOwnerWritesWithItsEpochEvenPastExpiryUntilSomeoneTakesOver) {
  storage::shard_leases leases(dsn);
  storage::session_store store(dsn);
  ASSERT_TRUE(leases.shards().acquire(3, "n1", 60s));
  EXPECT_EQ(store.apply({owned_upsert(bare_session("acc1", "tv"), "n1", 1)}),
            (std::vector<write_status>{write_status::ok}));
  EXPECT_EQ(store.apply({owned_upsert(active("acc1", "tv"), "n1", 1),
                         owned_upsert(bare_session("acc1", "phone"), "n1", 1)}),
            (std::vector<write_status>{write_status::ok, write_status::ok}));
  EXPECT_EQ(status_of("tv"), "active");

  // Expired but not taken: nobody else can have written, so the write goes.
  expire_leases();
  EXPECT_EQ(store.apply({owned_erase("acc1", "phone", "n1", 1)}),
            (std::vector<write_status>{write_status::ok}));
  EXPECT_EQ(rows_of("phone"), "0");
  EXPECT_EQ(store.count_sessions(), 1);
}

TEST_F(StorageLeaseFencing, AnotherEpochAnotherOwnerOrNoLeaseRowIsFenced) {
  storage::shard_leases leases(dsn);
  storage::session_store store(dsn);
  ASSERT_TRUE(leases.shards().acquire(3, "n1", 60s));
  auto st = store.apply({
      owned_upsert(bare_session("acc1", "a"), "n1", 2),     // an epoch the lease never had
      owned_upsert(bare_session("acc1", "b"), "n2", 1),     // another owner
      owned_upsert(bare_session("acc1", "c"), "n1", 1, 9),  // shard 9 has no lease row
      owned_upsert(bare_session("acc1", "d"), "n1", 1),     // the lease as it is
  });
  EXPECT_EQ(st, (std::vector<write_status>{write_status::fenced, write_status::fenced,
                                           write_status::fenced, write_status::ok}));
  EXPECT_EQ(store.count_sessions(), 1);
  EXPECT_EQ(rows_of("d"), "1");

  EXPECT_EQ(store.apply({owned_erase("acc1", "d", "n2", 1)}),
            (std::vector<write_status>{write_status::fenced}));
  EXPECT_EQ(store.apply({owned_erase("acc1", "d", "n1", 1, 9)}),
            (std::vector<write_status>{write_status::fenced}));
  EXPECT_EQ(rows_of("d"), "1");
}

// Account settings written by a node that lost the shard are fenced too.
TEST_F(StorageLeaseFencing, AStaleNodesAccountSettingsAreFenced) {
  storage::shard_leases leases(dsn);
  storage::session_store store(dsn);
  ASSERT_TRUE(leases.shards().acquire(3, "n1", 60s));
  auto settings = [](int64_t max, const std::string& owner, int64_t epoch) {
    account_settings a;
    a.account_id = "acc9";
    a.max_sessions = max;
    return storage::write_op::of(storage::account_upsert{a, 3, epoch, owner});
  };
  EXPECT_EQ(store.apply({settings(2, "n1", 1)}), (std::vector<write_status>{write_status::ok}));
  EXPECT_EQ(store.apply({settings(7, "n2", 1)}), (std::vector<write_status>{write_status::fenced}));
  EXPECT_EQ(store.apply({settings(7, "n1", 2)}), (std::vector<write_status>{write_status::fenced}));
  ASSERT_TRUE(store.get_account("acc9").has_value());
  EXPECT_EQ(store.get_account("acc9")->max_sessions, 2) << "a fenced settings write changed nothing";
}

TEST_F(StorageLeaseFencing, OnlyTheFencedOpsOfATransactionAreSkipped) {
  storage::shard_leases leases(dsn);
  ASSERT_EQ(leases.shards().acquire_many({1, 2}, "n1", 60s).size(), 2u);
  expire_leases();
  ASSERT_TRUE(leases.shards().acquire(2, "n2", 60s));  // n1 lost shard 2, kept shard 1

  storage::session_store store(dsn);
  auto st = store.apply({owned_upsert(bare_session("acc1", "x"), "n1", 1, 1),
                         owned_upsert(bare_session("acc2", "y"), "n1", 1, 2), account("acc1", 3),
                         upsert(bare_session("acc3", "z"), 1, 2)});
  EXPECT_EQ(st, (std::vector<write_status>{write_status::ok, write_status::fenced,
                                           write_status::ok, write_status::ok}));
  EXPECT_EQ(rows_of("x"), "1");
  EXPECT_EQ(rows_of("y"), "0");
  EXPECT_EQ(rows_of("z"), "1");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT max_sessions FROM accounts"), "3");

  // Through the writer: a submit with a fenced op is fenced, the others of
  // the same batch are not.
  storage::batch_writer writer(dsn, 64, 300ms);
  collector<std::pair<int, write_status>> done;
  writer.submit({owned_upsert(active("acc1", "x"), "n1", 1, 1),
                 owned_upsert(active("acc2", "y"), "n1", 1, 2)},
                [&](write_status s) { done.add({0, s}); });
  writer.submit({owned_upsert(active("acc2", "y"), "n2", 2, 2)},
                [&](write_status s) { done.add({1, s}); });
  ASSERT_TRUE(done.wait(2));
  for (auto [which, s] : done.values())
    EXPECT_EQ(s, which == 0 ? write_status::fenced : write_status::ok) << which;
  EXPECT_EQ(status_of("x"), "active");  // the submit's unfenced op did apply
  EXPECT_EQ(status_of("y"), "active");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT shard_epoch FROM playback_sessions"
                                    " WHERE device_id = 'y'"),
            "2");
}

TEST_F(StorageLeaseFencing, AnEmptyOwnerSkipsTheLeaseCheckAsInSingleNodeMode) {
  storage::shard_leases leases(dsn);
  storage::session_store store(dsn);
  // No lease rows at all: single-node writes go as before.
  EXPECT_EQ(store.apply({upsert(bare_session("acc1", "tv"), 1), erase("acc1", "nothing", 1)}),
            (std::vector<write_status>{write_status::ok, write_status::ok}));
  // Another node's lease at a later epoch does not stop them either...
  ASSERT_TRUE(leases.shards().acquire(3, "n2", 60s));
  test::query_scalar(dsn, "UPDATE shard_leases SET epoch = 5");
  EXPECT_EQ(store.apply({upsert(bare_session("acc1", "phone"), 1)}),
            (std::vector<write_status>{write_status::ok}));
  // ...only the per-row epoch check does.
  ASSERT_EQ(store.apply({upsert(active("acc1", "tv"), 5)})[0], write_status::ok);
  EXPECT_EQ(store.apply({upsert(bare_session("acc1", "tv"), 1)}),
            (std::vector<write_status>{write_status::fenced}));
  EXPECT_EQ(store.apply({erase("acc1", "tv", 4)}),
            (std::vector<write_status>{write_status::fenced}));
  EXPECT_EQ(status_of("tv"), "active");
  EXPECT_EQ(store.count_sessions(), 2);
}

TEST_F(StorageLeaseFencing, ThePerRowEpochCheckStillAppliesUnderAValidLease) {
  storage::shard_leases leases(dsn);
  storage::session_store store(dsn);
  ASSERT_TRUE(leases.shards().acquire(3, "n1", 60s));
  // A row written at a later epoch than the lease (by hand here).
  ASSERT_EQ(store.apply({upsert(active("acc1", "tv"), 7)})[0], write_status::ok);
  EXPECT_EQ(store.apply({owned_upsert(bare_session("acc1", "tv"), "n1", 1)}),
            (std::vector<write_status>{write_status::fenced}));
  EXPECT_EQ(store.apply({owned_erase("acc1", "tv", "n1", 1)}),
            (std::vector<write_status>{write_status::fenced}));
  EXPECT_EQ(status_of("tv"), "active");
}

TEST_F(StorageLeaseFencing, AWriteWaitsForATakeoverInProgressAndIsThenFenced) {
  storage::shard_leases leases(dsn);
  ASSERT_TRUE(leases.shards().acquire(3, "n1", 60s));
  // n2 takes the lease over in a transaction that has not committed yet.
  raw_connection takeover(dsn);
  takeover.exec("BEGIN");
  takeover.exec("UPDATE shard_leases SET owner = 'n2', epoch = epoch + 1 WHERE shard = 3");

  std::atomic<bool> finished{false};
  auto write = std::async(std::launch::async, [&] {
    storage::session_store store(dsn);
    auto st = store.apply({owned_upsert(bare_session("acc1", "tablet"), "n1", 1)});
    finished = true;
    return st;
  });
  // Reading the lease row FOR SHARE must wait for the takeover; reading the
  // committed row instead would let the write through.
  bool waited = wait_for_lock_waiters(1);
  EXPECT_TRUE(waited) << "the write did not wait for the lease row";
  EXPECT_FALSE(finished.load());
  takeover.exec("COMMIT");
  auto st = write.get();
  EXPECT_EQ(st, (std::vector<write_status>{write_status::fenced}));
  EXPECT_EQ(rows_of("tablet"), "0");
}

TEST_F(StorageLeaseFencing, ATakeoverWaitsForAWriteInFlightWhichThenCommits) {
  storage::shard_leases n1_leases(dsn), n2_leases(dsn);
  storage::session_store setup(dsn);
  ASSERT_TRUE(n1_leases.shards().acquire(3, "n1", 60s));
  ASSERT_EQ(setup.apply({owned_upsert(bare_session("acc1", "tv"), "n1", 1)})[0], write_status::ok);
  expire_leases();  // free to take, and still n1's to write under

  // Hold the session row so that n1's write stops after it read (and
  // locked) the lease row.
  raw_connection holder(dsn);
  holder.exec("BEGIN");
  holder.exec("SELECT 1 FROM playback_sessions WHERE device_id = 'tv' FOR UPDATE");

  storage::batch_writer n1(dsn, 64, 1ms);
  std::promise<write_status> written;
  n1.submit({owned_upsert(active("acc1", "tv"), "n1", 1)},
            [&](write_status s) { written.set_value(s); });
  ASSERT_TRUE(wait_for_lock_waiters(1)) << "the write never reached the session row";

  std::atomic<bool> taken{false};
  auto takeover = std::async(std::launch::async, [&] {
    auto l = n2_leases.shards().acquire(3, "n2", 60s);
    taken = true;
    return l;
  });
  bool waited = wait_for_lock_waiters(2);
  EXPECT_TRUE(waited) << "the takeover did not wait for the write in flight";
  EXPECT_FALSE(taken.load());

  holder.exec("ROLLBACK");
  EXPECT_EQ(written.get_future().get(), write_status::ok);
  auto lease = takeover.get();
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->owner, "n2");
  EXPECT_EQ(lease->epoch, 2);
  // The new owner's load sees the write; n1 writes nothing more.
  storage::session_store n2_store(dsn);
  auto sessions = n2_store.sessions_of("acc1");
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].status, session_status::active);
  EXPECT_EQ(n2_store.apply({owned_upsert(bare_session("acc1", "tv"), "n1", 1)}),
            (std::vector<write_status>{write_status::fenced}));
}

}  // namespace
}  // namespace maxsess
