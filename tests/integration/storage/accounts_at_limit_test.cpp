// storage::session_store::accounts_at_limit (the status page's list): slots
// counted as account_state counts them, the default limit for accounts
// without a row, order and bound.
#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;

class StorageAccountsAtLimit : public migrated_db {};

playback_session live(const std::string& account, const std::string& device,
                      session_status status = session_status::active) {
  auto s = bare_session(account, device);
  s.status = status;
  return s;
}

TEST_F(StorageAccountsAtLimit, CountsWhatAccountStateCounts) {
  storage::session_store store(dsn);
  auto radio = live("radio", "r2");
  radio.content.type = content_type::radio;
  auto exempt_row = live("exemptrow", "e2");
  exempt_row.exempt = true;
  auto ended = live("ended", "x2", session_status::ended);
  // Shadow mode: a session enforce would have refused plays on, never counted.
  auto shadowed = live("shadowed", "s2");
  shadowed.over_limit = true;
  store.apply({
      // at its own limit of 2 (one pending, one active)
      account("full", 2), upsert(live("full", "a", session_status::pending), 1), upsert(live("full", "b"), 1),
      // over it (a limit lowered later)
      account("over", 1), upsert(live("over", "a"), 1), upsert(live("over", "b"), 1),
      // below it
      account("room", 3), upsert(live("room", "a"), 1), upsert(live("room", "b"), 1),
      // no row: the default limit (2 here)
      upsert(live("dflt", "a"), 1), upsert(live("dflt", "b"), 1),
      // unlimited, exempt account, and rows that hold no slot
      account("unlimited", 0), upsert(live("unlimited", "a"), 1),
      account("vip", 1, true), upsert(live("vip", "a"), 1), upsert(live("vip", "b"), 1),
      account("radio", 2), upsert(live("radio", "r1"), 1), upsert(radio, 1),
      account("exemptrow", 2), upsert(live("exemptrow", "e1"), 1), upsert(exempt_row, 1),
      account("ended", 2), upsert(live("ended", "x1"), 1), upsert(ended, 1),
      account("shadowed", 2), upsert(live("shadowed", "s1"), 1), upsert(shadowed, 1),
  });
  auto got = store.accounts_at_limit(2, 20);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].account_id, "dflt");
  EXPECT_EQ(got[0].max_sessions, 2);
  EXPECT_EQ(got[0].live, 2);
  EXPECT_EQ(got[1].account_id, "full");
  EXPECT_EQ(got[1].live, 2);
  EXPECT_EQ(got[2].account_id, "over");
  EXPECT_EQ(got[2].max_sessions, 1);
  EXPECT_EQ(got[2].live, 2);

  // A higher default: accounts without a row have room again.
  got = store.accounts_at_limit(5, 20);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].account_id, "full");
  // A default of 0 (unlimited) likewise.
  EXPECT_EQ(store.accounts_at_limit(0, 20).size(), 2u);
}

TEST_F(StorageAccountsAtLimit, ReturnsAtMostTheLimitInAccountOrder) {
  storage::session_store store(dsn);
  std::vector<storage::write_op> ops;
  for (int i = 0; i < 30; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "acc%02d", i);
    ops.push_back(account(id, 1));
    ops.push_back(upsert(live(id, "tv"), 1));
  }
  store.apply(ops);
  auto got = store.accounts_at_limit(3, 21);
  ASSERT_EQ(got.size(), 21u);
  EXPECT_EQ(got.front().account_id, "acc00");
  EXPECT_EQ(got.back().account_id, "acc20");
  EXPECT_TRUE(store.accounts_at_limit(3, 0).empty());
}

}  // namespace
}  // namespace maxsess
