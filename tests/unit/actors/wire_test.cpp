// The wire types (actors/wire.hpp): every struct through CAF's binary
// serializer and back with every field compared, the conversions to and
// from the actor-side types, enum integers this build does not know, and
// the registration that remoting needs (a missing one is silent in CAF
// 0.17: the receiver gets an empty message).
#include "actors/wire.hpp"

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <chrono>
#include <climits>
#include <memory>

using namespace maxsess;
namespace w = maxsess::wire;

// Not actors/messages.hpp: it marks std::vector<std::string> as an unsafe
// message type, which wire.hpp refuses (CAF would skip such fields).
// Atoms as messages.hpp spells them.
using end_atom = caf::atom_constant<caf::atom("ms_end")>;
using get_atom = caf::atom_constant<caf::atom("ms_get")>;
using del_atom = caf::atom_constant<caf::atom("ms_del")>;
using kills_atom = caf::atom_constant<caf::atom("ms_kills")>;
using hook_atom = caf::atom_constant<caf::atom("ms_hook")>;
using sync_atom = caf::atom_constant<caf::atom("ms_sync")>;

static_assert(caf::id_block::maxsess_wire::begin == caf::first_custom_type_id + 100);
static_assert(caf::id_block::maxsess_wire::end - caf::id_block::maxsess_wire::begin == 26,
              "a type added to the block needs its round trip here");

// A type with an inspect that add_wire_types does not register.
namespace wire_test {
struct unregistered {
  int32_t a = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unregistered& x) {
  return f(caf::meta::type_name("wire_test.unregistered"), x.a);
}
}  // namespace wire_test

namespace {

constexpr int block_size = caf::id_block::maxsess_wire::end - caf::id_block::maxsess_wire::begin;

// Through CAF's binary serializer and back; every byte must be consumed.
template <class T>
T round_trip(T x) {
  std::vector<char> buf;
  {
    caf::binary_serializer sink(static_cast<caf::execution_unit*>(nullptr), buf);
    auto err = sink(x);
    EXPECT_FALSE(err) << "serialize";
  }
  T y;
  caf::binary_deserializer source(static_cast<caf::execution_unit*>(nullptr), buf);
  auto err = source(y);
  EXPECT_FALSE(err) << "deserialize";
  EXPECT_EQ(source.remaining(), 0u);
  return y;
}

sys_time at_ms(int64_t ms) { return sys_time{} + std::chrono::milliseconds(ms); }

#define SAME(field) EXPECT_EQ(a.field, b.field) << #field

// Element by element; defined after every overload it calls.
template <class T>
void expect_same(const std::vector<T>& a, const std::vector<T>& b);

// --- every field, wire side -----------------------------------------------------------

void expect_same(const w::content_ref& a, const w::content_ref& b) {
  SAME(type); SAME(stream); SAME(has_start); SAME(start); SAME(has_duration); SAME(duration);
}
void expect_same(const w::flussonic_session& a, const w::flussonic_session& b) {
  SAME(id); SAME(ip); SAME(open); SAME(updated_at_ms); SAME(stream);
}
void expect_same(const w::playback_session& a, const w::playback_session& b) {
  SAME(account_id); SAME(device_id); SAME(status);
  expect_same(a.content, b.content);
  SAME(streamer_id); SAME(client_ip);
  expect_same(a.flussonic, b.flussonic);
  SAME(token); SAME(started_at_ms); SAME(updated_at_ms); SAME(has_ended_at); SAME(ended_at_ms);
  SAME(duration_s); SAME(bytes); SAME(has_reason); SAME(reason); SAME(exempt); SAME(over_limit);
}
void expect_same(const w::account_settings& a, const w::account_settings& b) {
  SAME(account_id); SAME(max_sessions); SAME(exempt);
}
void expect_same(const w::account_view& a, const w::account_view& b) {
  SAME(found);
  expect_same(a.settings, b.settings);
  expect_same(a.sessions, b.sessions);
}
void expect_same(const w::link_request& a, const w::link_request& b) {
  SAME(account_id); SAME(device_id);
  expect_same(a.content, b.content);
  SAME(streamer_id); SAME(client_ip);
}
void expect_same(const w::link_outcome& a, const w::link_outcome& b) {
  SAME(result); SAME(message);
  expect_same(a.session, b.session);
  SAME(url); SAME(token); SAME(expires_at_ms); SAME(max_sessions);
  expect_same(a.holders, b.holders);
  SAME(would_deny);
}
void expect_same(const w::end_request& a, const w::end_request& b) {
  SAME(account_id); SAME(device_id); SAME(kill);
}
void expect_same(const w::end_result& a, const w::end_result& b) { SAME(result); }
void expect_same(const w::account_answer& a, const w::account_answer& b) {
  SAME(available);
  expect_same(a.view, b.view);
}
void expect_same(const w::auth_request& a, const w::auth_request& b) {
  SAME(account_id); SAME(device_id); SAME(stream); SAME(session_id); SAME(ip); SAME(new_session);
  SAME(duration); SAME(bytes); SAME(token_issued_at_ms);
}
void expect_same(const w::auth_outcome& a, const w::auth_outcome& b) { SAME(result); SAME(would_deny); }
void expect_same(const w::play_report& a, const w::play_report& b) {
  SAME(what); SAME(session_id); SAME(stream); SAME(ip); SAME(token); SAME(duration); SAME(bytes);
  SAME(has_at); SAME(at_ms); SAME(streamer_id); SAME(has_token_issued_at); SAME(token_issued_at_ms);
}
void expect_same(const w::play_event& a, const w::play_event& b) {
  SAME(account_id); SAME(device_id); SAME(event_id);
  expect_same(a.report, b.report);
}
void expect_same(const w::seen_session& a, const w::seen_session& b) {
  SAME(device_id);
  expect_same(a.report, b.report);
}
void expect_same(const w::sync_request& a, const w::sync_request& b) {
  SAME(account_id); SAME(streamer_id);
  expect_same(a.seen, b.seen);
  SAME(listed);
  SAME(listed_at_ms);
}
void expect_same(const w::sync_summary& a, const w::sync_summary& b) {
  SAME(adopted); SAME(ended); SAME(killed);
}
void expect_same(const w::closed_by_streamer& a, const w::closed_by_streamer& b) {
  SAME(account_id); SAME(device_id); SAME(session_ids);
}
void expect_same(const w::forget_request& a, const w::forget_request& b) {
  SAME(account_id); SAME(timeout_ms);
}
void expect_same(const w::kill_order& a, const w::kill_order& b) {
  SAME(streamer_id); SAME(account_id); SAME(device_id); SAME(session_id); SAME(token);
}
void expect_same(const w::job_request& a, const w::job_request& b) {
  SAME(what); SAME(batch_size); SAME(streamer_ids); SAME(has_timeout); SAME(timeout_ms);
}
void expect_same(const w::streamer_run& a, const w::streamer_run& b) {
  SAME(streamer_id); SAME(ok); SAME(error); SAME(listed); SAME(untracked); SAME(adopted);
  SAME(ended); SAME(killed); SAME(closed);
}
void expect_same(const w::job_report& a, const w::job_report& b) {
  SAME(what); SAME(ok); SAME(error);
  expect_same(a.streamers, b.streamers);
  SAME(cleared);
}
void expect_same(const w::node_hello& a, const w::node_hello& b) {
  SAME(node_id); SAME(protocol_version); SAME(shard_count); SAME(http_address);
}

// --- every field, actor side ------------------------------------------------------------

void expect_same(const content_ref& a, const content_ref& b) {
  SAME(type); SAME(stream); SAME(start); SAME(duration);
}
void expect_same(const flussonic_session& a, const flussonic_session& b) {
  SAME(id); SAME(ip); SAME(open); SAME(updated_at); SAME(stream);
}
void expect_same(const playback_session& a, const playback_session& b) {
  SAME(account_id); SAME(device_id); SAME(status);
  expect_same(a.content, b.content);
  SAME(streamer_id); SAME(client_ip);
  expect_same(a.flussonic, b.flussonic);
  SAME(token); SAME(started_at); SAME(updated_at); SAME(ended_at); SAME(duration_s); SAME(bytes);
  SAME(reason); SAME(exempt); SAME(over_limit);
}
void expect_same(const account_settings& a, const account_settings& b) {
  SAME(account_id); SAME(max_sessions); SAME(exempt);
}
void expect_same(const actors::account_view& a, const actors::account_view& b) {
  SAME(found);
  expect_same(a.settings, b.settings);
  expect_same(a.sessions, b.sessions);
}
void expect_same(const actors::link_request& a, const actors::link_request& b) {
  SAME(account_id); SAME(device_id);
  expect_same(a.content, b.content);
  SAME(streamer_id); SAME(client_ip);
}
void expect_same(const actors::link_outcome& a, const actors::link_outcome& b) {
  SAME(result); SAME(message);
  expect_same(a.session, b.session);
  SAME(url); SAME(token); SAME(expires_at); SAME(max_sessions);
  expect_same(a.holders, b.holders);
  SAME(would_deny);
}
void expect_same(const actors::auth_request& a, const actors::auth_request& b) {
  SAME(account_id); SAME(device_id); SAME(stream); SAME(session_id); SAME(ip); SAME(new_session);
  SAME(duration); SAME(bytes); SAME(token_issued_at);
}
void expect_same(const actors::play_report& a, const actors::play_report& b) {
  SAME(what); SAME(session_id); SAME(stream); SAME(ip); SAME(token); SAME(duration); SAME(bytes);
  SAME(at); SAME(streamer_id); SAME(token_issued_at);
}
void expect_same(const actors::kill_order& a, const actors::kill_order& b) {
  SAME(streamer_id); SAME(account_id); SAME(device_id); SAME(session_id); SAME(token);
}
void expect_same(const actors::job_request& a, const actors::job_request& b) {
  SAME(what); SAME(batch_size); SAME(streamer_ids); SAME(timeout);
}
void expect_same(const actors::streamer_run& a, const actors::streamer_run& b) {
  SAME(streamer_id); SAME(ok); SAME(error); SAME(listed); SAME(untracked); SAME(adopted);
  SAME(ended); SAME(killed); SAME(closed);
}
void expect_same(const actors::job_report& a, const actors::job_report& b) {
  SAME(what); SAME(ok); SAME(error);
  expect_same(a.streamers, b.streamers);
  SAME(cleared);
}

#undef SAME

template <class T>
void expect_same(const std::vector<T>& a, const std::vector<T>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("element " + std::to_string(i));
    expect_same(a[i], b[i]);
  }
}

// --- populated wire samples (every field off its default) -----------------------------

w::content_ref wire_content() { return {2, "catchup/ch1", true, 1767225600, true, 5400}; }

w::flussonic_session wire_fs(const std::string& id, bool open) {
  return {id, "192.0.2.10", open, 1767225600123, "catchup/ch1"};
}

w::playback_session wire_session(const std::string& device, int32_t status) {
  w::playback_session s;
  s.account_id = "acc-9";
  s.device_id = device;
  s.status = status;
  s.content = wire_content();
  s.streamer_id = 11;
  s.client_ip = "198.51.100.3";
  s.flussonic = {wire_fs("f-1", false), wire_fs("f-2", true), wire_fs("f-3", false)};
  s.token = "tok." + device;
  s.started_at_ms = 1767225000001;
  s.updated_at_ms = 1767225000002;
  s.has_ended_at = true;
  s.ended_at_ms = 1767225000003;
  s.duration_s = 321;
  s.bytes = 987654321;
  s.has_reason = true;
  s.reason = 5;
  s.exempt = true;
  s.over_limit = device != "d-1";  // both values travel
  return s;
}

w::account_view wire_view() {
  return {true, {"acc-9", 4, true}, {wire_session("d-1", 1), wire_session("d-2", 3)}};
}

w::play_report wire_report(int32_t what) {
  w::play_report r;
  r.what = what;
  r.session_id = "f-1";
  r.stream = "live/ch2";
  r.ip = "192.0.2.44";
  r.token = "tok.d-1";
  r.duration = 61;
  r.bytes = 1 << 20;
  r.has_at = true;
  r.at_ms = 1767225600777;
  r.streamer_id = 11;
  r.has_token_issued_at = true;
  r.token_issued_at_ms = 1767225000000;
  return r;
}

w::streamer_run wire_run(int64_t id) { return {id, false, "timeout", 10, 20, 30, 40, 50, 60}; }

// --- actor-side samples ---------------------------------------------------------------------

playback_session session(const std::string& device, session_status st, content_type type,
                         std::optional<end_reason> reason) {
  playback_session s;
  s.account_id = "acc-9";
  s.device_id = device;
  s.status = st;
  s.content.type = type;
  s.content.stream = "catchup/ch1";
  s.content.start = 1767225600;
  s.content.duration = 5400;
  s.streamer_id = 11;
  s.client_ip = "198.51.100.3";
  s.flussonic = {{"f-1", "192.0.2.10", false, at_ms(1767225600123), "catchup/ch1"},
                 {"f-2", "192.0.2.11", true, at_ms(1767225600456), "catchup/ch2"}};
  s.token = "tok." + device;
  s.started_at = at_ms(1767225000001);
  s.updated_at = at_ms(1767225000002);
  if (reason) s.ended_at = at_ms(1767225000003);
  s.duration_s = 321;
  s.bytes = 987654321;
  s.reason = reason;
  s.exempt = true;
  s.over_limit = device != "d-1";  // both values travel
  return s;
}

actors::play_report report(actors::play_report::kind k, bool with_times) {
  actors::play_report r;
  r.what = k;
  r.session_id = "f-1";
  r.stream = "live/ch2";
  r.ip = "192.0.2.44";
  r.token = "tok.d-1";
  r.duration = 61;
  r.bytes = 1 << 20;
  if (with_times) {
    r.at = at_ms(1767225600777);
    r.token_issued_at = at_ms(1767225000000);
  }
  r.streamer_id = 11;
  return r;
}

const std::vector<content_type> all_content_types = {
    content_type::live, content_type::timeshift, content_type::catchup,
    content_type::npvr, content_type::vod,       content_type::radio};
const std::vector<session_status> all_statuses = {session_status::pending, session_status::active,
                                                  session_status::ended, session_status::killed};
const std::vector<end_reason> all_reasons = {
    end_reason::user, end_reason::never_started, end_reason::stale, end_reason::flussonic_closed,
    end_reason::gone, end_reason::killed_over_limit, end_reason::killed_by_operator};
const std::vector<actors::link_result> all_link_results = {
    actors::link_result::approved, actors::link_result::denied,
    actors::link_result::unknown_streamer, actors::link_result::no_streamer,
    actors::link_result::unavailable};
const std::vector<actors::auth_result> all_auth_results = {
    actors::auth_result::allow,         actors::auth_result::deny_killed,
    actors::auth_result::deny_reused,   actors::auth_result::deny_limit,
    actors::auth_result::deny_replaced, actors::auth_result::deny_stale_token,
    actors::auth_result::unavailable,   actors::auth_result::deny_expired,
    actors::auth_result::deny_unknown_session};
using kind = actors::play_report::kind;
const std::vector<kind> all_play_kinds = {kind::opened, kind::started, kind::updated, kind::closed,
                                          kind::listed};
using job_kind = actors::job_request::kind;
const std::vector<job_kind> all_job_kinds = {job_kind::sync, job_kind::kill, job_kind::clear};

// Integers no enum here uses.
const std::vector<int32_t> bad_enum_values = {-1, 9, 100, INT32_MAX, INT32_MIN};

// An actor system for the registration tests (one per test: cheap enough).
// The system keeps a reference to its config (the type names live there):
// the config must outlive it.
class test_system {
 public:
  explicit test_system(bool with_wire_types) {
    cfg_.set("scheduler.max-threads", size_t{1});
    if (with_wire_types) w::add_wire_types(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }
  caf::actor_system& operator*() { return *sys_; }

 private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
};

}  // namespace

// --- binary round trips of every wire struct ----------------------------------------------

TEST(WireRoundTrip, ContentRef) {
  auto x = wire_content();
  expect_same(round_trip(x), x);
  w::content_ref absent{5, "vod/film", false, 0, false, 0};
  expect_same(round_trip(absent), absent);
}

TEST(WireRoundTrip, FlussonicSession) {
  auto x = wire_fs("f-9", false);
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, PlaybackSession) {
  auto x = wire_session("d-1", 3);
  expect_same(round_trip(x), x);
  x.has_ended_at = false;
  x.ended_at_ms = 0;
  x.has_reason = false;
  x.reason = 0;
  x.flussonic.clear();
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, AccountSettings) {
  w::account_settings x{"acc-1", 7, true};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, AccountView) {
  auto x = wire_view();
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, LinkRequest) {
  w::link_request x{"acc-1", "dev-1", wire_content(), 12, "203.0.113.5"};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, LinkOutcome) {
  w::link_outcome x;
  x.result = 1;
  x.message = "max_sessions_reached";
  x.session = wire_session("d-0", 1);
  x.url = "http://s/catchup/ch1/index-1767225600-5400.m3u8?token=t";
  x.token = "t";
  x.expires_at_ms = 1767226200000;
  x.max_sessions = 2;
  x.holders = {wire_session("d-1", 0), wire_session("d-2", 1)};
  x.would_deny = true;
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, EndRequest) {
  w::end_request x{"acc-1", "dev-1", true};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, EndResult) {
  for (int32_t r : {0, 1, 2}) {
    w::end_result x{r};
    expect_same(round_trip(x), x);
  }
}

TEST(WireRoundTrip, AccountAnswer) {
  w::account_answer x{true, wire_view()};
  expect_same(round_trip(x), x);
  w::account_answer unavailable{false, {}};
  expect_same(round_trip(unavailable), unavailable);
}

TEST(WireRoundTrip, AuthRequest) {
  w::auth_request x{"acc-1", "dev-1", "live/ch2", "f-1", "192.0.2.44", false, 61, 4096,
                    1767225000000};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, AuthOutcome) {
  for (int32_t r = 0; r <= 6; ++r) {
    for (bool would_deny : {false, true}) {
      w::auth_outcome x{r, would_deny};
      expect_same(round_trip(x), x);
    }
  }
}

TEST(WireRoundTrip, PlayReport) {
  auto x = wire_report(3);
  expect_same(round_trip(x), x);
  x.has_at = false;
  x.at_ms = 0;
  x.has_token_issued_at = false;
  x.token_issued_at_ms = 0;
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, PlayEventAndBatch) {
  w::play_event x{"acc-1", "dev-1", wire_report(1), 991};
  expect_same(round_trip(x), x);
  std::vector<w::play_event> batch = {x, {"acc-2", "dev-7", wire_report(4)},
                                      {"acc-3", "dev-8", wire_report(0)}};
  expect_same(round_trip(batch), batch);
}

TEST(WireRoundTrip, SeenSession) {
  w::seen_session x{"dev-1", wire_report(4)};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, SyncRequest) {
  w::sync_request x{"acc-1", 11,
                    {{"dev-1", wire_report(4)}, {"dev-2", wire_report(4)}, {"dev-3", wire_report(4)}},
                    {"sess-a", "", "sess \"c\""},
                    1767225601000};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, SyncSummary) {
  w::sync_summary x{3, 5, 7};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, ClosedByStreamer) {
  w::closed_by_streamer x{"acc-1", "dev-1", {"f-1", "f-2", "f-3"}};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, ForgetRequest) {
  w::forget_request x{"acc-1", 86400000};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, KillOrderAndVector) {
  w::kill_order x{11, "acc-1", "dev-1", "f-1", "tok"};
  expect_same(round_trip(x), x);
  std::vector<w::kill_order> xs = {x, {12, "acc-2", "dev-2", "", "tok2"}, {13, "acc-3", "d", "f", ""}};
  expect_same(round_trip(xs), xs);
}

TEST(WireRoundTrip, JobRequest) {
  w::job_request x{1, 250, {11, 12, 13}, true, 3600000};
  expect_same(round_trip(x), x);
  w::job_request plain{0, 0, {}, false, 0};
  expect_same(round_trip(plain), plain);
}

TEST(WireRoundTrip, StreamerRun) {
  auto x = wire_run(11);
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, JobReport) {
  w::job_report x{1, false, "one failed", {wire_run(11), wire_run(12), wire_run(13)}, 99};
  expect_same(round_trip(x), x);
}

TEST(WireRoundTrip, NodeHello) {
  w::node_hello x{"node-b", w::protocol_version, 128, "10.1.2.3:8443"};
  expect_same(round_trip(x), x);
  // 3: play batches arrive journaled (migration 011); 4: a sync comes in
  // parts, the last one with the ids listed (sync_request.listed)
  EXPECT_EQ(w::protocol_version, 4);
}

// --- conversions with the actor-side types ----------------------------------------------------

TEST(WireConvert, TimeIsMillisecondsSinceTheEpoch) {
  EXPECT_EQ(w::to_wire_ms(sys_time{}), 0);
  EXPECT_EQ(w::to_wire_ms(at_ms(1767225600123)), 1767225600123);
  EXPECT_EQ(w::from_wire_ms(1767225600123), at_ms(1767225600123));
  EXPECT_EQ(w::from_wire_ms(-1500), at_ms(-1500));
  // Sub-millisecond precision is dropped (floor, also before the epoch).
  EXPECT_EQ(w::to_wire_ms(at_ms(5) + std::chrono::microseconds(999)), 5);
  EXPECT_EQ(w::to_wire_ms(at_ms(-5) - std::chrono::microseconds(1)), -6);
}

TEST(WireConvert, TimeFromTheWireNeverOverflows) {
  // int64 milliseconds hold more than sys_time (nanoseconds) does: clamp.
  const auto hi = w::from_wire_ms(INT64_MAX);
  const auto lo = w::from_wire_ms(INT64_MIN);
  EXPECT_GT(hi, at_ms(1767225600000));
  EXPECT_LT(lo, at_ms(-1767225600000));
  EXPECT_LE(hi, sys_time::max());
  EXPECT_GE(lo, sys_time::min());
  EXPECT_EQ(w::from_wire_ms(w::to_wire_ms(hi)), hi);
}

TEST(WireConvert, PlaybackSessionEveryStatusTypeAndReason) {
  for (auto st : all_statuses)
    for (auto type : all_content_types)
      for (auto reason : all_reasons) {
        auto x = session("d-1", st, type, reason);
        auto back = w::from_wire(round_trip(w::to_wire(x)));
        ASSERT_TRUE(back.has_value());
        expect_same(*back, x);
      }
  // Absent optionals stay absent.
  auto x = session("d-1", session_status::active, content_type::live, std::nullopt);
  x.content.start.reset();
  x.content.duration.reset();
  auto wx = w::to_wire(x);
  EXPECT_FALSE(wx.has_reason);
  EXPECT_FALSE(wx.has_ended_at);
  EXPECT_FALSE(wx.content.has_start);
  EXPECT_FALSE(wx.content.has_duration);
  auto back = w::from_wire(round_trip(wx));
  ASSERT_TRUE(back.has_value());
  expect_same(*back, x);
}

TEST(WireConvert, LinkRequest) {
  for (auto type : all_content_types) {
    actors::link_request x{"acc-1", "dev-1", {type, "s/1", 100, 200}, 12, "203.0.113.5"};
    auto back = w::from_wire(round_trip(w::to_wire(x)));
    ASSERT_TRUE(back.has_value());
    expect_same(*back, x);
  }
  actors::link_request none{"acc-1", "dev-1", {content_type::live, "s", {}, {}}, 0, ""};
  auto back = w::from_wire(round_trip(w::to_wire(none)));
  ASSERT_TRUE(back.has_value());
  expect_same(*back, none);
}

TEST(WireConvert, LinkOutcomeEveryResult) {
  for (auto r : all_link_results) {
    actors::link_outcome x;
    x.result = r;
    x.message = "m";
    x.session = session("d-0", session_status::pending, content_type::npvr, std::nullopt);
    x.url = "http://s/u";
    x.token = "t";
    x.expires_at = at_ms(1767226200000);
    x.max_sessions = 2;
    x.holders = {session("d-1", session_status::active, content_type::live, std::nullopt),
                 session("d-2", session_status::pending, content_type::vod, std::nullopt)};
    x.would_deny = r == actors::link_result::approved;
    auto back = w::from_wire(round_trip(w::to_wire(x)));
    ASSERT_TRUE(back.has_value());
    expect_same(*back, x);
  }
}

TEST(WireConvert, EndResultEveryValue) {
  for (auto r : {actors::end_result::ended, actors::end_result::not_found,
                 actors::end_result::unavailable}) {
    auto back = w::from_wire(round_trip(w::to_wire(r)));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, r);
  }
}

TEST(WireConvert, AccountSettingsAndView) {
  account_settings s{"acc-1", 6, true};
  auto sb = w::from_wire(round_trip(w::to_wire(s)));
  expect_same(sb, s);

  actors::account_view v;
  v.found = true;
  v.settings = s;
  v.sessions = {session("d-1", session_status::active, content_type::live, std::nullopt),
                session("d-2", session_status::killed, content_type::catchup,
                        end_reason::killed_by_operator)};
  auto vb = w::from_wire(round_trip(w::to_wire(v)));
  ASSERT_TRUE(vb.has_value());
  expect_same(*vb, v);
}

TEST(WireConvert, AccountAnswerFoundAndUnavailable) {
  actors::account_view v;
  v.found = true;
  v.settings = {"acc-1", 2, false};
  v.sessions = {session("d-1", session_status::ended, content_type::radio, end_reason::stale)};
  auto found = w::to_wire(std::optional<actors::account_view>(v));
  EXPECT_TRUE(found.available);
  auto back = w::from_wire(round_trip(found));
  ASSERT_TRUE(back.has_value());
  expect_same(*back, v);

  // A view of an account nobody knows is still an answer (found = false).
  actors::account_view empty;
  empty.settings.account_id = "acc-2";
  auto not_found = w::from_wire(round_trip(w::to_wire(std::optional<actors::account_view>(empty))));
  ASSERT_TRUE(not_found.has_value());
  EXPECT_FALSE(not_found->found);
  EXPECT_EQ(not_found->settings.account_id, "acc-2");

  auto unavailable = w::to_wire(std::optional<actors::account_view>{});
  EXPECT_FALSE(unavailable.available);
  EXPECT_FALSE(w::from_wire(round_trip(unavailable)).has_value());
}

TEST(WireConvert, AuthRequestAndEveryOutcome) {
  actors::auth_request x{"acc-1", "dev-1", "live/ch2", "f-1", "192.0.2.44", false, 61, 4096,
                         at_ms(1767225000000)};
  expect_same(w::from_wire(round_trip(w::to_wire(x))), x);
  for (auto r : all_auth_results) {
    auto back = w::from_wire(round_trip(w::to_wire(actors::auth_outcome{r, true})));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->result, r);
    EXPECT_TRUE(back->would_deny);
  }
}

TEST(WireConvert, PlayReportEveryKindWithAndWithoutTimes) {
  for (auto k : all_play_kinds)
    for (bool with_times : {true, false}) {
      auto x = report(k, with_times);
      auto back = w::from_wire(round_trip(w::to_wire(x)));
      ASSERT_TRUE(back.has_value());
      expect_same(*back, x);
    }
}

TEST(WireConvert, PlayEventCarriesItsAccountAndDevice) {
  auto x = report(kind::started, true);
  auto ev = round_trip(w::to_wire("acc-1", "dev-1", x));
  EXPECT_EQ(ev.account_id, "acc-1");
  EXPECT_EQ(ev.device_id, "dev-1");
  auto back = w::from_wire(ev.report);
  ASSERT_TRUE(back.has_value());
  expect_same(*back, x);
}

TEST(WireConvert, SyncRequestAndSummary) {
  w::seen_list seen = {{"dev-1", report(kind::listed, true)},
                       {"dev-2", report(kind::listed, false)},
                       {"dev-1", report(kind::listed, true)}};
  seen[2].second.session_id = "f-2";
  auto wx = round_trip(w::to_wire("acc-1", 11, seen, {"f-0", "f-9"}, at_ms(1767225601000)));
  EXPECT_EQ(wx.account_id, "acc-1");
  EXPECT_EQ(wx.streamer_id, 11);
  EXPECT_EQ(wx.listed, (std::vector<std::string>{"f-0", "f-9"}));
  // A page's part (nothing gone yet) keeps its zero time across the wire.
  EXPECT_EQ(w::from_wire_ms(round_trip(w::to_wire("acc-1", 11, seen, {}, sys_time{})).listed_at_ms),
            sys_time{});
  EXPECT_EQ(w::from_wire_ms(wx.listed_at_ms), at_ms(1767225601000));
  auto back = w::from_wire(wx.seen);
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), seen.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ((*back)[i].first, seen[i].first);
    expect_same((*back)[i].second, seen[i].second);
  }

  struct summary {
    int adopted = 0;
    int ended = 0;
    int killed = 0;
  };
  auto s = w::summary_from_wire<summary>(round_trip(w::summary_to_wire(summary{2, 4, 6})));
  EXPECT_EQ(s.adopted, 2);
  EXPECT_EQ(s.ended, 4);
  EXPECT_EQ(s.killed, 6);
}

TEST(WireConvert, KillOrders) {
  std::vector<actors::kill_order> xs = {{11, "acc-1", "dev-1", "f-1", "tok"},
                                        {12, "acc-2", "dev-2", "", "tok2"}};
  auto back = w::from_wire(round_trip(w::to_wire(xs)));
  expect_same(back, xs);
}

TEST(WireConvert, JobRequestEveryKind) {
  for (auto k : all_job_kinds) {
    actors::job_request x;
    x.what = k;
    x.batch_size = 250;
    x.streamer_ids = {11, 12};
    x.timeout = std::chrono::milliseconds(3600000);
    auto back = w::from_wire(round_trip(w::to_wire(x)));
    ASSERT_TRUE(back.has_value());
    expect_same(*back, x);
    x.timeout.reset();
    x.streamer_ids.clear();
    back = w::from_wire(round_trip(w::to_wire(x)));
    ASSERT_TRUE(back.has_value());
    expect_same(*back, x);
  }
}

TEST(WireConvert, JobReportEveryKind) {
  for (auto k : all_job_kinds) {
    actors::job_report x;
    x.what = k;
    x.ok = false;
    x.error = "e";
    x.streamers = {{11, false, "down", 1, 2, 3, 4, 5, 6}, {12, true, "", 7, 8, 9, 10, 11, 12}};
    x.cleared = 42;
    auto back = w::from_wire(round_trip(w::to_wire(x)));
    ASSERT_TRUE(back.has_value());
    expect_same(*back, x);
  }
}

// --- integers from the wire that no enum value has -----------------------------------------

TEST(WireEnums, UnknownValuesAreRejected) {
  for (int32_t v : bad_enum_values) {
    SCOPED_TRACE(v);
    EXPECT_FALSE(w::content_type_from_wire(v));
    EXPECT_FALSE(w::session_status_from_wire(v));
    EXPECT_FALSE(w::end_reason_from_wire(v));
    EXPECT_FALSE(w::link_result_from_wire(v));
    EXPECT_FALSE(w::end_result_from_wire(v));
    EXPECT_FALSE(w::auth_result_from_wire(v));
    EXPECT_FALSE(w::play_kind_from_wire(v));
    EXPECT_FALSE(w::job_kind_from_wire(v));
  }
  // Just past the last value of each.
  EXPECT_FALSE(w::content_type_from_wire(6));
  EXPECT_FALSE(w::session_status_from_wire(4));
  EXPECT_FALSE(w::end_reason_from_wire(7));
  EXPECT_FALSE(w::link_result_from_wire(5));
  EXPECT_FALSE(w::end_result_from_wire(3));
  EXPECT_FALSE(w::auth_result_from_wire(9));
  EXPECT_FALSE(w::play_kind_from_wire(5));
  EXPECT_FALSE(w::job_kind_from_wire(3));
}

TEST(WireEnums, EveryKnownValueIsAccepted) {
  for (auto e : all_content_types) EXPECT_EQ(w::content_type_from_wire(static_cast<int32_t>(e)), e);
  for (auto e : all_statuses) EXPECT_EQ(w::session_status_from_wire(static_cast<int32_t>(e)), e);
  for (auto e : all_reasons) EXPECT_EQ(w::end_reason_from_wire(static_cast<int32_t>(e)), e);
  for (auto e : all_link_results) EXPECT_EQ(w::link_result_from_wire(static_cast<int32_t>(e)), e);
  for (auto e : all_auth_results) EXPECT_EQ(w::auth_result_from_wire(static_cast<int32_t>(e)), e);
  for (auto e : all_play_kinds) EXPECT_EQ(w::play_kind_from_wire(static_cast<int32_t>(e)), e);
  for (auto e : all_job_kinds) EXPECT_EQ(w::job_kind_from_wire(static_cast<int32_t>(e)), e);
}

TEST(WireEnums, AStructWithAnUnknownValueIsRejectedAsAWhole) {
  for (int32_t v : bad_enum_values) {
    SCOPED_TRACE(v);
    EXPECT_FALSE(w::from_wire(w::end_result{v}));
    EXPECT_FALSE(w::from_wire(w::auth_outcome{v}));

    auto outcome = round_trip(w::to_wire(actors::link_outcome{}));
    outcome.result = v;
    EXPECT_FALSE(w::from_wire(outcome));

    // A bad enum nested deep inside: a holder's content type, status, reason.
    auto good = w::to_wire(actors::link_outcome{});
    good.holders = {wire_session("d-1", 1), wire_session("d-2", 1)};
    ASSERT_TRUE(w::from_wire(good));
    auto bad = good;
    bad.holders[1].content.type = v;
    EXPECT_FALSE(w::from_wire(bad));
    bad = good;
    bad.holders[1].status = v;
    EXPECT_FALSE(w::from_wire(bad));
    bad = good;
    bad.session.reason = v;
    bad.session.has_reason = true;
    EXPECT_FALSE(w::from_wire(bad));

    w::link_request req{"a", "d", wire_content(), 0, ""};
    req.content.type = v;
    EXPECT_FALSE(w::from_wire(req));

    auto answer = w::account_answer{true, wire_view()};
    ASSERT_TRUE(w::from_wire(answer));
    answer.view.sessions[0].status = v;
    EXPECT_FALSE(w::from_wire(answer));  // answered as unavailable

    EXPECT_FALSE(w::from_wire(wire_report(v)));
    std::vector<w::seen_session> seen = {{"d-1", wire_report(4)}, {"d-2", wire_report(v)}};
    EXPECT_FALSE(w::from_wire(seen));

    EXPECT_FALSE(w::from_wire(w::job_request{v, 0, {}, false, 0}));
    EXPECT_FALSE(w::from_wire(w::job_report{v, true, "", {}, 0}));
  }
}

TEST(WireEnums, AReasonFlaggedAbsentIsIgnored) {
  auto s = wire_session("d-1", 1);
  s.has_reason = false;
  s.reason = INT32_MAX;
  auto back = w::from_wire(s);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->reason.has_value());
}

// --- registration --------------------------------------------------------------------------

TEST(WireRegistration, SelfTestPassesWithAddWireTypes) {
  test_system sys(true);
  EXPECT_EQ(w::wire_self_test(*sys), std::vector<std::string>{});
}

TEST(WireRegistration, SelfTestFailsEveryTypeWhenNothingIsRegistered) {
  test_system sys(false);
  auto failed = w::wire_self_test(*sys);
  ASSERT_EQ(static_cast<int>(failed.size()), block_size);
  EXPECT_EQ(failed.front(), "maxsess::wire::content_ref");
  EXPECT_EQ(failed.back(), "maxsess::wire::node_hello");
}

TEST(WireRegistration, AnUnregisteredTypeFailsTheMessageRoundTrip) {
  test_system sys(true);
  auto why = w::message_round_trip(*sys, caf::make_message(wire_test::unregistered{42}));
  EXPECT_NE(why, "");
  // The same value on its own serializes fine: only the registration is missing.
  wire_test::unregistered x{42};
  EXPECT_EQ(round_trip(x).a, 42);
}

TEST(WireRegistration, MessagesAsTheActorsSendThem) {
  test_system sys(true);
  // (atom, wire struct) and (atom, plain values) as requests look on the wire.
  EXPECT_EQ(w::message_round_trip(
                *sys, caf::make_message(end_atom::value, w::end_request{"a", "d", true})),
            "");
  EXPECT_EQ(w::message_round_trip(*sys, caf::make_message(get_atom::value, std::string("a"))), "");
  // DELETE /api/v1/accounts/{id} on the owner node, and its answer.
  EXPECT_EQ(w::message_round_trip(*sys, caf::make_message(del_atom::value, std::string("a"))), "");
  EXPECT_EQ(w::message_round_trip(*sys, caf::make_message(w::to_wire(maxsess::actors::end_result::not_found))), "");
  EXPECT_EQ(w::message_round_trip(
                *sys, caf::make_message(kills_atom::value,
                                        std::vector<w::kill_order>{{1, "a", "d", "s", "t"}})),
            "");
  EXPECT_EQ(w::message_round_trip(
                *sys, caf::make_message(hook_atom::value,
                                        std::vector<w::play_event>{{"a", "d", wire_report(2)}})),
            "");
  EXPECT_EQ(w::message_round_trip(*sys, caf::make_message(w::node_hello{"n", 1, 64, "h:1"})), "");
  // The content survives, not only the types.
  std::vector<char> buf;
  {
    caf::binary_serializer sink(*sys, buf);
    auto msg = caf::make_message(sync_atom::value,
                                 w::sync_request{"acc-1", 11, {{"d-1", wire_report(4)}}, {"s-1"}, 99});
    ASSERT_FALSE(sink(msg));
  }
  caf::message out;
  caf::binary_deserializer source(*sys, buf);
  ASSERT_FALSE(source(out));
  ASSERT_TRUE((out.match_elements<caf::atom_value, w::sync_request>()));
  const auto& got = out.get_as<w::sync_request>(1);
  expect_same(got, w::sync_request{"acc-1", 11, {{"d-1", wire_report(4)}}, {"s-1"}, 99});
}
