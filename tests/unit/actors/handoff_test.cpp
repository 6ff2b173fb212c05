// Shard ownership races, deterministically (det_fixture.hpp): what a node
// answers for a shard it does not own, a handoff while a write is in flight,
// a fenced write, and an owner that moves away and back with a new epoch.
#include "tests/unit/actors/det_fixture.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using namespace maxsess::actors::det;
using namespace std::chrono_literals;

namespace {

using Handoff = det_runtime;

bool same(const local_shard_actor& a, const local_shard_actor& b) { return a.address() == b.address(); }

// The epochs the session writes carried, in order.
std::vector<int64_t> session_epochs(const std::vector<std::vector<write_op>>& log) {
  std::vector<int64_t> out;
  for (auto& ops : log)
    for (auto& op : ops) {
      if (op.what == write_op::kind::upsert_session) out.push_back(op.upsert().epoch);
      if (op.what == write_op::kind::delete_session) out.push_back(op.del().epoch);
    }
  return out;
}

TEST_F(Handoff, FixtureServesAnOwnedShardOnlyWhenRun) {
  start();
  auto s = shard_of("a1");
  own(s, 1);
  auto a = link("a1", "d1");
  EXPECT_FALSE(a->done()) << "nothing runs until the test runs it";
  run();
  ASSERT_TRUE(a->value.has_value());
  EXPECT_EQ(a->value->result, link_result::approved);
  ASSERT_TRUE(memory.session("a1", "d1").has_value());
  EXPECT_EQ(live(s), 1u);
}

TEST_F(Handoff, ExplicitStopDoesNotHangWithActorsAlive) {
  start();
  for (auto acc : {"a1", "a2", "a3", "a4"}) own(shard_of(acc), 1);  // some share a shard: owned again
  for (auto acc : {"a1", "a2", "a3", "a4"}) link(acc, "d1");
  run();
  store.hold_writes(true);
  link("a1", "d2");  // a write in flight: stop() lands it first
  auto g = get("a2");
  run();
  ASSERT_EQ(store.held(), 1u);
  ASSERT_TRUE(g->value.has_value());
  stop();
  EXPECT_EQ(rt, nullptr);
  EXPECT_TRUE(memory.session("a1", "d2").has_value());
}

TEST_F(Handoff, UnownedShardAnswersUnavailableAtOnce) {
  start();
  auto l = link("a1", "d1");
  auto e = end("a1", "d1");
  auto g = get("a1");
  run();  // no time passes: the answers are not timeouts
  ASSERT_TRUE(l->value.has_value());
  EXPECT_EQ(l->value->result, link_result::unavailable);
  ASSERT_TRUE(e->value.has_value());
  EXPECT_EQ(*e->value, end_result::unavailable);
  ASSERT_TRUE(g->value.has_value());
  EXPECT_FALSE(g->value->has_value());
  EXPECT_TRUE(store.log().empty()) << "no write happened";
  EXPECT_EQ(store.loads_started(), 0u) << "no account was loaded";
  EXPECT_FALSE(rt->hooks().local_owner(shard_of("a1"))) << "nothing owned here";
}

// A handoff while a link's write is in flight, for each way the write ends.
struct handoff_case {
  write_status write;
  link_result mid_flight;  // what the request in flight is answered
  bool fenced;             // on_fenced is called
};

class HandoffMidFlight : public det_runtime, public ::testing::WithParamInterface<handoff_case> {};

TEST_P(HandoffMidFlight, DrainAnswersOnlyOnceTheWriteInFlightEnded) {
  auto c = GetParam();
  start();
  auto s = shard_of("a1");
  auto old = own(s, 1);
  store.hold_writes(true);
  auto mid = link("a1", "d1");
  run();
  ASSERT_EQ(store.held(), 1u) << "the approval waits for its write";
  EXPECT_FALSE(mid->done());

  // cluster/ hands the shard off: route to nobody, then drain the old owner.
  auto disowned = disown(s);
  ASSERT_TRUE(same(disowned, old));
  EXPECT_FALSE(rt->hooks().local_owner(s));
  auto drained = drain(old);
  run();
  EXPECT_FALSE(drained->done()) << "the drain must wait for the write in flight";

  // New requests for the shard are refused at once ...
  auto late = link("a1", "d2");
  // ... and so is one that still reaches the old owner (a handle taken
  // before the disown).
  auto direct = ask<link_outcome>(old, link_atom_v, link_req("a1", "d3"));
  auto direct_get = ask<account_answer>(old, get_atom_v, std::string("a1"));
  run();
  ASSERT_TRUE(late->value.has_value());
  EXPECT_EQ(late->value->result, link_result::unavailable);
  ASSERT_TRUE(direct->value.has_value()) << direct->error.value_or("");
  EXPECT_EQ(direct->value->result, link_result::unavailable);
  ASSERT_TRUE(direct_get->value.has_value()) << direct_get->error.value_or("");
  EXPECT_FALSE(direct_get->value->has_value());
  EXPECT_EQ(store.held(), 1u) << "the refused requests wrote nothing";
  EXPECT_EQ(store.log().size(), 1u);
  EXPECT_FALSE(mid->done());
  EXPECT_FALSE(drained->done());

  store.release_one(c.write);
  run();
  ASSERT_TRUE(mid->value.has_value()) << "the request in flight gets its real answer";
  EXPECT_EQ(mid->value->result, c.mid_flight);
  ASSERT_TRUE(drained->value.has_value()) << drained->error.value_or("");
  EXPECT_TRUE(*drained->value);
  EXPECT_EQ(memory.session("a1", "d1").has_value(), c.write == write_status::ok);
  if (c.fenced)
    EXPECT_EQ(fenced, (std::vector<std::pair<int, int64_t>>{{s, 1}}));
  else
    EXPECT_TRUE(fenced.empty());
  EXPECT_EQ(store.loads_started(), 1u) << "a draining account does not reload after a failed write";

  // The old owner is gone: the lease may go.
  auto after = ask<link_outcome>(old, link_atom_v, link_req("a1", "d4"));
  run();
  EXPECT_TRUE(after->error.has_value()) << "the drained owner quit";
}

INSTANTIATE_TEST_SUITE_P(Outcomes, HandoffMidFlight,
                         ::testing::Values(handoff_case{write_status::ok, link_result::approved, false},
                                           handoff_case{write_status::failed, link_result::unavailable, false},
                                           handoff_case{write_status::fenced, link_result::unavailable, true}),
                         [](const auto& info) { return std::string(storage::to_string(info.param.write)); });

TEST_F(Handoff, DrainWhileTheAccountIsLoadingRefusesWhatWaitedAndDoesNotWaitForTheLoad) {
  start();
  auto s = shard_of("a1");
  auto old = own(s, 1);
  store.hold_loads(true);
  auto waiting = link("a1", "d1");
  run();
  ASSERT_EQ(store.held_loads(), 1u);
  EXPECT_FALSE(waiting->done());
  disown(s);
  auto drained = drain(old);
  run();
  ASSERT_TRUE(waiting->value.has_value());
  EXPECT_EQ(waiting->value->result, link_result::unavailable);
  ASSERT_TRUE(drained->value.has_value());
  EXPECT_TRUE(*drained->value);
  store.release_load();  // its answer finds no one
  run();
  EXPECT_TRUE(store.log().empty());
}

TEST_F(Handoff, DrainOfAnIdleOwnerAnswersAtOnce) {
  start();
  auto s = shard_of("a1");
  auto old = own(s, 1);
  auto a = link("a1", "d1");
  run();
  ASSERT_EQ(a->value->result, link_result::approved);
  disown(s);
  auto drained = drain(old);
  auto twice = drain(old);  // asked twice (keeper retry): both answered
  run();
  ASSERT_TRUE(drained->value.has_value());
  EXPECT_TRUE(*drained->value);
  ASSERT_TRUE(twice->value.has_value()) << twice->error.value_or("");
  EXPECT_TRUE(*twice->value);
}

TEST_F(Handoff, FencedWriteAnswersUnavailableAndReportsShardAndEpoch) {
  start();
  auto s = shard_of("a1");
  own(s, 7);
  store.answer_next(write_status::fenced);
  auto a = link("a1", "d1");
  run();
  ASSERT_TRUE(a->value.has_value());
  EXPECT_EQ(a->value->result, link_result::unavailable);
  EXPECT_EQ(fenced, (std::vector<std::pair<int, int64_t>>{{s, 7}}));
  EXPECT_FALSE(memory.session("a1", "d1").has_value());
  EXPECT_EQ(metrics.value("maxsess_fenced_writes_total"), 1.0);
  ASSERT_EQ(session_epochs(store.log()), (std::vector<int64_t>{7}));
}

TEST_F(Handoff, OwnerMovesAwayAndBackReloadsAndWritesUnderTheNewEpoch) {
  runtime_options opts;
  opts.decisions.default_max_sessions = 2;
  start(opts);
  auto s = shard_of("a1");
  auto first = own(s, 1);
  auto a = link("a1", "d1");
  run();
  ASSERT_EQ(a->value->result, link_result::approved);
  EXPECT_EQ(store.loads_started(), 1u);

  disown(s);
  auto drained = drain(first);
  run();
  ASSERT_TRUE(drained->value.has_value());
  auto writes_at_epoch_1 = store.log().size();

  auto second = own(s, 2);
  EXPECT_FALSE(same(first, second));
  auto b = link("a1", "d2");
  run();
  ASSERT_TRUE(b->value.has_value());
  EXPECT_EQ(b->value->result, link_result::approved);
  // The account holds a live session, so it came back with the takeover
  // load of the shard's accounts in play (load_live), not a load of its own.
  EXPECT_EQ(store.loads_started(), 1u) << "the takeover load brought the account back";
  // d1 came back from the store: with d1 and d2 the account is full.
  auto c = link("a1", "d3");
  run();
  EXPECT_EQ(c->value->result, link_result::denied);

  auto log = store.log();
  ASSERT_GT(log.size(), writes_at_epoch_1);
  for (size_t i = 0; i < log.size(); ++i)
    for (auto& op : log[i]) {
      if (op.what != write_op::kind::upsert_session) continue;
      EXPECT_EQ(op.upsert().epoch, i < writes_at_epoch_1 ? 1 : 2) << "write " << i;
      EXPECT_EQ(op.upsert().shard, s);
    }
}

// A shard lost (keeper's drop(): disown + drain without waiting) and taken
// again while the old owner still waits for a write: two actors of one
// account on this node, the new one deciding on a snapshot that misses the
// old one's approval.
//
// BUG (product): runtime_hooks::own() spawns the new owner at once, although
// the previous owner of the shard on this node is still draining. The new
// account actor loads a snapshot without the old actor's write in flight and
// approves past max_sessions; the old write lands afterwards. PostgreSQL does
// not catch it: the late write inserts a new row, and the epoch check
// (shard_epoch <= EXCLUDED.shard_epoch) only guards existing rows. Fix
// options: own() defers the new owner (or its loads) until the old one has
// drained; and/or fence inserts by the lease's epoch in the write transaction.
TEST_F(Handoff, ReownWhileTheOldOwnerStillDrainsKeepsTheLimit) {
  runtime_options opts;
  opts.decisions.default_max_sessions = 1;
  start(opts);
  auto s = shard_of("a1");
  auto old = own(s, 1);
  store.hold_writes(true);
  auto first = link("a1", "d1");
  run();
  ASSERT_EQ(store.held(), 1u);
  disown(s);
  auto drained = drain(old);
  run();
  ASSERT_FALSE(drained->done());

  own(s, 2);  // taken again before the drain finished
  auto second = link("a1", "d2");
  run();
  while (store.held() > 0) {
    store.release_one(write_status::ok);
    run();
  }
  ASSERT_TRUE(first->value.has_value());
  ASSERT_TRUE(second->value.has_value());
  int approved = (first->value->result == link_result::approved) +
                 (second->value->result == link_result::approved);
  EXPECT_LE(approved, 1) << "max_sessions = 1, yet both devices were approved";
}

}  // namespace
