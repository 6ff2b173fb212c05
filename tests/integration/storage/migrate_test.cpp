// storage::migrate / current_schema_version against a real PostgreSQL.
#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using storage_test::no_pg_message;

class StorageMigrate : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::server_dsn())
      GTEST_SKIP() << no_pg_message;
    dsn = test::create_database("migrate");
  }
  std::string dsn;
};

TEST_F(StorageMigrate, LatestVersionIsPositive) { EXPECT_GE(storage::latest_schema_version(), 1); }

TEST_F(StorageMigrate, EmptyDatabaseIsVersionZero) {
  EXPECT_EQ(storage::current_schema_version(dsn), 0);
}

TEST_F(StorageMigrate, FreshThenAgainIsIdempotent) {
  auto first = storage::migrate(dsn);
  EXPECT_EQ(first.from_version, 0);
  EXPECT_EQ(first.to_version, storage::latest_schema_version());
  ASSERT_FALSE(first.applied.empty());
  EXPECT_EQ(first.applied.front(), "001_initial.sql");
  EXPECT_EQ(storage::current_schema_version(dsn), storage::latest_schema_version());

  auto second = storage::migrate(dsn);
  EXPECT_EQ(second.from_version, storage::latest_schema_version());
  EXPECT_EQ(second.to_version, storage::latest_schema_version());
  EXPECT_TRUE(second.applied.empty());
  EXPECT_EQ(storage::current_schema_version(dsn), storage::latest_schema_version());
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM schema_version"),
            std::to_string(first.applied.size()));
  EXPECT_EQ(test::query_scalar(dsn, "SELECT name FROM schema_version WHERE version = 1"),
            "001_initial");
}

TEST_F(StorageMigrate, CreatesEveryTable) {
  storage::migrate(dsn);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT to_regclass('playback_sessions_streamer_idx') IS NULL"), "t");
  for (const char* table : {"schema_version", "accounts", "streamers", "playback_sessions",
                            "shard_leases", "cluster_meta", "cluster_nodes", "streamer_leases"})
    EXPECT_EQ(test::query_scalar(dsn, std::string("SELECT to_regclass('") + table +
                                          "') IS NOT NULL"),
              "t")
        << table;
  // (008 replaced 001's (streamer_id, status) by one that extends it; 010
  // put status_class in place of status in the three that held it.)
  for (const char* index : {"playback_sessions_shard_class_idx", "playback_sessions_streamer_class_key_c_idx",
                            "playback_sessions_lookup_token_idx", "playback_sessions_class_key_c_idx"})
    EXPECT_EQ(test::query_scalar(dsn, std::string("SELECT to_regclass('") + index +
                                          "') IS NOT NULL"),
              "t")
        << index;
  // 012: the ids compare as bytes in the tables themselves, so the primary
  // key serves the byte-ordered listing and 008's duplicate of it is gone.
  EXPECT_EQ(test::query_scalar(dsn, "SELECT to_regclass('playback_sessions_key_c_idx') IS NULL"), "t");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM pg_indexes WHERE tablename = 'playback_sessions'"), "5");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT string_agg(table_name || '.' || column_name || ':' || collation_name, ',' "
                                    "ORDER BY table_name, column_name) FROM information_schema.columns "
                                    "WHERE column_name IN ('account_id', 'device_id') AND table_name IN "
                                    "('accounts', 'playback_sessions', 'account_events')"),
            "account_events.account_id:C,account_events.device_id:C,accounts.account_id:C,"
            "playback_sessions.account_id:C,playback_sessions.device_id:C");
  // 003: no index on updated_at (it changes on every write, so it would
  // make every update a non-HOT one), and room on the pages for HOT.
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM pg_indexes WHERE tablename = "
                                    "'playback_sessions' AND indexdef LIKE '%updated_at%'"),
            "0");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT array_to_string(reloptions, ',') FROM pg_class "
                                    "WHERE relname = 'playback_sessions'"),
            "fillfactor=50");  // 003 set 80; 010 lowered it to 65, 013 to 50 (pending -> active is HOT too)
}

TEST_F(StorageMigrate, PlayUpdatesOfASessionAreHotUpdates) {
  // What every playing device causes (bytes, duration, updated_at,
  // flussonic change; token, status, streamer, shard do not) must not touch
  // the indexes.
  storage::migrate(dsn);
  test::query_scalar(dsn,
                     "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
                     " content_type, stream, streamer_id, token, started_at, updated_at)"
                     " VALUES ('a', 'd', 1, 1, 'active', 'live', 's', 1, 'tok', now(), now())");
  for (int i = 1; i <= 20; ++i)
    test::query_scalar(dsn, "UPDATE playback_sessions SET bytes = " + std::to_string(i * 1000) +
                                ", duration_s = " + std::to_string(i) +
                                ", updated_at = now(), flussonic = '[{\"id\": \"x\"}]'");
  // pg_stat counters reach the view once the backend reports them.
  test::query_scalar(dsn, "SELECT pg_stat_force_next_flush()");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT n_tup_upd = n_tup_hot_upd AND n_tup_upd = 20 FROM "
                                    "pg_stat_user_tables WHERE relname = 'playback_sessions'"),
            "t");
}

TEST_F(StorageMigrate, PendingToActiveIsHotAndEndingIsNot) {
  // 010: a sync or a first auth turns pending rows active; no index may
  // hold status itself, only its class (live / ended / killed).
  storage::migrate(dsn);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM pg_indexes WHERE tablename = "
                                    "'playback_sessions' AND indexdef ~ '[(, ]status[,)]'"),
            "0");
  test::query_scalar(dsn,
                     "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
                     " content_type, stream, streamer_id, token, started_at, updated_at)"
                     " SELECT 'a', 'd' || g, 1, 1, 'pending', 'live', 's', 1, 'tok', now(), now()"
                     " FROM generate_series(1, 10) g");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT string_agg(DISTINCT status_class, ',') FROM playback_sessions"),
            "live");
  test::query_scalar(dsn, "UPDATE playback_sessions SET status = 'active', updated_at = now(), bytes = 1");
  test::query_scalar(dsn, "UPDATE playback_sessions SET status = 'ended', ended_at = now()"
                          " WHERE device_id IN ('d1', 'd2')");
  test::query_scalar(dsn, "UPDATE playback_sessions SET status = 'killed' WHERE device_id = 'd3'");
  // 10 pending -> active, all HOT; 3 ends and kills, none HOT (their class
  // changes, so the clear job and the listing find them in the indexes).
  EXPECT_EQ(test::update_counts(dsn, "playback_sessions", 13), "13/10") << "updates/HOT updates";
  EXPECT_EQ(test::query_scalar(dsn, "SELECT string_agg(status || ':' || status_class, ',' ORDER BY device_id)"
                                    " FROM playback_sessions WHERE device_id IN ('d1', 'd3', 'd4')"),
            "ended:ended,killed:killed,active:live");
}

TEST_F(StorageMigrate, UpgradesAVersionOneDatabaseKeepingItsRows) {
  // A database as the first release left it: 001 applied from its file.
  std::ifstream file(std::string(MAXSESS_SOURCE_DIR) + "/storage/migrations/001_initial.sql");
  ASSERT_TRUE(file) << "cannot read 001_initial.sql";
  std::stringstream sql;
  sql << file.rdbuf();
  test::query_scalar(dsn, sql.str());
  test::query_scalar(dsn, "INSERT INTO schema_version (version, name) VALUES (1, '001_initial')");
  test::query_scalar(dsn, "INSERT INTO accounts (account_id, max_sessions) VALUES ('acc1', 2)");
  test::query_scalar(dsn, "INSERT INTO shard_leases VALUES (3, 'n1', 4, now())");
  test::query_scalar(dsn,
                     "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
                     " content_type, stream, token, started_at, updated_at)"
                     " VALUES ('acc1', 'tv', 3, 4, 'active', 'live', 'news', 'securetoken-1', now(), now())");
  ASSERT_EQ(storage::current_schema_version(dsn), 1);

  auto report = storage::migrate(dsn);
  EXPECT_EQ(report.from_version, 1);
  EXPECT_EQ(report.to_version, storage::latest_schema_version());
  ASSERT_FALSE(report.applied.empty());
  EXPECT_EQ(report.applied.front(), "002_cluster.sql");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT max_sessions FROM accounts"), "2");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT owner || '/' || epoch FROM shard_leases"), "n1/4");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM cluster_meta"), "0");
  // 009: a token written before it is still found by its look-up.
  EXPECT_EQ(test::query_scalar(dsn, "SELECT token || '/' || lookup_token FROM playback_sessions"),
            "securetoken-1/securetoken-1");
}

TEST_F(StorageMigrate, ClusterMetaHoldsAtMostOneRow) {
  storage::migrate(dsn);
  test::query_scalar(dsn, "INSERT INTO cluster_meta (shards, protocol_version) VALUES (64, 1)");
  EXPECT_THROW(
      test::query_scalar(dsn, "INSERT INTO cluster_meta (shards, protocol_version) VALUES (32, 1)"),
      std::runtime_error);
  EXPECT_THROW(test::query_scalar(
                   dsn, "INSERT INTO cluster_meta (one, shards, protocol_version) VALUES (false, 8, 1)"),
               std::runtime_error);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) || '/' || max(shards) FROM cluster_meta"),
            "1/64");
}

TEST_F(StorageMigrate, ConcurrentMigrationsApplyEachFileOnce) {
  std::atomic<std::size_t> applied{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      try {
        applied += storage::migrate(dsn).applied.size();
      } catch (const std::exception&) {
        ++errors;
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(applied.load(), static_cast<std::size_t>(std::stoi(
                                test::query_scalar(dsn, "SELECT count(*) FROM schema_version"))));
  EXPECT_EQ(storage::current_schema_version(dsn), storage::latest_schema_version());
}

TEST_F(StorageMigrate, RefusesASchemaNewerThanItKnows) {
  storage::migrate(dsn);
  test::query_scalar(dsn, "INSERT INTO schema_version (version, name) VALUES (" +
                              std::to_string(storage::latest_schema_version() + 1) +
                              ", '999_future')");
  EXPECT_THROW(storage::migrate(dsn), storage::storage_error);
  EXPECT_EQ(storage::current_schema_version(dsn), storage::latest_schema_version() + 1);
}

TEST_F(StorageMigrate, UnreachableServerThrowsStorageError) {
  EXPECT_THROW(storage::migrate(storage_test::unreachable_dsn()), storage::storage_error);
  EXPECT_THROW(storage::current_schema_version(storage_test::unreachable_dsn()),
               storage::storage_error);
}

TEST_F(StorageMigrate, AFailedMigrationLeavesNoTrace) {
  // A table the first migration wants to create already exists: 001 fails
  // as a whole, and no schema_version row claims it ran.
  test::query_scalar(dsn, "CREATE TABLE accounts (x int)");
  EXPECT_THROW(storage::migrate(dsn), storage::storage_error);
  EXPECT_EQ(storage::current_schema_version(dsn), 0);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT to_regclass('streamers') IS NULL"), "t");
}

}  // namespace
}  // namespace maxsess
