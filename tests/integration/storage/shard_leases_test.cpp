// storage::shard_leases: cluster_meta, node heartbeats, shard and streamer
// leases with their epochs, against a real PostgreSQL. Expiry is forced
// with SQL where the test is about epochs, and waited for (polling the
// database's own view, generous deadlines) where it is about time.
#include <atomic>
#include <stdexcept>
#include <thread>

#include "storage/shard_leases.hpp"
#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using namespace std::chrono_literals;
using storage::held_lease;
using storage::lease;

class StorageShardLeases : public migrated_db {
 protected:
  // Ends every lease of the table now, as if its TTL ran out.
  void expire_all(const char* table = "shard_leases") {
    test::query_scalar(dsn, std::string("UPDATE ") + table +
                                " SET expires_at = clock_timestamp() - interval '1 second'");
  }
  std::string owner_epoch(int shard) {
    return test::query_scalar(dsn, "SELECT owner || '/' || epoch FROM shard_leases WHERE shard = " +
                                       std::to_string(shard));
  }
};

// Polls until pred() holds; false after `deadline`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds deadline = 20s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

storage::node_info node(const std::string& id, int protocol = 1) {
  return {id, id + ".example:8080", id + ".example:4242", protocol};
}

// --- leases ----------------------------------------------------------------------

TEST_F(StorageShardLeases, AFreeShardIsTakenAtEpochOne) {
  storage::shard_leases leases(dsn);
  auto got = leases.shards().acquire(3, "n1", 10s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, 3);
  EXPECT_EQ(got->owner, "n1");
  EXPECT_EQ(got->epoch, 1);
  EXPECT_GT(got->expires_in, 5s);
  EXPECT_LE(got->expires_in, 10s);
  EXPECT_EQ(owner_epoch(3), "n1/1");
  // The expiry is the database's clock plus the TTL.
  EXPECT_EQ(test::query_scalar(dsn, "SELECT expires_at BETWEEN now() + interval '5 s'"
                                    " AND now() + interval '10 s' FROM shard_leases"),
            "t");
}

TEST_F(StorageShardLeases, ReacquiringAnUnexpiredOwnLeaseKeepsTheEpochAndExtends) {
  storage::shard_leases leases(dsn);
  ASSERT_TRUE(leases.shards().acquire(3, "n1", 2s));
  auto again = leases.shards().acquire(3, "n1", 60s);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->epoch, 1);
  EXPECT_GT(again->expires_in, 30s);
}

TEST_F(StorageShardLeases, AnUnexpiredLeaseOfAnotherNodeIsNotTaken) {
  storage::shard_leases leases(dsn);
  ASSERT_TRUE(leases.shards().acquire(3, "n1", 60s));
  EXPECT_FALSE(leases.shards().acquire(3, "n2", 60s).has_value());
  EXPECT_EQ(owner_epoch(3), "n1/1");
}

TEST_F(StorageShardLeases, ALeaseExpiresByTimeAndAnotherNodeStealsItWithTheNextEpoch) {
  storage::shard_leases n1(dsn), n2(dsn);
  ASSERT_TRUE(n1.shards().acquire(3, "n1", 200ms));
  ASSERT_TRUE(eventually([&] { return n2.shards().list().at(0).expires_in < 0ms; }))
      << "a 200 ms lease never expired";
  auto stolen = n2.shards().acquire(3, "n2", 60s);
  ASSERT_TRUE(stolen.has_value());
  EXPECT_EQ(stolen->owner, "n2");
  EXPECT_EQ(stolen->epoch, 2);
  // The old owner cannot take it back while n2 holds it.
  EXPECT_FALSE(n1.shards().acquire(3, "n1", 60s).has_value());
  EXPECT_EQ(owner_epoch(3), "n2/2");
}

TEST_F(StorageShardLeases, ReacquiringAnExpiredOwnLeaseBumpsTheEpoch) {
  storage::shard_leases leases(dsn);
  ASSERT_TRUE(leases.shards().acquire(3, "n1", 60s));
  expire_all();
  auto again = leases.shards().acquire(3, "n1", 60s);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->epoch, 2);
}

TEST_F(StorageShardLeases, RenewExtendsWhatIsStillHeldAndReportsTheRestLost) {
  storage::shard_leases n1(dsn), n2(dsn);
  ASSERT_EQ(n1.shards().acquire_many({1, 2, 3, 4}, "n1", 60s).size(), 4u);
  expire_all();
  ASSERT_TRUE(n2.shards().acquire(2, "n2", 60s));  // lost to n2 (epoch 2)
  test::query_scalar(dsn, "UPDATE shard_leases SET expires_at = clock_timestamp() + interval "
                          "'1 second' WHERE shard IN (1, 3)");

  auto renewed = n1.shards().renew("n1", {{1, 1}, {2, 1}, {3, 7}, {4, 1}, {9, 1}}, 60s);
  // 1: held. 2: taken by n2. 3: wrong epoch. 4: expired but nobody took it,
  // so nobody can have written under another epoch: still n1's. 9: no row.
  EXPECT_EQ(renewed, (std::vector<int64_t>{1, 4}));
  for (const auto& l : n1.shards().list()) {
    if (l.id == 1 || l.id == 4) {
      EXPECT_GT(l.expires_in, 30s) << l.id;
    }
    if (l.id == 3) {
      EXPECT_LE(l.expires_in, 1s) << "a lease renewed with the wrong epoch";
    }
  }
  EXPECT_EQ(owner_epoch(2), "n2/2");
  EXPECT_EQ(owner_epoch(4), "n1/1");

  // n2 renews its own; n1 still cannot renew shard 2.
  EXPECT_EQ(n2.shards().renew("n2", {{2, 2}}, 60s), (std::vector<int64_t>{2}));
  EXPECT_TRUE(n1.shards().renew("n1", {{2, 1}, {2, 2}}, 60s).empty());
  EXPECT_TRUE(n1.shards().renew("n1", {}, 60s).empty());
}

TEST_F(StorageShardLeases, ReleaseLetsTheNextTakerInWithTheNextEpoch) {
  storage::shard_leases n1(dsn), n2(dsn);
  ASSERT_TRUE(n1.shards().acquire(3, "n1", 60s));
  EXPECT_FALSE(n1.shards().release(3, "n1", 2));  // not that epoch
  EXPECT_FALSE(n1.shards().release(3, "n2", 1));  // not that owner
  EXPECT_FALSE(n2.shards().acquire(3, "n2", 60s).has_value());

  EXPECT_TRUE(n1.shards().release(3, "n1", 1));
  auto row = n1.shards().list().at(0);
  EXPECT_EQ(row.owner, "n1");  // kept, so that the next taker bumps the epoch
  EXPECT_EQ(row.epoch, 1);
  EXPECT_LE(row.expires_in, 0ms);
  EXPECT_FALSE(n1.shards().release(3, "n1", 1));  // already released

  auto taken = n2.shards().acquire(3, "n2", 60s);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->epoch, 2);
  EXPECT_EQ(owner_epoch(3), "n2/2");

  // The releasing node taking it back later bumps the epoch too.
  ASSERT_TRUE(n2.shards().release(3, "n2", 2));
  auto back = n1.shards().acquire(3, "n1", 60s);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->epoch, 3);
}

TEST_F(StorageShardLeases, AcquireManyTakesOnlyWhatIsFree) {
  storage::shard_leases n1(dsn), n2(dsn);
  ASSERT_TRUE(n2.shards().acquire(2, "n2", 60s));
  auto got = n1.shards().acquire_many({3, 1, 2, 1}, "n1", 60s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, 1);
  EXPECT_EQ(got[1].id, 3);
  for (const auto& l : got) {
    EXPECT_EQ(l.owner, "n1");
    EXPECT_EQ(l.epoch, 1);
  }
  EXPECT_TRUE(n1.shards().acquire_many({}, "n1", 60s).empty());
}

TEST_F(StorageShardLeases, ListShowsEveryLeaseByIdWithExpiredOnesNegative) {
  storage::shard_leases leases(dsn);
  EXPECT_TRUE(leases.shards().list().empty());
  ASSERT_EQ(leases.shards().acquire_many({5, 0, 2}, "n1", 60s).size(), 3u);
  test::query_scalar(dsn, "UPDATE shard_leases SET expires_at = clock_timestamp() - interval "
                          "'30 seconds' WHERE shard = 2");
  auto all = leases.shards().list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, 0);
  EXPECT_EQ(all[1].id, 2);
  EXPECT_EQ(all[2].id, 5);
  EXPECT_LT(all[1].expires_in, -20s);
  EXPECT_GT(all[2].expires_in, 30s);
}

TEST_F(StorageShardLeases, ConcurrentAcquiresHaveExactlyOneWinner) {
  constexpr int nodes = 8;
  std::atomic<int> winners{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < nodes; ++i)
    threads.emplace_back([&, i] {
      try {
        storage::shard_leases leases(dsn);
        if (leases.shards().acquire(7, "n" + std::to_string(i), 60s))
          ++winners;
      } catch (const std::exception&) {
        ++errors;
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) || '/' || max(epoch) FROM shard_leases"),
            "1/1");
}

TEST_F(StorageShardLeases, StreamerLeasesFollowTheSameRulesInTheirOwnTable) {
  storage::shard_leases n1(dsn), n2(dsn);
  ASSERT_TRUE(n1.shards().acquire(5, "n1", 60s));
  auto s = n2.streamers().acquire(5, "n2", 60s);  // streamer 5, not shard 5
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->epoch, 1);
  EXPECT_FALSE(n1.streamers().acquire(5, "n1", 60s).has_value());
  const int64_t big_id = int64_t{1} << 40;  // streamer ids are bigint
  ASSERT_TRUE(n1.streamers().acquire(big_id, "n1", 60s));

  expire_all("streamer_leases");
  EXPECT_EQ(n2.streamers().renew("n2", {{5, 1}}, 60s), (std::vector<int64_t>{5}));
  expire_all("streamer_leases");
  auto stolen = n1.streamers().acquire(5, "n1", 60s);
  ASSERT_TRUE(stolen.has_value());
  EXPECT_EQ(stolen->epoch, 2);
  EXPECT_TRUE(n2.streamers().renew("n2", {{5, 1}}, 60s).empty());
  ASSERT_TRUE(n1.streamers().release(5, "n1", 2));

  auto streamers = n1.streamers().list();
  ASSERT_EQ(streamers.size(), 2u);
  EXPECT_EQ(streamers[0].id, 5);
  EXPECT_EQ(streamers[1].id, big_id);
  auto shards = n1.shards().list();
  ASSERT_EQ(shards.size(), 1u);
  EXPECT_EQ(shards[0].owner, "n1");
  EXPECT_EQ(shards[0].epoch, 1);
}

TEST_F(StorageShardLeases, BadArgumentsAreRefusedBeforeTheDatabase) {
  storage::shard_leases leases(dsn);
  EXPECT_THROW(leases.shards().acquire(1, "", 60s), std::invalid_argument);
  EXPECT_THROW(leases.shards().acquire(1, "n1", 0ms), std::invalid_argument);
  EXPECT_THROW(leases.shards().renew("", {{1, 1}}, 60s), std::invalid_argument);
  EXPECT_THROW(leases.shards().release(1, "", 1), std::invalid_argument);
  EXPECT_THROW(leases.heartbeat(node("")), std::invalid_argument);
  EXPECT_THROW(leases.ensure_cluster_meta(0, 1), std::invalid_argument);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM shard_leases"), "0");
}

TEST_F(StorageShardLeases, ADroppedConnectionIsReconnected) {
  storage::shard_leases leases(dsn);
  ASSERT_TRUE(leases.shards().acquire(1, "n1", 60s));
  ASSERT_GE(kill_connections(dsn), 1);
  auto again = leases.shards().acquire(1, "n1", 60s);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->epoch, 1);
}

TEST_F(StorageShardLeases, ConnectingToNothingThrows) {
  EXPECT_THROW(storage::shard_leases{unreachable_dsn()}, storage::storage_error);
}

// --- cluster meta ------------------------------------------------------------------

TEST_F(StorageShardLeases, ClusterMetaIsStoredOnTheFirstRunThenCompared) {
  storage::shard_leases leases(dsn);
  EXPECT_FALSE(leases.read_cluster_meta().has_value());

  auto first = leases.ensure_cluster_meta(64, 3);
  EXPECT_TRUE(first.created);
  EXPECT_TRUE(first.matches);
  EXPECT_EQ(first.stored.shards, 64);
  EXPECT_EQ(first.stored.protocol_version, 3);

  auto read = leases.read_cluster_meta();
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->shards, 64);
  EXPECT_EQ(read->protocol_version, 3);
  EXPECT_EQ(to_unix_ms(read->created_at), to_unix_ms(first.stored.created_at));
  EXPECT_EQ(test::query_scalar(dsn, "SELECT (extract(epoch FROM created_at) * 1000)::bigint"
                                    " FROM cluster_meta"),
            std::to_string(to_unix_ms(read->created_at)));

  storage::shard_leases other(dsn);
  auto same = other.ensure_cluster_meta(64, 3);
  EXPECT_FALSE(same.created);
  EXPECT_TRUE(same.matches);
}

TEST_F(StorageShardLeases, ClusterMetaMismatchIsReportedAndNothingChanges) {
  storage::shard_leases leases(dsn);
  ASSERT_TRUE(leases.ensure_cluster_meta(64, 3).created);

  auto shards = leases.ensure_cluster_meta(32, 3);
  EXPECT_FALSE(shards.created);
  EXPECT_FALSE(shards.matches);
  EXPECT_EQ(shards.stored.shards, 64);

  auto protocol = leases.ensure_cluster_meta(64, 4);
  EXPECT_FALSE(protocol.matches);
  EXPECT_EQ(protocol.stored.protocol_version, 3);

  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) || '/' || max(shards) || '/' ||"
                                    " max(protocol_version) FROM cluster_meta"),
            "1/64/3");
}

// --- nodes ---------------------------------------------------------------------------

TEST_F(StorageShardLeases, JoinedNodesAreListedWithTheirAddresses) {
  storage::shard_leases leases(dsn);
  EXPECT_TRUE(leases.list_nodes(10s).empty());
  leases.join(node("n2", 2));
  leases.join(node("n1"));
  auto nodes = leases.list_nodes(60s);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].node_id, "n1");
  EXPECT_EQ(nodes[1].node_id, "n2");
  EXPECT_EQ(nodes[1].http_address, "n2.example:8080");
  EXPECT_EQ(nodes[1].cluster_address, "n2.example:4242");
  EXPECT_EQ(nodes[1].protocol_version, 2);
  for (const auto& n : nodes) {
    EXPECT_TRUE(n.alive) << n.node_id;
    EXPECT_FALSE(n.leaving) << n.node_id;
    EXPECT_GE(n.heartbeat_age, 0ms) << n.node_id;
    EXPECT_LT(n.heartbeat_age, 30s) << n.node_id;
  }
}

TEST_F(StorageShardLeases, ANodeWithoutRecentHeartbeatIsNotAliveUntilItBeatsAgain) {
  storage::shard_leases leases(dsn);
  leases.join(node("n1"));
  leases.join(node("n2"));
  // Both age on the database clock; a row older than 200 ms is not alive
  // within 200 ms (the same statement computes both).
  storage::node_row n1;
  ASSERT_TRUE(eventually([&] {
    n1 = leases.list_nodes(200ms).at(0);
    return n1.heartbeat_age > 300ms;
  }));
  EXPECT_FALSE(n1.alive);
  EXPECT_TRUE(leases.list_nodes(60s).at(0).alive);

  leases.heartbeat(node("n1"));
  auto nodes = leases.list_nodes(30s);
  EXPECT_TRUE(nodes.at(0).alive);
  EXPECT_LT(nodes.at(0).heartbeat_age, nodes.at(1).heartbeat_age);
}

TEST_F(StorageShardLeases, LeavingSticksAcrossHeartbeatsUntilTheNodeJoinsAgain) {
  storage::shard_leases leases(dsn);
  leases.join(node("n1"));
  test::query_scalar(dsn, "UPDATE cluster_nodes SET started_at = '2000-01-01Z'");
  EXPECT_TRUE(leases.mark_leaving("n1"));
  EXPECT_FALSE(leases.mark_leaving("nobody"));
  EXPECT_TRUE(leases.list_nodes(60s).at(0).leaving);

  auto moved = node("n1");
  moved.http_address = "10.0.0.9:8080";
  leases.heartbeat(moved);
  auto row = leases.list_nodes(60s).at(0);
  EXPECT_TRUE(row.leaving);
  EXPECT_TRUE(row.alive);
  EXPECT_EQ(row.http_address, "10.0.0.9:8080");
  EXPECT_EQ(to_rfc3339(row.started_at).substr(0, 10), "2000-01-01");

  leases.join(node("n1"));  // restarted under the same id
  row = leases.list_nodes(60s).at(0);
  EXPECT_FALSE(row.leaving);
  EXPECT_EQ(row.http_address, "n1.example:8080");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT started_at > now() - interval '1 hour'"
                                    " FROM cluster_nodes"),
            "t");
}

TEST_F(StorageShardLeases, AHeartbeatWithoutJoinCreatesTheRow) {
  storage::shard_leases leases(dsn);
  leases.heartbeat(node("n1"));
  auto nodes = leases.list_nodes(60s);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_TRUE(nodes[0].alive);
  EXPECT_FALSE(nodes[0].leaving);
}

}  // namespace
}  // namespace maxsess
