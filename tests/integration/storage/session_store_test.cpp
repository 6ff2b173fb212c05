// storage::session_store: accounts, streamers, sessions, fencing, one
// transaction per apply().
#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using storage::write_status;

class StorageSessionStore : public migrated_db {};

TEST_F(StorageSessionStore, ConnectingToNothingThrows) {
  EXPECT_THROW(storage::session_store{unreachable_dsn()}, storage::storage_error);
}

TEST_F(StorageSessionStore, AccountUpsertAndGet) {
  storage::session_store store(dsn);
  EXPECT_FALSE(store.get_account("acc1").has_value());

  auto st = store.apply({account("acc1", 2, false)});
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0], write_status::ok);
  auto a = store.get_account("acc1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->account_id, "acc1");
  EXPECT_EQ(a->max_sessions, 2);
  EXPECT_FALSE(a->exempt);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT updated_at > now() - interval '1 minute' FROM accounts"),
            "t");

  test::query_scalar(dsn, "UPDATE accounts SET updated_at = '2000-01-01Z'");
  store.apply({account("acc1", 0, true)});
  a = store.get_account("acc1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->max_sessions, 0);
  EXPECT_TRUE(a->exempt);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT count(*) FROM accounts"), "1");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT updated_at > '2000-01-01Z' FROM accounts"), "t");
}

TEST_F(StorageSessionStore, LoadAccountReturnsSettingsAndEverySession) {
  storage::session_store store(dsn);
  auto empty = store.load_account("nobody");
  EXPECT_FALSE(empty.settings.has_value());
  EXPECT_TRUE(empty.sessions.empty());

  store.apply({account("acc1", 3), upsert(bare_session("acc1", "dev-a"), 1),
               upsert(full_session("acc1", "dev-b"), 1), upsert(bare_session("acc2", "dev-a"), 1)});
  auto snap = store.load_account("acc1");
  ASSERT_TRUE(snap.settings.has_value());
  EXPECT_EQ(snap.settings->max_sessions, 3);
  ASSERT_EQ(snap.sessions.size(), 2u);
  for (const auto& s : snap.sessions)
    EXPECT_EQ(s.account_id, "acc1");

  // Sessions without settings: an account known only by its sessions.
  auto other = store.load_account("acc2");
  EXPECT_FALSE(other.settings.has_value());
  ASSERT_EQ(other.sessions.size(), 1u);
  EXPECT_EQ(other.sessions[0].device_id, "dev-a");
}

// The batched form returns exactly what load_account returns, per account.
TEST_F(StorageSessionStore, LoadAccountsBatchesSeveralAccountsLikeLoadAccount) {
  storage::session_store store(dsn);
  store.apply({account("acc1", 3), upsert(bare_session("acc1", "dev-a"), 1),
               upsert(full_session("acc1", "dev-b"), 1), upsert(bare_session("acc2", "dev-a"), 1),
               account("acc3", 0), upsert(bare_session("other", "dev-z"), 1)});
  auto all = store.load_accounts({"acc1", "acc2", "acc3", "nobody", "it's \"quoted\""});
  ASSERT_EQ(all.size(), 5u) << "every account asked for has an entry";
  for (const auto& id : {"acc1", "acc2", "acc3", "nobody"}) {
    auto one = store.load_account(id);
    const auto& batched = all[id];
    EXPECT_EQ(batched.settings.has_value(), one.settings.has_value()) << id;
    if (one.settings) {
      EXPECT_EQ(batched.settings->max_sessions, one.settings->max_sessions) << id;
    }
    ASSERT_EQ(batched.sessions.size(), one.sessions.size()) << id;
    for (size_t i = 0; i < one.sessions.size(); ++i) {
      EXPECT_EQ(batched.sessions[i].device_id, one.sessions[i].device_id) << id;
      EXPECT_EQ(batched.sessions[i].account_id, id);
    }
  }
  EXPECT_TRUE(all["nobody"].sessions.empty());
  EXPECT_FALSE(all["nobody"].settings.has_value());
}

TEST_F(StorageSessionStore, SessionRoundTripKeepsEveryField) {
  storage::session_store store(dsn);
  auto full = full_session("acc1", "00:1A:79:00:00:01");
  auto bare = bare_session("acc1", "dev-bare");
  auto st = store.apply({upsert(full, 4, 17), upsert(bare, 4, 17)});
  ASSERT_EQ(st, (std::vector<write_status>{write_status::ok, write_status::ok}));

  auto rows = store.sessions_of("acc1");
  ASSERT_EQ(rows.size(), 2u);
  // ORDER BY started_at: bare (…000) starts before full (…123).
  expect_same_session(rows[0], bare);
  expect_same_session(rows[1], full);

  // The stored values are exact, not just what we read back.
  EXPECT_EQ(test::query_scalar(dsn, "SELECT started_at = '2023-11-14T22:13:20.123Z'::timestamptz"
                                    " FROM playback_sessions WHERE device_id = '00:1A:79:00:00:01'"),
            "t");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT shard || '/' || shard_epoch FROM playback_sessions"
                                    " WHERE device_id = '00:1A:79:00:00:01'"),
            "17/4");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT flussonic->1->>'updated_at_ms' FROM playback_sessions"
                                    " WHERE device_id = '00:1A:79:00:00:01'"),
            "1700000002999");
  EXPECT_EQ(test::query_scalar(dsn, "SELECT ended_at IS NULL AND end_reason IS NULL AND"
                                    " content_start IS NULL FROM playback_sessions"
                                    " WHERE device_id = 'dev-bare'"),
            "t");

  // A later write replaces every field, including clearing optionals.
  auto changed = bare_session("acc1", "00:1A:79:00:00:01");
  changed.started_at = at_ms(1700000000500);
  st = store.apply({upsert(changed, 4)});
  EXPECT_EQ(st[0], write_status::ok);
  rows = store.sessions_of("acc1");
  ASSERT_EQ(rows.size(), 2u);
  expect_same_session(rows[1], changed);
  EXPECT_EQ(store.count_sessions(), 2);
}

TEST_F(StorageSessionStore, EveryEnumValueRoundTrips) {
  storage::session_store store(dsn);
  int n = 0;
  for (auto status : {session_status::pending, session_status::active, session_status::ended,
                      session_status::killed})
    for (auto type : {content_type::live, content_type::timeshift, content_type::catchup,
                      content_type::npvr, content_type::vod, content_type::radio})
      for (auto reason : {end_reason::user, end_reason::never_started, end_reason::stale,
                          end_reason::flussonic_closed, end_reason::gone,
                          end_reason::killed_over_limit, end_reason::killed_by_operator}) {
        auto s = full_session("enum", "d" + std::to_string(n++));
        s.status = status;
        s.content.type = type;
        s.reason = reason;
        store.apply({upsert(s, 1)});
        auto rows = store.sessions_of("enum");
        auto it = std::find_if(rows.begin(), rows.end(),
                               [&](const auto& r) { return r.device_id == s.device_id; });
        ASSERT_NE(it, rows.end());
        expect_same_session(*it, s);
      }
}

TEST_F(StorageSessionStore, OlderEpochIsFencedAndChangesNothing) {
  storage::session_store store(dsn);
  auto s = full_session("acc1", "dev1");
  ASSERT_EQ(store.apply({upsert(s, 2)})[0], write_status::ok);

  auto stale = bare_session("acc1", "dev1");
  stale.status = session_status::ended;
  auto st = store.apply({upsert(stale, 1)});
  EXPECT_EQ(st[0], write_status::fenced);
  auto rows = store.sessions_of("acc1");
  ASSERT_EQ(rows.size(), 1u);
  expect_same_session(rows[0], s);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT shard_epoch FROM playback_sessions"), "2");

  // The same epoch and newer ones apply.
  s.bytes += 1;
  EXPECT_EQ(store.apply({upsert(s, 2)})[0], write_status::ok);
  s.bytes += 1;
  EXPECT_EQ(store.apply({upsert(s, 3)})[0], write_status::ok);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT shard_epoch || '/' || bytes FROM playback_sessions"),
            "3/" + std::to_string(s.bytes));
}

TEST_F(StorageSessionStore, DeleteIsFencedToo) {
  storage::session_store store(dsn);
  store.apply({upsert(bare_session("acc1", "dev1"), 5)});

  EXPECT_EQ(store.apply({erase("acc1", "dev1", 4)})[0], write_status::fenced);
  EXPECT_EQ(store.count_sessions(), 1);
  EXPECT_EQ(store.apply({erase("acc1", "dev1", 5)})[0], write_status::ok);
  EXPECT_EQ(store.count_sessions(), 0);
  // Nothing to delete is not a fence.
  EXPECT_EQ(store.apply({erase("acc1", "dev1", 1)})[0], write_status::ok);
}

TEST_F(StorageSessionStore, ApplyAnswersPerOpInOrder) {
  storage::session_store store(dsn);
  store.apply({upsert(bare_session("a", "fenced"), 9)});
  auto st = store.apply({upsert(bare_session("a", "new"), 1), upsert(bare_session("a", "fenced"), 1),
                         account("a", 1), erase("a", "fenced", 2), erase("a", "absent", 1)});
  EXPECT_EQ(st, (std::vector<write_status>{write_status::ok, write_status::fenced, write_status::ok,
                                           write_status::fenced, write_status::ok}));
  EXPECT_EQ(store.count_sessions(), 2);
}

TEST_F(StorageSessionStore, ManyOpsInOneApply) {
  // More ops than one pipeline chunk, and an empty apply.
  storage::session_store store(dsn);
  EXPECT_TRUE(store.apply({}).empty());
  std::vector<storage::write_op> ops;
  for (int i = 0; i < 1000; ++i)
    ops.push_back(upsert(bare_session("acc" + std::to_string(i % 10), "d" + std::to_string(i)), 1));
  auto st = store.apply(ops);
  ASSERT_EQ(st.size(), 1000u);
  for (auto s : st)
    EXPECT_EQ(s, write_status::ok);
  EXPECT_EQ(store.count_sessions(), 1000);
  EXPECT_EQ(store.sessions_of("acc3").size(), 100u);
}

TEST_F(StorageSessionStore, OpsOnOneRowInOneApplyLeaveTheLastOneAndShareItsStatus) {
  // The session upserts of one transaction go as one multi-row statement,
  // which cannot touch a row twice: the last op per row wins.
  storage::session_store store(dsn);
  auto first = bare_session("a", "d");
  auto second = full_session("a", "d");
  second.bytes = 4242;
  auto st = store.apply({upsert(first, 1), upsert(bare_session("a", "other"), 1), upsert(second, 1)});
  EXPECT_EQ(st, (std::vector<write_status>{write_status::ok, write_status::ok, write_status::ok}));
  auto rows = store.sessions_of("a");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT bytes FROM playback_sessions WHERE device_id = 'd'"), "4242");

  // Upsert then delete: gone; delete then upsert: there.
  st = store.apply({upsert(first, 1), erase("a", "d", 1), erase("a", "other", 1),
                    upsert(bare_session("a", "other"), 1)});
  EXPECT_EQ(st, (std::vector<write_status>(4, write_status::ok)));
  EXPECT_EQ(store.count_sessions(), 1);
  EXPECT_EQ(test::query_scalar(dsn, "SELECT device_id FROM playback_sessions"), "other");

  // A fenced last op fences the ops it superseded; other rows are not affected.
  store.apply({upsert(bare_session("a", "held"), 7)});
  st = store.apply({upsert(bare_session("a", "held"), 3), upsert(bare_session("a", "free"), 3),
                    upsert(bare_session("a", "held"), 3)});
  EXPECT_EQ(st, (std::vector<write_status>{write_status::fenced, write_status::ok,
                                           write_status::fenced}));
  EXPECT_EQ(test::query_scalar(dsn, "SELECT shard_epoch FROM playback_sessions WHERE device_id = 'held'"), "7");
}

TEST_F(StorageSessionStore, ArrayParametersCarryAwkwardTextUnchanged) {
  // Every column of the multi-row upsert travels inside an array (binary
  // since issue 7's eighth round, a text literal before): quotes,
  // backslashes, braces, commas, NULL-looking text, empties, multi-byte
  // UTF-8 (in the jsonb column too), and times before PostgreSQL's own
  // epoch (2000-01-01: negative on the wire) and before the Unix epoch.
  storage::session_store store(dsn);
  auto s = full_session("acc.1", "dev-\\\"x");
  s.content.stream = "a,b}{\"NULL\"\\ канал";
  s.client_ip = "NULL";
  s.token = "";
  s.content.start.reset();
  s.reason.reset();
  s.ended_at.reset();
  s.flussonic[0].id = "id \"q\" \\ ü";
  s.flussonic[1].stream = "{\"json\": [1]}";
  s.started_at = at_ms(946684799999);   // 1 ms before 2000-01-01
  s.updated_at = at_ms(-1000);          // 1969
  s.content.duration = -5;
  ASSERT_EQ(store.apply({upsert(s, 1), upsert(bare_session("acc.1", "NULL"), 1)})[0], write_status::ok);
  auto rows = store.sessions_of("acc.1");
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows)
    if (r.device_id == s.device_id) expect_same_session(r, s);
}

TEST_F(StorageSessionStore, AFailingOpRollsBackTheWholeApply) {
  storage::session_store store(dsn);
  // The bad op sits in a later pipeline chunk than the first good ones.
  std::vector<storage::write_op> ops;
  for (int i = 0; i < 100; ++i)
    ops.push_back(upsert(bare_session("acc1", "d" + std::to_string(i)), 1));
  ops.push_back(account("acc1", -1));  // violates max_sessions >= 0
  ops.push_back(upsert(bare_session("acc1", "after"), 1));
  EXPECT_THROW(store.apply(ops), storage::storage_error);
  EXPECT_EQ(store.count_sessions(), 0);
  EXPECT_FALSE(store.get_account("acc1").has_value());

  // The connection is usable afterwards.
  EXPECT_EQ(store.apply({upsert(bare_session("acc1", "d1"), 1)})[0], write_status::ok);
  EXPECT_EQ(store.count_sessions(), 1);
}

TEST_F(StorageSessionStore, StreamersPutGetListDelete) {
  storage::session_store store(dsn);
  EXPECT_TRUE(store.list_streamers().empty());
  EXPECT_FALSE(store.get_streamer(1).has_value());

  streamer a;
  a.id = 2;
  a.host = "10.110.51.31:8080";
  a.url = "http://10.110.51.31:8080";
  a.api_url = "http://10.110.51.31:8080/streamer/api/v3";
  a.api_user = "flussonic";
  a.api_password = "s3cret";
  a.mode = link_mode::securetoken;
  a.securetoken_secret = "st-key";
  a.link_template = "{url}/{stream}/mono.m3u8?token={token}";
  a.capacity = 500;
  a.enabled = false;
  a.allowed_sources = {"10.110.51.0/24", "2001:db8::/32"};
  a.access_secrets = {"new-secret-0123456789", "old-secret-0123456789"};
  streamer b;
  b.id = 1;
  b.host = "streamer.example.com";
  store.put_streamer(a);
  store.put_streamer(b);

  auto got = store.get_streamer(2);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, 2);
  EXPECT_EQ(got->host, a.host);
  EXPECT_EQ(got->url, a.url);
  EXPECT_EQ(got->api_url, a.api_url);
  EXPECT_EQ(got->api_user, a.api_user);
  EXPECT_EQ(got->api_password, "s3cret");
  EXPECT_EQ(got->mode, link_mode::securetoken);
  EXPECT_EQ(got->securetoken_secret, "st-key");
  EXPECT_EQ(got->link_template, a.link_template);
  EXPECT_EQ(got->capacity, 500);
  EXPECT_FALSE(got->enabled);
  EXPECT_EQ(got->allowed_sources, a.allowed_sources);
  EXPECT_EQ(got->access_secrets, a.access_secrets);

  auto list = store.list_streamers();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, 1);  // ordered by id
  EXPECT_EQ(list[0].mode, link_mode::auth_backend);
  EXPECT_TRUE(list[0].enabled);
  EXPECT_TRUE(list[0].allowed_sources.empty());
  EXPECT_TRUE(list[0].access_secrets.empty());
  EXPECT_EQ(list[1].access_secrets, a.access_secrets);
  EXPECT_EQ(list[1].id, 2);

  // Replace (an emptied list is stored empty).
  a.api_password = "rotated";
  a.enabled = true;
  a.access_secrets = {"new-secret-0123456789"};
  a.allowed_sources.clear();
  store.put_streamer(a);
  EXPECT_EQ(store.get_streamer(2)->access_secrets, a.access_secrets);
  EXPECT_TRUE(store.get_streamer(2)->allowed_sources.empty());
  EXPECT_EQ(store.get_streamer(2)->api_password, "rotated");
  EXPECT_TRUE(store.get_streamer(2)->enabled);
  EXPECT_EQ(store.list_streamers().size(), 2u);

  // Another id with a host already taken: conflict, nothing changes.
  streamer dup = b;
  dup.id = 3;
  EXPECT_THROW(store.put_streamer(dup), storage::conflict_error);
  try {
    store.put_streamer(dup);
  } catch (const storage::storage_error& e) {  // conflict_error is a storage_error
    EXPECT_NE(std::string(e.what()).find("host"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store.get_streamer(3).has_value());

  // Invalid ids are refused by the schema.
  streamer bad;
  bad.id = 0;
  bad.host = "zero";
  EXPECT_THROW(store.put_streamer(bad), storage::storage_error);

  EXPECT_TRUE(store.delete_streamer(2));
  EXPECT_FALSE(store.delete_streamer(2));
  EXPECT_FALSE(store.get_streamer(2).has_value());
  EXPECT_EQ(store.list_streamers().size(), 1u);
}

TEST_F(StorageSessionStore, ReadsSurviveADroppedConnection) {
  storage::session_store store(dsn);
  store.apply({account("acc1", 2)});
  ASSERT_GE(kill_connections(dsn), 1);
  // The read notices the dead connection, reconnects and retries.
  auto a = store.get_account("acc1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->max_sessions, 2);
  EXPECT_TRUE(store.ensure_connected());

  // A write on a dead connection fails as a whole; the next one reconnects.
  ASSERT_GE(kill_connections(dsn), 1);
  try {
    store.apply({account("acc1", 5)});
  } catch (const storage::storage_error&) {
  }
  EXPECT_TRUE(store.ensure_connected());
  EXPECT_EQ(store.apply({account("acc1", 6)})[0], write_status::ok);
  EXPECT_EQ(store.get_account("acc1")->max_sessions, 6);
}

TEST_F(StorageSessionStore, WriteStatusNames) {
  EXPECT_STREQ(storage::to_string(write_status::ok), "ok");
  EXPECT_STREQ(storage::to_string(write_status::fenced), "fenced");
  EXPECT_STREQ(storage::to_string(write_status::failed), "failed");
}

}  // namespace
}  // namespace maxsess

namespace maxsess {
namespace {

using namespace storage_test;
using storage::write_status;

class StorageStreamerJobs : public migrated_db {
 protected:
  // A session on `streamer` with the given status and Flussonic sessions.
  static playback_session on(int64_t streamer, const std::string& account,
                             const std::string& device, session_status status,
                             std::vector<bool> open = {}) {
    auto s = bare_session(account, device);
    s.streamer_id = streamer;
    s.status = status;
    s.token = "tok-" + account + "-" + device;
    int i = 0;
    for (bool o : open)
      s.flussonic.push_back({"f" + std::to_string(i++), "10.0.0.1", o, at_ms(1700000000000), "news"});
    return s;
  }
};

TEST_F(StorageStreamerJobs, AccountsOnStreamerCountsLiveAndKilledRows) {
  storage::session_store store(dsn);
  EXPECT_TRUE(store.accounts_on_streamer(1).empty());
  store.apply({upsert(on(1, "b", "d1", session_status::active), 1),
               upsert(on(1, "b", "d2", session_status::pending), 1),
               upsert(on(1, "a", "d1", session_status::killed), 1),
               upsert(on(1, "c", "d1", session_status::ended), 1),
               upsert(on(2, "d", "d1", session_status::active), 1)});
  EXPECT_EQ(store.accounts_on_streamer(1), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(store.accounts_on_streamer(2), (std::vector<std::string>{"d"}));
}

TEST_F(StorageStreamerJobs, KilledOnStreamerListsKillsNotYetEffective) {
  storage::session_store store(dsn);
  store.apply({upsert(on(1, "a", "open", session_status::killed, {false, true}), 1),
               upsert(on(1, "a", "unbound", session_status::killed), 1),
               upsert(on(1, "a", "closed", session_status::killed, {false, false}), 1),
               upsert(on(1, "a", "active", session_status::active, {true}), 1),
               upsert(on(2, "a", "elsewhere", session_status::killed, {true}), 1)});
  auto killed = store.killed_on_streamer(1);
  ASSERT_EQ(killed.size(), 2u);
  EXPECT_EQ(killed[0].device_id, "open");
  EXPECT_EQ(killed[1].device_id, "unbound");
  expect_same_session(killed[0], on(1, "a", "open", session_status::killed, {false, true}));
}

TEST_F(StorageStreamerJobs, ResolveTokensFindsTheNewestRow) {
  storage::session_store store(dsn);
  EXPECT_TRUE(store.resolve_tokens({}).empty());
  auto older = bare_session("acc1", "dev1");
  older.token = "shared\"tok\\en";
  older.updated_at = at_ms(1700000000000);
  auto newer = bare_session("acc2", "dev9");
  newer.token = older.token;
  newer.updated_at = at_ms(1700000001000);
  auto other = bare_session("acc3", "dev3");
  other.token = "plain";
  store.apply({upsert(older, 1), upsert(newer, 1), upsert(other, 1),
               upsert(bare_session("acc4", "no-token"), 1)});
  auto found = store.resolve_tokens({older.token, "plain", "unknown", ""});
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[older.token], (std::pair<std::string, std::string>{"acc2", "dev9"}));
  EXPECT_EQ(found["plain"], (std::pair<std::string, std::string>{"acc3", "dev3"}));
}

// Migration 009: our signed tokens name their account and are never looked
// up, so they stay out of the token index and a zap (new token, new stream,
// same device, same status) is a HOT update; a token that is not ours (a
// securetoken link) is still found.
TEST_F(StorageStreamerJobs, ZapsWithOurTokensAreHotAndOnlyForeignTokensAreLookedUp) {
  auto s = bare_session("acc1", "dev1");
  s.status = session_status::pending;
  s.token = "m2.first.signed.token";
  {
    // The store's connections report their statistics when they close.
    storage::session_store store(dsn);
    store.apply({upsert(s, 1)});
    for (int i = 0; i < 10; ++i) {
      s.token = "m2.zap" + std::to_string(i) + ".signed";
      s.content.stream = "channel" + std::to_string(i);
      s.updated_at += std::chrono::seconds(1);
      ASSERT_EQ(store.apply({upsert(s, 1)})[0], storage::write_status::ok);
    }
  }
  EXPECT_EQ(test::update_counts(dsn, "playback_sessions", 10), "10/10")
      << "updates/HOT updates: a zap with a signed token wrote index entries";
  EXPECT_EQ(test::query_scalar(dsn, "SELECT token || ' ' || lookup_token || '|' FROM playback_sessions"),
            "m2.zap9.signed |");
  storage::session_store store(dsn);
  EXPECT_TRUE(store.resolve_tokens({s.token}).empty());
  // A foreign token goes into the look-up, and out again when replaced.
  s.token = "securetoken-abc";
  store.apply({upsert(s, 1)});
  EXPECT_EQ(store.resolve_tokens({"securetoken-abc"})["securetoken-abc"],
            (std::pair<std::string, std::string>{"acc1", "dev1"}));
  s.token = "m2.back.signed";
  store.apply({upsert(s, 1)});
  EXPECT_TRUE(store.resolve_tokens({"securetoken-abc"}).empty());
}

TEST_F(StorageStreamerJobs, ClearDeletesOldEndedAndEffectivelyKilledRows) {
  storage::session_store store(dsn);
  auto recent = on(1, "a", "recent-ended", session_status::ended);
  recent.updated_at = std::chrono::system_clock::now();
  // bare_session's updated_at is in 2023: long untouched.
  store.apply({upsert(on(1, "a", "old-ended", session_status::ended), 1),
               upsert(recent, 1),
               upsert(on(1, "a", "killed-closed", session_status::killed, {false}), 1),
               upsert(on(1, "b", "killed-unbound", session_status::killed), 1),
               upsert(on(1, "b", "killed-open", session_status::killed, {true}), 1),
               upsert(on(1, "b", "old-active", session_status::active), 1),
               upsert(on(1, "b", "old-pending", session_status::pending), 1)});
  auto recent_kill = on(1, "b", "killed-recently", session_status::killed, {false});
  recent_kill.updated_at = std::chrono::system_clock::now() - std::chrono::minutes(5);
  store.apply({upsert(recent_kill, 1)});
  // Killed rows have their own (longer) horizon: their links must expire first.
  auto gone = store.clear_sessions(std::chrono::seconds(120), std::chrono::minutes(10));
  std::sort(gone.begin(), gone.end());
  EXPECT_EQ(gone, (std::vector<std::pair<std::string, std::string>>{
                      {"a", "killed-closed"}, {"a", "old-ended"}, {"b", "killed-unbound"}}));
  EXPECT_EQ(store.count_sessions(), 5);
  EXPECT_TRUE(store.clear_sessions(std::chrono::seconds(120), std::chrono::minutes(10)).empty());
  EXPECT_EQ(store.clear_sessions(std::chrono::seconds(120), std::chrono::minutes(1)).size(), 1u);
}

TEST_F(StorageStreamerJobs, CountByStatusIncludesZeros) {
  storage::session_store store(dsn);
  auto empty = store.count_by_status();
  EXPECT_EQ(empty, (std::map<std::string, int64_t>{
                       {"active", 0}, {"ended", 0}, {"killed", 0}, {"pending", 0}}));
  store.apply({upsert(on(1, "a", "1", session_status::active), 1),
               upsert(on(1, "a", "2", session_status::active), 1),
               upsert(on(1, "a", "3", session_status::killed), 1)});
  auto counts = store.count_by_status();
  EXPECT_EQ(counts["active"], 2);
  EXPECT_EQ(counts["killed"], 1);
  EXPECT_EQ(counts["pending"], 0);
  EXPECT_EQ(counts.size(), 4u);
}

}  // namespace
}  // namespace maxsess
