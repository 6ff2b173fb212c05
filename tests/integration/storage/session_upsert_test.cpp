// The session upsert (storage/sql.cpp sql_upsert_sessions): one statement
// that UPDATEs the rows that exist and INSERTs the rest, with the epoch
// fence and the counters that only grow on both paths; and the plan it
// gets on a writer's connection (storage/writes.hpp write_session_options).
#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/pq.hpp"
#include "storage/sql.hpp"
#include "storage/writes.hpp"
#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using storage::write_status;

class StorageSessionUpsert : public migrated_db {};

std::string row(const std::string& dsn, const std::string& device) {
  return test::query_scalar(dsn,
                            "SELECT status || '/' || shard_epoch || '/' || bytes || '/' || duration_s || '/' ||"
                            " (extract(epoch FROM updated_at) * 1000)::bigint FROM playback_sessions"
                            " WHERE account_id = 'a' AND device_id = '" +
                                device + "'");
}

TEST_F(StorageSessionUpsert, OneStatementUpdatesInsertsAndFencesRowByRow) {
  storage::session_store store(dsn);
  auto kept = bare_session("a", "kept");          // exists, same session: counters only grow
  kept.bytes = 500;
  kept.duration_s = 50;
  kept.updated_at = at_ms(1700000005000);
  auto restarted = bare_session("a", "restarted");  // exists, a new session on the device
  restarted.bytes = 900;
  auto held = bare_session("a", "held");          // exists with a newer epoch: fenced
  ASSERT_EQ(store.apply({upsert(kept, 2), upsert(restarted, 2), upsert(held, 7)}),
            (std::vector<write_status>(3, write_status::ok)));

  // One apply: the same session reporting older counters, a new session on
  // a device, a stale writer, and a device never written.
  auto kept2 = kept;
  kept2.status = session_status::active;
  kept2.bytes = 100;                               // older than the row's
  kept2.duration_s = 80;                           // newer
  kept2.updated_at = at_ms(1700000001000);         // older
  auto restarted2 = bare_session("a", "restarted");
  restarted2.started_at = at_ms(1700000100000);
  restarted2.updated_at = at_ms(1700000100000);
  restarted2.bytes = 10;                           // a new session's counters start again
  auto held2 = bare_session("a", "held");
  held2.status = session_status::ended;
  auto fresh = bare_session("a", "fresh");
  fresh.bytes = 7;
  auto st = store.apply({upsert(kept2, 2), upsert(restarted2, 3), upsert(held2, 6), upsert(fresh, 2)});
  EXPECT_EQ(st, (std::vector<write_status>{write_status::ok, write_status::ok, write_status::fenced,
                                           write_status::ok}));
  EXPECT_EQ(row(dsn, "kept"), "active/2/500/80/1700000005000");
  EXPECT_EQ(row(dsn, "restarted"), "pending/3/10/0/1700000100000");
  EXPECT_EQ(row(dsn, "held"), "pending/7/0/0/1700000000000");
  EXPECT_EQ(row(dsn, "fresh"), "pending/2/7/0/1700000000000");
  EXPECT_EQ(store.count_sessions(), 4);

  // A row that vanished under its owner (cleared, deleted by hand) is
  // written again, not lost.
  test::query_scalar(dsn, "DELETE FROM playback_sessions WHERE device_id = 'fresh' RETURNING 1");
  fresh.bytes = 8;
  EXPECT_EQ(store.apply({upsert(fresh, 2), upsert(kept2, 2)}),
            (std::vector<write_status>(2, write_status::ok)));
  EXPECT_EQ(row(dsn, "fresh"), "pending/2/8/0/1700000000000");
}

// On a writer's connection the UPDATE finds each row through the primary
// key, in array order, even when the planner thinks a sequential scan
// cheaper (without the settings it reads the whole table per statement).
TEST_F(StorageSessionUpsert, TheUpdateWalksThePrimaryKeyOnAWritersConnection) {
  test::query_scalar(dsn,
                     "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
                     " content_type, stream, streamer_id, started_at, updated_at)"
                     " SELECT 'acc' || (g / 4), 'dev' || (g % 4), 0, 1, 'pending', 'live', 'news', 1, now(), now()"
                     " FROM generate_series(1, 40000) g");
  // Not analyzed yet, as after a bulk load before autovacuum came by: the
  // planner then wants a hash join over a sequential scan, 5 000 rows or 250.
  // 5 000 rows, every column's array as text (the daemon sends them in
  // binary; the plan does not depend on that).
  const int n = 5000;
  auto array = [&](const std::string& element) {
    std::string out = "{";
    for (int i = 0; i < n; ++i) out += (i ? "," : "") + element;
    return out + "}";
  };
  std::string accounts = "{", devices = "{";
  for (int i = 0; i < n; ++i) {
    accounts += (i ? ",acc" : "acc") + std::to_string(i / 4);
    devices += (i ? ",dev" : "dev") + std::to_string(i % 4);
  }
  accounts += "}";
  devices += "}";
  const std::vector<std::string> values = {
      accounts, devices, array("0"), array("1"), array("active"), array("live"), array("news"),
      array("NULL"), array("NULL"), array("1"), array("\"\""), array("\"[]\""), array("t"),
      array("\"2026-01-01 00:00:00+00\""), array("\"2026-01-01 00:00:00+00\""), array("NULL"),
      array("0"), array("0"), array("NULL"), array("f"), array("f"), array("\"\"")};
  std::vector<const char*> params;
  for (auto& v : values) params.push_back(v.c_str());
  storage::detail::connection c(dsn, storage::detail::write_session_options);
  const std::string sql = std::string("EXPLAIN ") + storage::detail::sql_upsert_sessions;
  std::unique_ptr<PGresult, decltype(&PQclear)> r(
      PQexecParams(c.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(), nullptr,
                   nullptr, 0),
      &PQclear);
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
  std::string plan;
  for (int i = 0; i < PQntuples(r.get()); ++i) plan += std::string(PQgetvalue(r.get(), i, 0)) + "\n";
  EXPECT_NE(plan.find("Nested Loop"), std::string::npos) << plan;
  EXPECT_NE(plan.find("Index Scan using playback_sessions_pkey on playback_sessions p"), std::string::npos)
      << plan;
  EXPECT_EQ(plan.find("Seq Scan on playback_sessions"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("Hash Join"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("Merge Join"), std::string::npos) << plan;
}

}  // namespace
}  // namespace maxsess
