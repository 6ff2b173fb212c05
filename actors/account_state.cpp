#include "actors/account_state.hpp"

#include "actors/auth_board.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_set>

namespace maxsess::actors {

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

bool time_shifted(const content_ref& c) {
  return (c.type == content_type::timeshift || c.type == content_type::catchup ||
          c.type == content_type::npvr) &&
         c.start && c.duration;
}

// A streamer whose sessions count towards its load: live sessions only.
int64_t live_streamer(const playback_session* s) {
  return s != nullptr && holds_slot(s->status) ? s->streamer_id : 0;
}

// Whether a link issued at `issued` predates a session started at
// `started`, to the millisecond (what a token carries; maxsess::issued_at
// makes an old whole-second token as late as it can be). The device's own
// link is issued in the same millisecond its session starts.
bool issued_before(sys_time issued, sys_time started) { return to_unix_ms(issued) < to_unix_ms(started); }

// Securetoken links allow a little clock skew between us and the streamer.
constexpr auto securetoken_skew = std::chrono::minutes(5);

}  // namespace

const char* to_string(playback_mode m) { return m == playback_mode::shadow ? "shadow" : "enforce"; }

const char* to_string(shadow_note::kind k) {
  return k == shadow_note::kind::would_kill ? "would_kill" : "would_deny";
}

std::string build_link_url(const streamer& s, const content_ref& c, const std::string& token) {
  std::string url = s.link_template;
  if (url.empty()) {
    url = time_shifted(c) ? "{url}/{stream}/index-{start}-{duration}.m3u8?token={token}"
                          : "{url}/{stream}/index.m3u8?token={token}";
  }
  std::string base = s.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  replace_all(url, "{url}", base);
  replace_all(url, "{stream}", c.stream);
  replace_all(url, "{start}", c.start ? std::to_string(*c.start) : std::string{});
  replace_all(url, "{duration}", c.duration ? std::to_string(*c.duration) : std::string{});
  replace_all(url, "{token}", token);  // last: a token never holds braces
  return url;
}

// One per account in memory (a quarter-million on a node holding a million
// sessions): 192 bytes is mimalloc's size class it fits; the next is 224
// (docs/performance.md, "Twentieth round").
static_assert(sizeof(account_state) <= 192, "account_state outgrew its allocation size class");

account_state::account_state(std::string account_id, int shard, int64_t epoch,
                             decision_settings settings, const link_signer& signer,
                             streamer_directory& streamers, std::string fence_owner)
    : account_state(std::move(account_id), shard, epoch,
                    std::make_shared<const account_common>(
                        account_common{std::move(settings), signer, streamers, std::move(fence_owner)})) {}

account_state::account_state(std::string account_id, int shard, int64_t epoch,
                             std::shared_ptr<const account_common> common)
    : account_id_(std::move(account_id)), shard_(shard), epoch_(epoch), common_(std::move(common)) {}

account_state::~account_state() {
  for (auto& s : sessions_) common_->streamers.add_load(live_streamer(&s), -1);
}

void account_state::load(const storage::account_snapshot& snap, sys_time now,
                         std::vector<storage::write_op>& writes) {
  for (auto& s : sessions_) common_->streamers.add_load(live_streamer(&s), -1);
  sessions_.clear();
  settings_ = snap.settings;
  for (auto& s : snap.sessions) {
    auto& mine = sessions_[s.device_id] = s;
    common_->streamers.add_load(live_streamer(&mine), +1);
  }
  expire(now, writes);
}

int64_t account_state::max_sessions() const {
  return settings_ ? settings_->max_sessions : cfg().default_max_sessions;
}

bool account_state::counts(const playback_session& s) const {
  bool account_exempt = settings_ && settings_->exempt;
  return cfg().enabled && !account_exempt && !s.exempt && !s.over_limit && holds_slot(s.status) &&
         is_counted(s.content.type);
}

shadow_note account_state::note(shadow_note::kind k, const std::string& device_id, const char* reason) const {
  shadow_note n;
  n.what = k;
  n.device_id = device_id;
  n.reason = reason;
  n.max_sessions = max_sessions();
  for (auto* h : slot_holders(device_id)) n.holders.push_back(h->device_id);
  return n;
}

std::vector<const playback_session*> account_state::slot_holders(
    const std::string& except_device) const {
  std::vector<const playback_session*> out;
  for (auto& s : sessions_)
    if (s.device_id != except_device && counts(s)) out.push_back(&s);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) {
    return a->started_at != b->started_at ? a->started_at < b->started_at
                                          : a->device_id < b->device_id;
  });
  return out;
}

const playback_session* account_state::find(const std::string& device_id) const {
  auto i = sessions_.find(device_id);
  return i == sessions_.end() ? nullptr : &*i;
}

void account_state::persist(const playback_session& s, std::vector<storage::write_op>& writes) {
  writes.push_back(storage::write_op::of(storage::session_upsert{s, shard_, epoch_, common_->fence_owner}));
  // The row carries the latest progress too.
  if (!progress_.empty() && unmark_progress(s.device_id) && progress_.empty()) progress_due_.reset();
}

bool account_state::mark_progress(const std::string& device_id) {
  if (std::find(progress_.begin(), progress_.end(), device_id) != progress_.end()) return false;
  progress_.push_back(device_id);
  return true;
}

bool account_state::unmark_progress(const std::string& device_id) {
  auto i = std::find(progress_.begin(), progress_.end(), device_id);
  if (i == progress_.end()) return false;
  progress_.erase(i);
  return true;
}

void account_state::record_event(audit_kind kind, const std::string& device_id, std::string reason,
                                 const playback_session* subject, sys_time now,
                                 std::vector<storage::write_op>& writes) {
  audit_event ev;
  ev.account_id = account_id_;
  ev.device_id = device_id;
  ev.at = now;
  ev.kind = kind;
  ev.reason = std::move(reason);
  ev.node = cfg().node_id;
  ev.max_sessions = max_sessions();
  if (subject != nullptr) {
    ev.stream = subject->content.stream;
    ev.streamer_id = subject->streamer_id;
    ev.client_ip = subject->client_ip;
  }
  for (auto* h : slot_holders(device_id)) ev.holders.push_back(holder_of(*h));
  writes.push_back(storage::write_op::of(storage::event_insert{std::move(ev), shard_, epoch_, common_->fence_owner}));
}

void account_state::record_auth_denial(const playback_session& s, const auth_request& req,
                                       std::string reason, sys_time now,
                                       std::vector<storage::write_op>& writes) {
  record_event(audit_kind::denied, s.device_id, std::move(reason), &s, now, writes);
  auto& ev = writes.back().event().event;
  ev.stream = req.stream;  // what Flussonic was asked to play, from where
  ev.client_ip = req.ip;
}

void account_state::record_play_kill(const std::string& device_id, const play_report& r,
                                     std::string reason, sys_time now,
                                     std::vector<storage::write_op>& writes) {
  record_event(audit_kind::killed, device_id, std::move(reason), nullptr, now, writes);
  auto& ev = writes.back().event().event;
  ev.stream = r.stream;
  ev.streamer_id = r.streamer_id;
  ev.client_ip = r.ip;
}

void account_state::flush_progress(std::vector<storage::write_op>& writes) {
  auto devices = std::move(progress_);
  progress_.clear();
  progress_due_.reset();
  std::sort(devices.begin(), devices.end());  // in device order, as the set gave them
  for (const auto& device : devices)
    if (auto it = sessions_.find(device); it != sessions_.end()) persist(*it, writes);
}

void account_state::end(playback_session& s, session_status st, end_reason why, sys_time now) {
  common_->streamers.add_load(live_streamer(&s), -1);
  s.status = st;
  s.reason = why;
  s.ended_at = now;
  s.updated_at = now;
  // A killed session's Flussonic sessions stay open until the streamer
  // confirms they are gone: that is how clear knows the kill took effect.
  if (st == session_status::ended)
    for (auto& f : s.flussonic) f.open = false;
}

link_outcome account_state::request_link(const link_request& req, sys_time now,
                                         std::vector<storage::write_op>& writes) {
  expire(now, writes);
  link_outcome out;
  auto it = sessions_.find(req.device_id);
  playback_session* existing = it == sessions_.end() ? nullptr : &*it;
  bool account_exempt = settings_ && settings_->exempt;

  // The table of PRODUCT.md §2. A device that already holds a counted slot
  // keeps it (zapping, reconnect). A device whose live session is not counted
  // (radio) asking for counted content needs a free slot like a new one.
  bool wants_slot = cfg().enabled && !account_exempt && is_counted(req.content.type);
  bool holds = existing != nullptr && counts(*existing);
  int64_t limit = max_sessions();
  // Shadow: what enforce denies is approved as an over-limit session, which
  // never counts (a device whose over-limit session asks again is decided
  // afresh: counted once there is room, as enforce would approve it then).
  std::vector<const playback_session*> would_deny_holders;
  bool over_limit = false;
  if (wants_slot && !holds && limit != 0) {
    auto holders = slot_holders(req.device_id);
    if (static_cast<int64_t>(holders.size()) >= limit) {
      if (!shadow()) {
        out.result = link_result::denied;
        out.message = "You have reached the maximum number of playback sessions";
        out.max_sessions = limit;
        for (auto* h : holders) out.holders.push_back(*h);
        record_event(audit_kind::denied, req.device_id, "max_sessions_reached", nullptr, now, writes);
        auto& ev = writes.back().event().event;
        ev.stream = req.content.stream;
        ev.streamer_id = req.streamer_id;
        ev.client_ip = req.client_ip;
        return out;
      }
      over_limit = true;
      would_deny_holders = std::move(holders);
    }
  }

  auto pick = common_->streamers.pick(req.streamer_id);
  if (!pick.chosen) {
    if (pick.error == streamer_directory::pick_error::unknown) {
      out.result = link_result::unknown_streamer;
      out.message = "streamer " + std::to_string(req.streamer_id) + " is not registered";
    } else {
      out.result = link_result::no_streamer;
      out.message = req.streamer_id != 0
                        ? "streamer " + std::to_string(req.streamer_id) +
                              " cannot serve links (disabled, no url, or full)"
                        : "no streamer can serve links (none enabled with a url and room)";
    }
    return out;
  }
  const streamer& st = *pick.chosen;

  sys_time expires = now + cfg().link_ttl;
  std::string token;
  if (st.mode == link_mode::securetoken) {
    auto start = to_unix_seconds(now - securetoken_skew);
    token = make_securetoken(req.content.stream, req.client_ip, start, to_unix_seconds(expires),
                             st.securetoken_secret, random_token_string(8));
  } else {
    token = common_->signer.sign(account_id_, req.device_id, req.content.stream, expires);
  }

  int64_t before = live_streamer(existing);
  playback_session& s = sessions_[req.device_id];
  if (existing == nullptr || !holds_slot(s.status)) {
    // A new device session (or a new one after an ended/killed one). The
    // device id is the record's key in sessions_ (session_table.hpp): kept.
    auto device_id = std::move(s.device_id);
    s = playback_session{};
    s.account_id = account_id_;
    s.device_id = std::move(device_id);
    s.status = session_status::pending;
    s.started_at = now;
    s.exempt = account_exempt;
  }
  s.content = req.content;
  s.streamer_id = st.id;
  s.client_ip = req.client_ip;
  s.token = token;
  s.updated_at = now;
  s.over_limit = over_limit;
  common_->streamers.add_load(before, -1);
  common_->streamers.add_load(live_streamer(&s), +1);
  persist(s, writes);

  if (over_limit) {
    out.would_deny = true;
    out.max_sessions = limit;
    for (auto* h : would_deny_holders) out.holders.push_back(*h);
  }
  out.result = link_result::approved;
  out.session = s;
  out.url = build_link_url(st, req.content, token);
  out.token = token;
  out.expires_at = expires;
  return out;
}

audit_event& account_state::record_shadow(shadow_note::kind k, const std::string& device_id, const char* reason,
                                          const playback_session* subject, sys_time now, side_effects& fx) {
  fx.shadow.push_back(note(k, device_id, reason));
  record_event(k == shadow_note::kind::would_kill ? audit_kind::would_kill : audit_kind::would_deny, device_id,
               reason, subject, now, fx.writes);
  return fx.writes.back().event().event;
}

link_outcome account_state::request_link(const link_request& req, sys_time now, side_effects& fx) {
  auto out = request_link(req, now, fx.writes);
  if (out.result == link_result::approved && out.would_deny)
    record_shadow(shadow_note::kind::would_deny, req.device_id, "max_sessions_reached", find(req.device_id), now, fx);
  return out;
}

end_result account_state::end_session(const std::string& device_id, bool kill, sys_time now,
                                      side_effects& fx) {
  expire(now, fx.writes);
  auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return end_result::not_found;
  auto& s = *it;
  if (!holds_slot(s.status)) return end_result::ended;  // already over: nothing to change
  if (kill) {
    kill_session(s, end_reason::killed_by_operator, now, fx);
    record_event(audit_kind::evicted, device_id, to_string(end_reason::killed_by_operator), &s, now,
                 fx.writes);
  } else {
    end(s, session_status::ended, end_reason::user, now);
    persist(s, fx.writes);
  }
  return end_result::ended;
}

// --- what the streamers report -------------------------------------------------

const char* to_string(auth_result r) {
  switch (r) {
    case auth_result::allow: return "allow";
    case auth_result::deny_killed: return "killed";
    case auth_result::deny_reused: return "reused";
    case auth_result::deny_limit: return "max_sessions_reached";
    case auth_result::deny_replaced: return "replaced";
    case auth_result::deny_stale_token: return "stale_token";
    case auth_result::unavailable: return "unavailable";
    case auth_result::deny_expired: return "token_expired";
    case auth_result::deny_unknown_session: return "unknown_session";
  }
  return "?";
}

namespace {

flussonic_session* find_flussonic(playback_session& s, const std::string& id) {
  for (auto& f : s.flussonic)
    if (f.id == id) return &f;
  return nullptr;
}

bool any_open(const playback_session& s) {
  for (auto& f : s.flussonic)
    if (f.open) return true;
  return false;
}

// How many Flussonic sessions a device row remembers: the open ones and the
// latest closed ones (a zapping box opens a new one per channel).
constexpr std::size_t max_flussonic_kept = 8;

void bind(playback_session& s, const std::string& id, const std::string& ip,
          const std::string& stream, sys_time now) {
  s.flussonic.push_back({id, ip, true, now, stream});
  while (s.flussonic.size() > max_flussonic_kept) {
    auto closed = std::find_if(s.flussonic.begin(), s.flussonic.end(), [](auto& f) { return !f.open; });
    if (closed == s.flussonic.end()) break;
    s.flussonic.erase(closed);
  }
}

}  // namespace

bool account_state::at_limit_without(const std::string& device_id) const {
  int64_t limit = max_sessions();
  return limit != 0 && static_cast<int64_t>(slot_holders(device_id).size()) >= limit;
}

playback_session& account_state::start_session(const std::string& device_id,
                                               const std::string& stream, content_type type,
                                               sys_time now) {
  auto& s = sessions_[device_id];
  int64_t before = live_streamer(&s);
  int64_t streamer_id = s.streamer_id;
  // The device id is the record's key in sessions_ (session_table.hpp):
  // kept, so a caller's device_id that named this record's own would not
  // be read after the reset.
  auto key = std::move(s.device_id);
  s = playback_session{};
  s.account_id = account_id_;
  s.device_id = std::move(key);
  s.status = session_status::active;
  s.content.type = type;
  s.content.stream = stream;
  s.streamer_id = streamer_id;
  s.started_at = now;
  s.updated_at = now;
  s.exempt = settings_ && settings_->exempt;
  common_->streamers.add_load(before, -1);
  common_->streamers.add_load(live_streamer(&s), +1);
  return s;
}

bool account_state::refresh(playback_session& s, const play_report& r, sys_time now) {
  bool changed = false;
  sys_time at = r.at ? std::min(*r.at, now) : now;
  if (at > s.updated_at) s.updated_at = at, changed = true;  // older never overwrites newer
  if (r.duration > s.duration_s) s.duration_s = r.duration, changed = true;
  if (r.bytes > s.bytes) s.bytes = r.bytes, changed = true;
  if (auto* f = find_flussonic(s, r.session_id); f && at > f->updated_at) f->updated_at = at, changed = true;
  if (s.status == session_status::pending) s.status = session_status::active, changed = true;
  return changed;
}

std::size_t account_state::auth_passes(sys_time now, std::vector<auth_pass>& out) const {
  std::size_t n = 0;
  auto add = [&](const std::string& device, const std::string& id, sys_time stale_at) {
    if (n == out.size()) out.emplace_back();
    auto& p = out[n++];
    p.device_id.assign(device);
    p.session_id.assign(id);
    p.stale_at = stale_at;
  };
  if (cfg().progress_write_delay.count() > 0) {
    for (auto& s : sessions_) {
      if (s.status != session_status::active) continue;
      const sys_time stale_at = s.updated_at + cfg().stale_after;
      if (now >= stale_at) continue;  // expire() ends it at the next look
      for (std::size_t i = 0; i < s.flussonic.size(); ++i) {
        const auto& f = s.flussonic[i];
        if (!f.open) continue;
        // authorize() looks at the first entry with the id: a later open one
        // behind a closed one of the same id is refused (replaced) there.
        bool first = true;
        for (std::size_t k = 0; k < i && first; ++k) first = s.flussonic[k].id != f.id;
        if (first) add(s.device_id, f.id, stale_at);
      }
    }
  }
  return n;
}

bool account_state::absorb_progress(const progress_note& n, sys_time now) {
  auto it = sessions_.find(n.device_id);
  if (it == sessions_.end()) return false;
  auto& s = *it;
  if (s.status != session_status::active || cfg().progress_write_delay.count() <= 0) return false;
  auto* f = find_flussonic(s, n.session_id);
  if (f == nullptr || !f->open) return false;
  play_report r;
  r.session_id = n.session_id;
  r.duration = n.duration;
  r.bytes = n.bytes;
  r.at = n.at;
  refresh(s, r, now);
  if (mark_progress(s.device_id) && !progress_due_) progress_due_ = now + cfg().progress_write_delay;
  return true;
}

bool account_state::from_an_earlier_link(const playback_session& s, const play_report& r) const {
  if (r.token.empty() || r.token == s.token) return false;
  // Our signed tokens say when they were issued (a zapping device's link for
  // another channel is newer than its session); securetokens are compared
  // as strings: only the device's current link opens new sessions.
  if (r.token_issued_at) return issued_before(*r.token_issued_at, s.started_at);
  return true;
}

void account_state::kill_session(playback_session& s, end_reason why, sys_time now,
                                 side_effects& fx) {
  bool ordered = false;
  for (auto& f : s.flussonic) {
    if (!f.open) continue;
    fx.kills.push_back({s.streamer_id, account_id_, s.device_id, f.id, s.token});
    ordered = true;
  }
  // Nothing bound yet (securetoken, sync-only): close whatever plays the token.
  if (!ordered && !s.token.empty())
    fx.kills.push_back({s.streamer_id, account_id_, s.device_id, {}, s.token});
  end(s, session_status::killed, why, now);
  persist(s, fx.writes);
}

void account_state::kill_over_limit(sys_time now, side_effects& fx) {
  int64_t limit = max_sessions();
  if (limit == 0) return;
  auto holders = slot_holders();  // oldest first
  if (static_cast<int64_t>(holders.size()) <= limit) return;
  // The audit names the sessions that were kept (the oldest `limit`).
  std::vector<audit_holder> kept;
  for (int64_t i = 0; i < limit; ++i) kept.push_back(holder_of(*holders[static_cast<std::size_t>(i)]));
  while (static_cast<int64_t>(holders.size()) > limit) {
    auto* newest = holders.back();
    holders.pop_back();
    auto& s = sessions_.at(newest->device_id);
    if (!shadow()) {
      kill_session(s, end_reason::killed_over_limit, now, fx);
      record_event(audit_kind::killed, s.device_id, to_string(end_reason::killed_over_limit), &s, now,
                   fx.writes);
      fx.writes.back().event().event.holders = kept;
      continue;
    }
    // Shadow: it plays on, over the limit and no longer counted, as if
    // enforce had killed it (so the next sync does not find it again).
    s.over_limit = true;
    persist(s, fx.writes);
    record_shadow(shadow_note::kind::would_kill, s.device_id, "max_sessions_reached", &s, now, fx).holders = kept;
  }
}

auth_outcome account_state::authorize(const auth_request& req, sys_time now, side_effects& fx) {
  expire(now, fx.writes);
  bool limiting = cfg().enabled && !(settings_ && settings_->exempt);
  auto it = sessions_.find(req.device_id);
  playback_session* s = it == sessions_.end() ? nullptr : &*it;
  play_report r;
  r.session_id = req.session_id;
  r.duration = req.duration;
  r.bytes = req.bytes;

  // No row at all: no link of ours is known for the device (a row lives
  // until its link expired or the session ended and was cleared). Nothing
  // could be bound to a streamer either, so nothing is started.
  if (s == nullptr) return {auth_result::deny_unknown_session};

  if (s->status == session_status::killed) return {auth_result::deny_killed};

  const bool known_session = find_flussonic(*s, req.session_id) != nullptr;
  // A link from before the device's current (or last) session — e.g. from
  // before a kill — is never bound again, whether Flussonic asks with
  // new_session or an old player goes on with update_session, and whether
  // that session is live or already over. Its own bound session is fine.
  if (!known_session && issued_before(req.token_issued_at, s->started_at))
    return {auth_result::deny_stale_token};

  // The expiry is not checked on update_session so that a long film is never
  // cut off (the HTTP layer checks it on new_session only). That holds for a
  // Flussonic session the device already had; an expired link never opens
  // another one, whatever the request_type says.
  if (!req.new_session && !known_session && now >= req.token_issued_at + cfg().link_ttl)
    return {auth_result::deny_expired};

  if (holds_slot(s->status)) {
    if (auto* f = find_flussonic(*s, req.session_id)) {
      if (!f->open) return {auth_result::deny_replaced};
      const bool progress_only = s->status == session_status::active;
      refresh(*s, r, now);
      if (progress_only && cfg().progress_write_delay.count() > 0) {
        // Nothing decided changed (the session was active, stays active,
        // same Flussonic session): the bulk of auth traffic. Its row is
        // written within progress_write_delay, with whatever came since,
        // instead of one durable write per check; a crash loses at most
        // that much progress (bytes, duration, last seen), never a decision.
        if (mark_progress(s->device_id) && !progress_due_)
          progress_due_ = now + cfg().progress_write_delay;
        return {auth_result::allow};
      }
      persist(*s, fx.writes);
      return {auth_result::allow};
    }
    bool reused = false;
    if (limiting) {
      for (auto& f : s->flussonic) {
        if (!f.open || f.stream != req.stream) continue;
        if (f.ip != req.ip) {
          // One token, one Flussonic session at a time (PRODUCT.md §2).
          if (!shadow()) {
            ++fx.over_limit_attempts;
            record_auth_denial(*s, req, to_string(auth_result::deny_reused), now, fx.writes);
            return {auth_result::deny_reused};
          }
          reused = true;  // shadow: both play, the row holds both
          break;
        }
      }
    }
    if (!reused)
      for (auto& f : s->flussonic)  // the same player reconnecting replaces its session
        if (f.open && f.stream == req.stream) f.open = false;
    bind(*s, req.session_id, req.ip, req.stream, now);
    s->content.stream = req.stream;
    refresh(*s, r, now);
    persist(*s, fx.writes);
    if (reused) {
      auto& ev = record_shadow(shadow_note::kind::would_deny, req.device_id, "reused", s, now, fx);
      ev.stream = req.stream;  // what Flussonic was asked to play, from where
      ev.client_ip = req.ip;
    }
    return {auth_result::allow, reused};
  }

  // No live session (the link's pending_ttl ran out, or the session ended):
  // decided afresh, like a new link request.
  bool over_limit = false;
  if (limiting && is_counted(s->content.type) && at_limit_without(req.device_id)) {
    if (!shadow()) {
      ++fx.over_limit_attempts;
      record_auth_denial(*s, req, to_string(auth_result::deny_limit), now, fx.writes);
      return {auth_result::deny_limit};
    }
    over_limit = true;
    auto& ev = record_shadow(shadow_note::kind::would_deny, req.device_id, "max_sessions_reached", s, now, fx);
    ev.stream = req.stream;
    ev.client_ip = req.ip;
  }
  content_type type = s->content.stream == req.stream ? s->content.type : content_type::live;
  std::string token = s->token;
  auto& ns = start_session(req.device_id, req.stream, type, now);
  ns.token = token;
  ns.client_ip = req.ip;
  ns.over_limit = over_limit;
  bind(ns, req.session_id, req.ip, req.stream, now);
  refresh(ns, r, now);
  persist(ns, fx.writes);
  return {auth_result::allow, over_limit};
}

void account_state::on_play(const std::string& device_id, const play_report& r, sys_time now,
                            side_effects& fx) {
  expire(now, fx.writes);
  bool limiting = cfg().enabled && !(settings_ && settings_->exempt);
  bool closed = r.what == play_report::kind::closed;
  auto it = sessions_.find(device_id);

  if (it == sessions_.end() || it->status == session_status::ended) {
    if (closed) {
      if (it != sessions_.end())
        if (auto* f = find_flussonic(*it, r.session_id); f && f->open) {
          f->open = false;
          persist(*it, fx.writes);
        }
      return;
    }
    // Playing with a maxsess token we have no live session for: adopted
    // (sync-only / securetoken deployments, a restart, a late first event),
    // or closed on the streamer when the account has no room for it, or
    // when it plays a link older than the device's last session.
    // Shadow: one at the limit is adopted as an over-limit session instead
    // (a link older than the device's last session is not a limit matter:
    // closed in either mode).
    bool stale = it != sessions_.end() && from_an_earlier_link(*it, r);
    bool full = !stale && limiting && at_limit_without(device_id);
    if (stale || (full && !shadow())) {
      ++fx.over_limit_attempts;
      fx.kills.push_back({r.streamer_id, account_id_, device_id, r.session_id, r.token});
      // An old link's player is closed by the rules of links, not the
      // limit: only the limit's kill is a decision worth recording.
      if (!stale) record_play_kill(device_id, r, to_string(end_reason::killed_over_limit), now, fx.writes);
      return;
    }
    if (full) {
      auto& ev = record_shadow(shadow_note::kind::would_kill, device_id, "max_sessions_reached", nullptr, now, fx);
      ev.stream = r.stream;  // what the streamer reported playing
      ev.streamer_id = r.streamer_id;
      ev.client_ip = r.ip;
    }
    content_type type = it != sessions_.end() && it->content.stream == r.stream
                            ? it->content.type
                            : content_type::live;
    auto& s = start_session(device_id, r.stream, type, now);
    if (r.streamer_id != 0 && r.streamer_id != s.streamer_id) {
      common_->streamers.add_load(s.streamer_id, -1);
      s.streamer_id = r.streamer_id;
      common_->streamers.add_load(s.streamer_id, +1);
    }
    s.token = r.token;
    s.client_ip = r.ip;
    s.over_limit = full;
    bind(s, r.session_id, r.ip, r.stream, now);
    refresh(s, r, now);
    persist(s, fx.writes);
    return;
  }

  auto& s = *it;
  auto* f = find_flussonic(s, r.session_id);
  if (s.status == session_status::killed) {
    if (closed) {
      if (f && f->open) {
        f->open = false;  // the kill took effect
        persist(s, fx.writes);
      }
    } else {
      // Still playing after a kill: close it again.
      if (!f) {
        bind(s, r.session_id, r.ip, r.stream, now);
        persist(s, fx.writes);
      }
      fx.kills.push_back({s.streamer_id, account_id_, device_id, r.session_id, s.token});
    }
    return;
  }

  // live (pending / active)
  if (closed) {
    if (f) {
      f->open = false;
      f->updated_at = now;
    }
    if (!any_open(s) && s.status == session_status::active) {
      if (f && !f->stream.empty() && f->stream != s.content.stream) {
        // Zapping: the old channel's session closed late while the device
        // already holds a link for the new one; it keeps its one slot.
        s.status = session_status::pending;
        s.updated_at = now;
      } else {
        end(s, session_status::ended, end_reason::flussonic_closed, now);
      }
    }
    persist(s, fx.writes);
    return;
  }
  if (!f) {
    if (from_an_earlier_link(s, r)) {
      // E.g. the player of a killed session still runs while the device
      // already has a new one: close it, never adopt it into the new one.
      fx.kills.push_back({r.streamer_id != 0 ? r.streamer_id : s.streamer_id, account_id_, device_id,
                          r.session_id, {}});
      return;
    }
    if (limiting) {
      for (auto& g : s.flussonic) {
        if (g.open && g.stream == r.stream && g.ip != r.ip) {
          // The same link plays from a second address (no auth check saw it).
          if (shadow()) {  // it plays on, bound like the first
            auto& ev = record_shadow(shadow_note::kind::would_kill, device_id, "reused", &s, now, fx);
            ev.client_ip = r.ip;  // the second address
            break;
          }
          ++fx.over_limit_attempts;
          record_play_kill(device_id, r, to_string(auth_result::deny_reused), now, fx.writes);
          fx.kills.push_back({r.streamer_id != 0 ? r.streamer_id : s.streamer_id, account_id_,
                              device_id, r.session_id, {}});
          return;
        }
      }
    }
    bind(s, r.session_id, r.ip, r.stream, now);
    refresh(s, r, now);
    persist(s, fx.writes);
    return;
  }
  // A report that changes nothing writes nothing: a sync lists every
  // playing session each time, and a session the streamer shows unchanged
  // must not cost a row write (memory and database agree: a failed write
  // reloads the account).
  // (A closed Flussonic session's late report is written at once: rare.)
  const bool progress_only = s.status == session_status::active && f->open;
  if (!refresh(s, r, now)) return;
  if (progress_only && cfg().progress_write_delay.count() > 0) {
    // An active session, bound to this Flussonic session already, reports
    // counters and "last seen": nothing decided. Its row is written within
    // progress_write_delay, coalesced like an auth check's progress (issue
    // 7: a row update per event was most of a webhook's cost). A webhook
    // event was journaled before it came here (migration 011), so its
    // answer stays durable; a sync's listing, like an auth check, may lose
    // that much progress in a crash, never a decision.
    if (mark_progress(s.device_id) && !progress_due_) progress_due_ = now + cfg().progress_write_delay;
    return;
  }
  persist(s, fx.writes);
}

void account_state::on_sync(int64_t streamer_id,
                            const std::vector<std::pair<std::string, play_report>>& seen,
                            const std::vector<std::string>& listed_before, sys_time listed_at,
                            sys_time now, side_effects& fx) {
  // Each listed session is usually one row to write: room for them at once
  // rather than a write op (a whole session each) moved on every growth.
  fx.writes.reserve(fx.writes.size() + seen.size());
  for (auto& [device, r] : seen) on_play(device, r, now, fx);
  // A part of a listing still running decides nothing more: a session gone
  // from the streamer still counts until the end says so, and a limit
  // judged before that would kill a real one in its place.
  if (listed_at == sys_time{}) return;
  end_unlisted(streamer_id, seen, listed_before, listed_at, now, fx);
  if (cfg().enabled && !(settings_ && settings_->exempt)) kill_over_limit(now, fx);
}

void account_state::end_unlisted(int64_t streamer_id,
                                 const std::vector<std::pair<std::string, play_report>>& seen,
                                 const std::vector<std::string>& listed_before, sys_time listed_at,
                                 sys_time now, side_effects& fx) {
  // An account lists a handful of sessions: a scan of the two lists costs
  // less than a set of copies (a node and a string each, issue 7). An
  // account with many (unlimited or exempt) gets a hash set of views.
  constexpr std::size_t scan_at_most = 32;
  std::unordered_set<std::string_view> many;
  if (seen.size() + listed_before.size() > scan_at_most) {
    many.reserve(seen.size() + listed_before.size());
    for (auto& [device, r] : seen) many.insert(r.session_id);
    for (auto& id : listed_before) many.insert(id);
  }
  auto is_listed = [&](const std::string& id) {
    if (!many.empty()) return many.count(id) > 0;
    for (auto& [device, r] : seen)
      if (r.session_id == id) return true;
    return std::find(listed_before.begin(), listed_before.end(), id) != listed_before.end();
  };
  for (auto& s : sessions_) {
    if (s.streamer_id != streamer_id || s.status == session_status::ended) continue;
    bool changed = false;
    for (auto& f : s.flussonic) {
      if (f.open && f.updated_at < listed_at && !is_listed(f.id)) {
        f.open = false;  // gone from the streamer (for a killed one: the kill took effect)
        changed = true;
      }
    }
    if (!changed) continue;
    if (s.status == session_status::active && !any_open(s))
      end(s, session_status::ended, end_reason::gone, now);
    persist(s, fx.writes);
  }
}

void account_state::on_closed_by_streamer(const std::string& device_id,
                                          const std::vector<std::string>& session_ids,
                                          sys_time now, side_effects& fx) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return;
  bool changed = false;
  for (auto& id : session_ids)
    if (auto* f = find_flussonic(*it, id); f && f->open) {
      f->open = false;
      f->updated_at = now;
      changed = true;
    }
  if (changed) persist(*it, fx.writes);
}

std::vector<std::string> account_state::clear(sys_time now, std::chrono::milliseconds timeout) {
  std::vector<std::string> gone;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    auto& s = *it;
    bool old = s.updated_at + timeout <= now;
    // A killed row also outlives its link (link_ttl): until then the row is
    // what refuses the killed token.
    bool killed_gone = s.status == session_status::killed && !any_open(s) &&
                       s.updated_at + std::max(timeout, cfg().link_ttl) <= now;
    if ((old && s.status == session_status::ended) || killed_gone) {
      gone.push_back(it->device_id);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

account_view account_state::view() const {
  account_view v;
  v.found = settings_.has_value() || !sessions_.empty();
  v.settings = settings_ ? *settings_ : account_settings{account_id_, cfg().default_max_sessions, false};
  v.settings.account_id = account_id_;
  for (auto& s : sessions_) v.sessions.push_back(s);
  return v;
}

std::size_t account_state::statuses(status_list& out) const {
  std::size_t n = 0;
  for (auto& s : sessions_) {
    if (n == out.size()) out.emplace_back();
    out[n].first.assign(s.device_id);
    out[n].second = s.status;
    ++n;
  }
  return n;
}

void account_state::put_settings(const account_settings& s,
                                 std::vector<storage::write_op>& writes) {
  settings_ = s;
  settings_->account_id = account_id_;
  writes.push_back(storage::write_op::of(storage::account_upsert{*settings_, shard_, epoch_, common_->fence_owner}));
}

end_result account_state::remove_account(sys_time now, side_effects& fx) {
  expire(now, fx.writes);
  if (!settings_ && sessions_.empty()) return end_result::not_found;
  // The same kill as ?kill=true, so whatever records a portal eviction
  // records these too. Exempt and radio sessions go as well: the
  // subscriber is gone, not over a limit.
  for (auto& s : sessions_)
    if (holds_slot(s.status)) {
      // Recorded before the kill, so the event's holders still show what
      // the account held when it was deleted.
      record_event(audit_kind::ended_by_admin, s.device_id, "account_deleted", &s, now, fx.writes);
      kill_session(s, end_reason::killed_by_operator, now, fx);
    }
  if (settings_) {
    fx.writes.push_back(storage::write_op::deleting(
        storage::account_upsert{account_settings{account_id_, 0, false}, shard_, epoch_, common_->fence_owner}));
    settings_.reset();
  }
  return end_result::ended;
}

int account_state::expire(sys_time now, std::vector<storage::write_op>& writes) {
  int changed = 0;
  if (progress_due_ && now >= *progress_due_) flush_progress(writes);
  // A session ends at the moment it was due, also when that was long ago
  // (the daemon was down, or the shard had no owner for a while).
  for (auto& s : sessions_) {
    if (s.status == session_status::pending && now >= s.updated_at + cfg().pending_ttl) {
      end(s, session_status::ended, end_reason::never_started, s.updated_at + cfg().pending_ttl);
    } else if (s.status == session_status::active && now >= s.updated_at + cfg().stale_after) {
      end(s, session_status::ended, end_reason::stale, s.updated_at + cfg().stale_after);
    } else {
      continue;
    }
    persist(s, writes);
    ++changed;
  }
  return changed;
}

std::optional<sys_time> account_state::next_deadline() const {
  std::optional<sys_time> next = progress_due_;
  for (auto& s : sessions_) {
    sys_time d;
    if (s.status == session_status::pending)
      d = s.updated_at + cfg().pending_ttl;
    else if (s.status == session_status::active)
      d = s.updated_at + cfg().stale_after;
    else
      continue;
    if (!next || d < *next) next = d;
  }
  return next;
}

bool account_state::has_live_sessions() const {
  for (auto& s : sessions_)
    if (holds_slot(s.status)) return true;
  return false;
}

}  // namespace maxsess::actors
