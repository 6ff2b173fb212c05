// session_store::list_sessions (GET /api/v1/sessions) and the account
// deletion write: keyset pages in byte order, filters, the prefix range, the
// indexes of 008_session_listing really used, the settings row deleted.
#include <libpq-fe.h>

#include <algorithm>
#include <memory>
#include <set>

#include "storage/sql.hpp"
#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using key_set = std::set<std::pair<std::string, std::string>>;

using namespace storage_test;
using storage::write_status;

class StorageSessionListing : public migrated_db {
 protected:
  playback_session row(const std::string& account, const std::string& device, session_status st,
                       int64_t streamer) {
    auto s = bare_session(account, device);
    s.status = st;
    s.streamer_id = streamer;
    return s;
  }
  // Every page of `q` followed to the end, as (account, device) keys.
  std::vector<std::pair<std::string, std::string>> walk(storage::session_store& store,
                                                        storage::session_query q, int* pages = nullptr) {
    std::vector<std::pair<std::string, std::string>> out;
    for (int n = 0; n < 1000; ++n) {
      auto page = store.list_sessions(q);
      if (pages) ++*pages;
      EXPECT_LE(static_cast<int>(page.sessions.size()), q.limit);
      for (auto& s : page.sessions) out.emplace_back(s.account_id, s.device_id);
      if (!page.more) return out;
      EXPECT_FALSE(page.sessions.empty()) << "more rows, yet an empty page";
      q.after = out.back();
    }
    ADD_FAILURE() << "paging never ended";
    return out;
  }
};

TEST_F(StorageSessionListing, PagesCoverEveryRowOnceInByteOrder) {
  storage::session_store store(dsn);
  // Ids whose byte order differs from a linguistic one (case, punctuation).
  const std::vector<std::string> accounts = {"B", "a", "a-1", "a.2", "a:3", "a@4", "aB", "ab",
                                             "b",  "Z9", "0x", "a_5"};
  std::vector<storage::write_op> ops;
  key_set expected;
  int i = 0;
  for (auto& a : accounts)
    for (auto d : {"tv", "Phone", "box-1"}) {
      auto st = static_cast<session_status>(i % 4);
      ops.push_back(upsert(row(a, d, st, 1 + i % 3), 1));
      expected.emplace(a, d);
      ++i;
    }
  ASSERT_EQ(store.apply(ops), std::vector<write_status>(ops.size(), write_status::ok));

  storage::session_query q;
  q.limit = 5;
  int pages = 0;
  auto all = walk(store, q, &pages);
  ASSERT_EQ(all.size(), expected.size());
  EXPECT_EQ(pages, (static_cast<int>(expected.size()) + 4) / 5);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end())) << "std::string order is byte order";
  EXPECT_EQ(key_set(all.begin(), all.end()), expected);

  // One page that holds exactly everything says there is no more.
  q.limit = static_cast<int>(expected.size());
  auto page = store.list_sessions(q);
  EXPECT_EQ(page.sessions.size(), expected.size());
  EXPECT_FALSE(page.more);
  q.limit = static_cast<int>(expected.size()) - 1;
  EXPECT_TRUE(store.list_sessions(q).more);
}

TEST_F(StorageSessionListing, FiltersAndPrefixMatchWhatTheTableHolds) {
  storage::session_store store(dsn);
  std::vector<storage::write_op> ops;
  int i = 0;
  for (auto a : {"a", "a-1", "ab", "abc", "b", "aa"})
    for (auto d : {"d1", "d2", "d3", "d4"}) {
      ops.push_back(upsert(row(a, d, static_cast<session_status>(i % 4), 1 + i % 2), 1));
      ++i;
    }
  ASSERT_EQ(store.apply(ops), std::vector<write_status>(ops.size(), write_status::ok));
  auto count = [&](const std::string& where) {
    return static_cast<std::size_t>(
        std::stoll(test::query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE " + where)));
  };
  storage::session_query q;
  q.limit = 3;
  q.status = session_status::active;
  auto active = walk(store, q);
  EXPECT_EQ(active.size(), count("status = 'active'"));
  ASSERT_FALSE(active.empty());
  q.streamer_id = 2;
  auto active2 = walk(store, q);
  EXPECT_EQ(active2.size(), count("status = 'active' AND streamer_id = 2"));
  for (auto& [a, d] : active2)
    EXPECT_EQ(test::query_scalar(dsn, "SELECT status || streamer_id FROM playback_sessions WHERE account_id = '" +
                                          a + "' AND device_id = '" + d + "'"),
              "active2");
  q = {};
  q.account_id_prefix = "ab";
  auto ab = walk(store, q);
  EXPECT_EQ(ab.size(), 8u) << "ab and abc, not a, a-1, aa or b";
  for (auto& [a, d] : ab) EXPECT_EQ(a.rfind("ab", 0), 0u) << a;
  q.account_id_prefix = "a";
  EXPECT_EQ(walk(store, q).size(), 20u);
  q.account_id_prefix = "c";
  EXPECT_TRUE(walk(store, q).empty());
  // A cursor inside the range goes on from there.
  q = {};
  q.after = std::make_pair(std::string("ab"), std::string("d2"));
  auto rest = walk(store, q);
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front(), std::make_pair(std::string("ab"), std::string("d3")));
  EXPECT_EQ(rest.size(), count("(account_id COLLATE \"C\", device_id COLLATE \"C\") > ('ab', 'd2')"));
}

// The statement must read an index range in key order, not sort the table:
// checked on the plan PostgreSQL chooses for a table big enough to matter.
TEST_F(StorageSessionListing, PagesAreIndexRangesNotSorts) {
  test::query_scalar(
      dsn,
      "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
      " content_type, stream, streamer_id, started_at, updated_at)"
      " SELECT 'acc' || (g / 4), 'dev' || (g % 4), 0, 1,"
      " CASE WHEN g % 50 = 0 THEN 'active' ELSE 'ended' END, 'live', 'news', 1 + g % 3, now(), now()"
      " FROM generate_series(1, 40000) g");
  test::query_scalar(dsn, "ANALYZE playback_sessions");
  // The statement exactly as session_store sends it (storage/sql.cpp), with
  // its parameters bound: PostgreSQL plans with the values, as it does for
  // the real call.
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(dsn.c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  auto explain = [&](std::vector<const char*> params) {
    const std::string sql = std::string("EXPLAIN ") + storage::detail::sql_list_sessions;
    std::unique_ptr<PGresult, decltype(&PQclear)> r(
        PQexecParams(conn.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(),
                     nullptr, nullptr, 0),
        &PQclear);
    std::string plan;
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return std::string("error: ") + PQerrorMessage(conn.get());
    for (int i = 0; i < PQntuples(r.get()); ++i) plan += std::string(PQgetvalue(r.get(), i, 0)) + "\n";
    return plan;
  };
  // (status, streamer, prefix, prefix upper, cursor account, cursor device, limit + 1)
  auto by_status = explain({"active", nullptr, nullptr, nullptr, "acc5", "dev1", "101"});
  EXPECT_NE(by_status.find("playback_sessions_class_key_c_idx"), std::string::npos) << by_status;
  EXPECT_EQ(by_status.find("Sort"), std::string::npos) << by_status;
  auto all = explain({nullptr, nullptr, nullptr, nullptr, "acc5", "dev1", "101"});
  // (012: the primary key is the byte-ordered index; 008's duplicate is gone.)
  EXPECT_NE(all.find("playback_sessions_pkey"), std::string::npos) << all;
  EXPECT_EQ(all.find("Sort"), std::string::npos) << all;
  auto both = explain({"active", "2", nullptr, nullptr, "acc5", "dev1", "101"});
  EXPECT_NE(both.find("playback_sessions_streamer_class_key_c_idx"), std::string::npos) << both;
  auto rare_streamer = explain({nullptr, "99", nullptr, nullptr, nullptr, nullptr, "101"});
  EXPECT_NE(rare_streamer.find("playback_sessions_streamer_class_key_c_idx"), std::string::npos)
      << "a streamer with no rows is not found by walking the whole key: " << rare_streamer;
  auto prefix = explain({nullptr, nullptr, "acc12", "acc13", nullptr, nullptr, "101"});
  EXPECT_NE(prefix.find("playback_sessions_pkey"), std::string::npos) << prefix;
  EXPECT_EQ(prefix.find("Sort"), std::string::npos) << prefix;
  EXPECT_NE(prefix.find("Index Cond"), std::string::npos) << "the prefix is a range, not a filter: " << prefix;
  // And the statement itself answers on that table.
  storage::session_store store(dsn);
  storage::session_query q;
  q.status = session_status::active;
  q.limit = 1000;
  auto page = store.list_sessions(q);
  EXPECT_EQ(page.sessions.size(), 800u);
  EXPECT_FALSE(page.more);
}

TEST_F(StorageSessionListing, DeletingAnAccountRemovesOnlyItsSettingsRow) {
  storage::session_store store(dsn);
  ASSERT_EQ(store.apply({account("acc1", 2, true), account("acc2", 4), upsert(bare_session("acc1", "tv"), 1)}),
            std::vector<write_status>(3, write_status::ok));
  auto del = storage::write_op::deleting(storage::account_upsert{account_settings{"acc1", 0, false}});
  EXPECT_EQ(store.apply({del}), std::vector<write_status>{write_status::ok});
  EXPECT_FALSE(store.get_account("acc1").has_value());
  EXPECT_TRUE(store.get_account("acc2").has_value());
  EXPECT_EQ(store.sessions_of("acc1").size(), 1u) << "the session rows stay";
  // Deleting what is not there is fine; in one transaction the last op of
  // an account wins (put then delete: gone; delete then put: there).
  EXPECT_EQ(store.apply({del}), std::vector<write_status>{write_status::ok});
  EXPECT_EQ(store.apply({account("acc1", 9), del}), std::vector<write_status>(2, write_status::ok));
  EXPECT_FALSE(store.get_account("acc1").has_value());
  EXPECT_EQ(store.apply({del, account("acc1", 9)}), std::vector<write_status>(2, write_status::ok));
  ASSERT_TRUE(store.get_account("acc1").has_value());
  EXPECT_EQ(store.get_account("acc1")->max_sessions, 9);
}

}  // namespace
}  // namespace maxsess
