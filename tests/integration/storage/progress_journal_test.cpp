// The progress journal (migration 011): a transaction's progress entries go
// into ONE journal row; maxsess_fold_progress folds them into the row that
// holds that Flussonic session, and nothing else; the session upsert
// keeps the larger counters of the same session; a shard's load folds first.
#include <chrono>

#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using storage::write_status;
using std::chrono::hours;
using std::chrono::milliseconds;

class StorageProgressJournal : public migrated_db {};

storage::write_op progress(const std::string& account, const std::string& device, const std::string& session,
                           int64_t bytes, int64_t duration, int64_t at) {
  return storage::write_op::of(storage::progress_entry{account, device, session, at_ms(at), bytes, duration});
}

// full_session, active: Flussonic session ...0002 open, ...0001 closed.
playback_session playing(const std::string& account, const std::string& device) {
  auto s = full_session(account, device);
  s.status = session_status::active;
  s.ended_at.reset();
  s.reason.reset();
  return s;
}

TEST_F(StorageProgressJournal, FoldsIntoTheRowThatHoldsTheSessionAndEmptiesTheJournal) {
  storage::session_store store(dsn);
  const int64_t bytes = 123456789012LL, later = 1700000070000;
  auto ended = playing("acc1", "dev-e");
  ended.status = session_status::ended;  // it ended after the events below
  ended.ended_at = at_ms(later + 5);
  auto killed = playing("acc1", "dev-k");
  killed.status = session_status::killed;  // its player played on after the kill
  killed.ended_at = at_ms(later - 100);
  auto other = playing("acc1", "dev-o");
  other.flussonic = {{"o-1", "10.1.2.9", true, at_ms(1700000000000), "news/hd"}};
  store.apply({upsert(playing("acc1", "dev-a"), 1), upsert(ended, 1), upsert(killed, 1), upsert(other, 1)});

  auto st = store.apply({
      progress("acc1", "dev-a", "5f1c0b6a-0002", bytes + 10, 200, later),      // the open session
      progress("acc1", "dev-a", "5f1c0b6a-0002", bytes + 5, 150, later - 1),  // older: the larger wins
      progress("acc1", "dev-a", "5f1c0b6a-0001", bytes + 7, 300, later - 2),  // its closed one: counts too
      progress("acc1", "dev-a", "another-session", bytes + 99, 999, later + 9),  // not the row's
      progress("acc1", "dev-e", "5f1c0b6a-0002", bytes + 3, 100, later),       // ended since: still its own
      progress("acc1", "dev-k", "5f1c0b6a-0002", bytes + 8, 800, later),       // after its kill: not taken
      progress("acc1", "dev-o", "5f1c0b6a-0002", bytes + 99, 999, later + 9),  // another device's session
      progress("acc1", "dev-none", "x", 1, 1, later),                          // no row at all
  });
  ASSERT_EQ(st.size(), 8u);
  for (auto s : st) EXPECT_EQ(s, write_status::ok);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM progress_journal"), "1");  // one row
  EXPECT_EQ(test::query_scalar(dsn, "SELECT array_length(string_to_array(rtrim(entries, E'\\n'), E'\\n'), 1)"
                                    " FROM progress_journal"),
            "8");

  // Not old enough: nothing folded, nothing deleted.
  EXPECT_EQ(store.fold_progress(hours(1)), std::make_pair(int64_t{0}, int64_t{0}));
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM progress_journal"), "1");

  EXPECT_EQ(store.fold_progress(milliseconds(0)), std::make_pair(int64_t{8}, int64_t{2}));
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM progress_journal"), "0");
  auto rows = store.sessions_of("acc1");
  ASSERT_EQ(rows.size(), 4u);
  for (auto& s : rows) {
    if (s.device_id == "dev-a") {  // the largest of its two sessions' lines
      EXPECT_EQ(s.bytes, bytes + 10);
      EXPECT_EQ(s.duration_s, 300);
      EXPECT_EQ(to_unix_ms(s.updated_at), later);
    } else if (s.device_id == "dev-e") {
      EXPECT_EQ(s.status, session_status::ended);
      EXPECT_EQ(s.bytes, bytes + 3);
      EXPECT_EQ(s.duration_s, 100);
      EXPECT_EQ(to_unix_ms(s.updated_at), later);
    } else {
      expect_same_session(s, s.device_id == "dev-k" ? killed : other);  // untouched
    }
  }
  // Idempotent, and an entry behind the row changes nothing.
  EXPECT_EQ(store.fold_progress(milliseconds(0)), std::make_pair(int64_t{0}, int64_t{0}));
  store.apply({progress("acc1", "dev-a", "5f1c0b6a-0002", 5, 5, 1700000000000)});
  EXPECT_EQ(store.fold_progress(milliseconds(0)), std::make_pair(int64_t{1}, int64_t{0}));
  for (auto& s : store.sessions_of("acc1")) {
    if (s.device_id == "dev-a") {
      EXPECT_EQ(s.bytes, bytes + 10);
    }
  }
}

TEST_F(StorageProgressJournal, AnUpsertKeepsTheLargerCountersOfTheSameSessionOnly) {
  storage::session_store store(dsn);
  auto s = playing("acc1", "dev-a");
  store.apply({upsert(s, 1)});
  store.apply({progress("acc1", "dev-a", "5f1c0b6a-0002", s.bytes + 1000, s.duration_s + 60, 1700000090000)});
  store.fold_progress(milliseconds(0));

  // The owner's row write is behind what the fold put there: it keeps the
  // fold's counters and last seen, takes everything else.
  auto behind = s;
  behind.client_ip = "10.9.9.9";
  behind.bytes = s.bytes + 1;
  store.apply({upsert(behind, 1)});
  auto row = store.sessions_of("acc1").at(0);
  EXPECT_EQ(row.bytes, s.bytes + 1000);
  EXPECT_EQ(row.duration_s, s.duration_s + 60);
  EXPECT_EQ(to_unix_ms(row.updated_at), 1700000090000);
  EXPECT_EQ(row.client_ip, "10.9.9.9");

  // The device's next session starts from its own counters.
  auto next = bare_session("acc1", "dev-a");
  next.started_at = at_ms(1700000100000);
  next.updated_at = at_ms(1700000100000);
  store.apply({upsert(next, 1)});
  row = store.sessions_of("acc1").at(0);
  EXPECT_EQ(row.bytes, 0);
  EXPECT_EQ(row.duration_s, 0);
  EXPECT_EQ(to_unix_ms(row.updated_at), 1700000100000);
}

TEST_F(StorageProgressJournal, AShardLoadFoldsTheJournalFirst) {
  storage::session_store store(dsn);
  auto s = playing("acc1", "dev-a");
  store.apply({upsert(s, 1, 3)});
  // The owner died after the journal row committed, before its row write.
  store.apply({progress("acc1", "dev-a", "5f1c0b6a-0002", s.bytes + 7, s.duration_s + 7, 1700000080000)});
  auto live = store.load_live_accounts(3);
  ASSERT_EQ(live.count("acc1"), 1u);
  ASSERT_EQ(live["acc1"].sessions.size(), 1u);
  EXPECT_EQ(live["acc1"].sessions[0].bytes, s.bytes + 7);
  EXPECT_EQ(live["acc1"].sessions[0].duration_s, s.duration_s + 7);
  EXPECT_EQ(to_unix_ms(live["acc1"].sessions[0].updated_at), 1700000080000);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM progress_journal"), "0");
}

}  // namespace
}  // namespace maxsess
