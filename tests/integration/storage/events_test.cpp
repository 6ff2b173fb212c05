// The audit trail's storage (domain/audit.hpp, migration 006) against a real
// PostgreSQL: events go in with the session rows of their decision, in one
// multi-row statement per transaction, fenced on the shard lease like the
// rows; they are read back by account or across accounts in (at, id) order
// with paging, and cleared by age in chunks.
#include "storage/shard_leases.hpp"
#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using namespace std::chrono_literals;
using storage::write_status;

class StorageEvents : public migrated_db {};

constexpr int64_t t0 = 1700000000000;  // ms

audit_event event(const std::string& account, const std::string& device, int64_t at_ms_,
                  audit_kind kind = audit_kind::denied) {
  audit_event e;
  e.account_id = account;
  e.device_id = device;
  e.at = at_ms(at_ms_);
  e.kind = kind;
  e.reason = "max_sessions_reached";
  e.node = "node-7";
  e.max_sessions = 2;
  e.stream = "news/hd";
  e.streamer_id = 4;
  e.client_ip = "10.0.0.9";
  return e;
}

storage::write_op insert(audit_event e, const std::string& owner = {}, int64_t epoch = 1,
                         int shard = 3) {
  return storage::write_op::of(storage::event_insert{std::move(e), shard, epoch, owner});
}

storage::event_query query(const std::string& account, std::optional<int64_t> since_ms,
                           int limit = 100, int64_t after = 0) {
  storage::event_query q;
  q.account_id = account;
  if (since_ms) q.since = at_ms(*since_ms);
  q.after_id = after;
  q.limit = limit;
  return q;
}

TEST_F(StorageEvents, EveryFieldAndTheHoldersRoundTrip) {
  storage::session_store store(dsn);
  auto e = event("acc1", "tablet", t0 + 123, audit_kind::killed);
  e.reason = "killed_over_limit";
  e.holders = {{"tv", session_status::active, "sports", 4, "10.0.0.1", at_ms(t0 - 5000)},
               {"phone", session_status::pending, "news", 5, "10.0.0.2", at_ms(t0 - 999)}};
  auto tv = bare_session("acc1", "tv");
  ASSERT_EQ(store.apply({upsert(tv, 1), insert(e)}),
            (std::vector<write_status>{write_status::ok, write_status::ok}));

  auto page = store.list_events(query("acc1", t0));
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_FALSE(page.more);
  const auto& got = page.events[0];
  EXPECT_GT(got.id, 0);
  EXPECT_EQ(got.account_id, "acc1");
  EXPECT_EQ(got.device_id, "tablet");
  EXPECT_EQ(to_unix_ms(got.at), t0 + 123);
  EXPECT_EQ(got.kind, audit_kind::killed);
  EXPECT_EQ(got.reason, "killed_over_limit");
  EXPECT_EQ(got.node, "node-7");
  EXPECT_EQ(got.max_sessions, 2);
  EXPECT_EQ(got.stream, "news/hd");
  EXPECT_EQ(got.streamer_id, 4);
  EXPECT_EQ(got.client_ip, "10.0.0.9");
  ASSERT_EQ(got.holders.size(), 2u);
  EXPECT_EQ(got.holders[0].device_id, "tv");
  EXPECT_EQ(got.holders[0].status, session_status::active);
  EXPECT_EQ(got.holders[0].stream, "sports");
  EXPECT_EQ(got.holders[0].streamer_id, 4);
  EXPECT_EQ(got.holders[0].client_ip, "10.0.0.1");
  EXPECT_EQ(to_unix_ms(got.holders[0].started_at), t0 - 5000);
  EXPECT_EQ(got.holders[1].device_id, "phone");
  EXPECT_EQ(got.holders[1].status, session_status::pending);
  // The session row of the same transaction landed too.
  EXPECT_EQ(store.sessions_of("acc1").size(), 1u);
}

TEST_F(StorageEvents, AGroupCommitWritesEveryEventInOneStatement) {
  // Several submits of several accounts, each with rows and events, in one
  // transaction: every event lands once (events are never coalesced, even
  // two identical ones), and the statement count does not grow with them.
  storage::batch_writer writer(dsn, 256, 20ms);
  collector<write_status> done;
  for (int a = 0; a < 10; ++a) {
    std::string acc = "acc" + std::to_string(a);
    writer.submit({upsert(bare_session(acc, "tv"), 1), insert(event(acc, "tablet", t0 + a)),
                   insert(event(acc, "tablet", t0 + a))},
                  [&](write_status st) { done.add(st); });
  }
  ASSERT_TRUE(done.wait(10));
  for (auto st : done.values()) EXPECT_EQ(st, write_status::ok);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM account_events"), "20");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(DISTINCT account_id) FROM account_events"), "10");
  EXPECT_LT(writer.get_stats().commits, 10u) << "no group commit happened";
}

TEST_F(StorageEvents, AnEventOfANodeThatLostTheLeaseIsFencedWithItsRows) {
  storage::shard_leases n1_leases(dsn), n2_leases(dsn);
  ASSERT_EQ(n1_leases.shards().acquire(3, "n1", 60s)->epoch, 1);
  storage::session_store store(dsn);
  EXPECT_EQ(store.apply({insert(event("acc1", "tv", t0), "n1", 1)}),
            std::vector<write_status>{write_status::ok});
  test::query_scalar(dsn, "UPDATE shard_leases SET expires_at = clock_timestamp() - interval '1 second'");
  ASSERT_EQ(n2_leases.shards().acquire(3, "n2", 60s)->epoch, 2);
  // n1 wakes up: its kill (row + event) is refused as a whole.
  auto s = bare_session("acc1", "phone");
  s.status = session_status::killed;
  EXPECT_EQ(store.apply({owned_upsert(s, "n1", 1), insert(event("acc1", "phone", t0 + 1), "n1", 1)}),
            (std::vector<write_status>{write_status::fenced, write_status::fenced}));
  EXPECT_EQ(store.apply({insert(event("acc1", "phone", t0 + 2), "n2", 2)}),
            std::vector<write_status>{write_status::ok});
  auto page = store.list_events(query("acc1", std::nullopt));
  ASSERT_EQ(page.events.size(), 2u);
  EXPECT_EQ(to_unix_ms(page.events[0].at), t0);
  EXPECT_EQ(to_unix_ms(page.events[1].at), t0 + 2);
  EXPECT_EQ(store.sessions_of("acc1").size(), 0u);
}

TEST_F(StorageEvents, PagesFollowAtThenIdAndSeparateAccounts) {
  storage::session_store store(dsn);
  // Three events in the same millisecond: the id orders them, and a page
  // boundary between them loses and repeats nothing.
  std::vector<storage::write_op> ops;
  for (int64_t at : {t0 + 10, t0, t0, t0, t0 + 20}) ops.push_back(insert(event("acc1", "tv", at)));
  ops.push_back(insert(event("acc2", "tv", t0 + 5)));
  ASSERT_EQ(store.apply(ops).size(), ops.size());

  std::vector<std::pair<int64_t, int64_t>> seen;  // (at, id)
  auto q = query("acc1", t0, 2);
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store.list_events(q);
    for (auto& e : page.events) {
      EXPECT_EQ(e.account_id, "acc1");
      seen.push_back({to_unix_ms(e.at), e.id});
    }
    if (!page.more) break;
    ASSERT_FALSE(page.events.empty());
    q.since = page.events.back().at;
    q.after_id = page.events.back().id;
  }
  ASSERT_EQ(seen.size(), 5u);
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]) << i;
  EXPECT_EQ(seen.front().first, t0);
  EXPECT_EQ(seen.back().first, t0 + 20);

  // since is inclusive; the cross-account listing sees both accounts.
  EXPECT_EQ(store.list_events(query("acc1", t0 + 20)).events.size(), 1u);
  EXPECT_EQ(store.list_events(query("acc1", t0 + 21)).events.size(), 0u);
  auto all = store.list_events(query("", t0 + 5));
  ASSERT_EQ(all.events.size(), 3u);
  EXPECT_EQ(all.events[0].account_id, "acc2");
  // Without since: the newest `limit`, oldest first.
  auto latest = store.list_events(query("acc1", std::nullopt, 2));
  ASSERT_EQ(latest.events.size(), 2u);
  EXPECT_EQ(to_unix_ms(latest.events[0].at), t0 + 10);
  EXPECT_EQ(to_unix_ms(latest.events[1].at), t0 + 20);
  EXPECT_TRUE(store.list_events(query("nobody", std::nullopt)).events.empty());
}

TEST_F(StorageEvents, ClearDeletesOnlyOlderEventsAndCountsThem) {
  storage::session_store store(dsn);
  std::vector<storage::write_op> ops;
  for (int i = 0; i < 25; ++i) ops.push_back(insert(event("acc" + std::to_string(i % 3), "tv", t0 + i)));
  store.apply(ops);
  EXPECT_EQ(store.clear_events(at_ms(t0 + 10)), 10);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM account_events"), "15");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT min(extract(epoch FROM at) * 1000)::bigint FROM account_events"),
            std::to_string(t0 + 10));
  EXPECT_EQ(store.clear_events(at_ms(t0 + 10)), 0);
  EXPECT_EQ(store.clear_events(at_ms(t0 + 1000)), 15);
}

TEST_F(StorageEvents, ClearWorksThroughMoreThanOneChunk) {
  // More rows than one delete statement takes (10 000): the loop goes on.
  test::query_scalar(dsn,
                     "INSERT INTO account_events (account_id, at, kind)"
                     " SELECT 'acc' || (g % 50), timestamptz 'epoch' + (1700000000000 + g) *"
                     " interval '1 millisecond', 'denied' FROM generate_series(1, 12345) g");
  storage::session_store store(dsn);
  EXPECT_EQ(store.clear_events(at_ms(t0 + 12000)), 11999);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM account_events"), "346");
}

}  // namespace
}  // namespace maxsess
