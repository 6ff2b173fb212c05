#include "storage/store.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

#include "storage/pq.hpp"
#include "storage/rows.hpp"
#include "storage/sql.hpp"
#include "storage/writes.hpp"

namespace maxsess::storage {

using namespace detail;

namespace {

// The cold loads' statements, prepared on each reader's connection: run for
// every batch of accounts loaded, they were parsed and planned per call
// (issue 7, links: ≈ 200 µs of PostgreSQL per batch, a tenth of its CPU).
constexpr const char* stmt_sessions_of_accounts = "maxsess_sessions_of_accounts";
constexpr const char* stmt_get_accounts = "maxsess_get_accounts";

std::vector<playback_session> query_sessions(connection& c, const std::string& account_id) {
  auto r = c.exec(sql_sessions_of_account, param_list().text(account_id));
  std::vector<playback_session> out;
  int n = PQntuples(r.get());
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    out.push_back(session_from_row(r.get(), i));
  return out;
}

}  // namespace

struct session_store::impl {
  explicit impl(const std::string& dsn) : conn(dsn) {}
  connection conn;
  // Reconnects a dropped connection before use; throws when it cannot.
  connection& ready() {
    conn.ensure();
    return conn;
  }
  // Reads are safe to repeat: one that failed on a dropped connection is
  // tried once more on a fresh one.
  template <class F>
  auto read(F&& f) -> decltype(f(conn)) {
    return with_reconnect(conn, std::forward<F>(f));
  }
};

session_store::session_store(const std::string& dsn) : impl_(std::make_unique<impl>(dsn)) {}
session_store::~session_store() = default;

account_snapshot session_store::load_account(const std::string& account_id) {
  account_snapshot snap;
  snap.settings = get_account(account_id);
  snap.sessions = sessions_of(account_id);
  return snap;
}

std::map<std::string, account_snapshot> session_store::load_accounts(const std::vector<std::string>& ids) {
  std::map<std::string, account_snapshot> out;
  for (auto& id : ids) out[id];  // unknown accounts: an empty snapshot (defaults)
  auto list = text_array(ids);
  auto rows = impl_->read([&](connection& c) {
    return c.exec_prepared(stmt_sessions_of_accounts, sql_sessions_of_accounts, param_list().text(list));
  });
  for (int i = 0, n = PQntuples(rows.get()); i < n; ++i) {
    auto s = session_from_row(rows.get(), i);
    auto account = s.account_id;
    out[account].sessions.push_back(std::move(s));
  }
  auto settings = impl_->read([&](connection& c) {
    return c.exec_prepared(stmt_get_accounts, sql_get_accounts, param_list().text(list));
  });
  for (int i = 0, n = PQntuples(settings.get()); i < n; ++i) {
    account_settings a;
    a.account_id = get_text(settings.get(), i, 0);
    a.max_sessions = get_int(settings.get(), i, 1);
    a.exempt = get_bool(settings.get(), i, 2);
    out[a.account_id].settings = std::move(a);
  }
  return out;
}

std::map<std::string, account_snapshot> session_store::load_live_accounts(int shard) {
  // A fold waits (lock_timeout) for the journal rows another fold deletes
  // and the rows a lane writes: when several shards are taken at once, try
  // again rather than load without it (the accounts would then load on
  // demand, with what the journal holds only in the rows at the next tick).
  for (int attempt = 1;; ++attempt) {
    try {
      fold_progress(std::chrono::milliseconds(0));
      break;
    } catch (const storage_error&) {
      if (attempt == 3) throw;
    }
  }
  std::map<std::string, account_snapshot> out;
  auto rows = impl_->read([&](connection& c) {
    return c.exec(sql_live_sessions_of_shard, param_list().integer(shard));
  });
  for (int i = 0, n = PQntuples(rows.get()); i < n; ++i) {
    auto s = session_from_row(rows.get(), i);
    auto account = s.account_id;
    out[account].sessions.push_back(std::move(s));
  }
  auto settings = impl_->read([&](connection& c) {
    return c.exec(sql_live_accounts_of_shard, param_list().integer(shard));
  });
  for (int i = 0, n = PQntuples(settings.get()); i < n; ++i) {
    account_settings a;
    a.account_id = get_text(settings.get(), i, 0);
    a.max_sessions = get_int(settings.get(), i, 1);
    a.exempt = get_bool(settings.get(), i, 2);
    auto j = out.find(a.account_id);
    if (j != out.end()) j->second.settings = std::move(a);
  }
  return out;
}

std::optional<account_settings> session_store::get_account(const std::string& account_id) {
  auto r = impl_->read(
      [&](connection& c) { return c.exec(sql_get_account, param_list().text(account_id)); });
  if (PQntuples(r.get()) == 0)
    return std::nullopt;
  account_settings a;
  a.account_id = get_text(r.get(), 0, 0);
  a.max_sessions = get_int(r.get(), 0, 1);
  a.exempt = get_bool(r.get(), 0, 2);
  return a;
}

std::vector<streamer> session_store::list_streamers() {
  auto r = impl_->read([](connection& c) { return c.exec(sql_list_streamers); });
  std::vector<streamer> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
    out.push_back(streamer_from_row(r.get(), i));
  return out;
}

std::optional<streamer> session_store::get_streamer(int64_t id) {
  auto r = impl_->read(
      [&](connection& c) { return c.exec(sql_get_streamer, param_list().integer(id)); });
  if (PQntuples(r.get()) == 0)
    return std::nullopt;
  return streamer_from_row(r.get(), 0);
}

namespace {
// The stored form of allowed_sources / access_secrets (rows.cpp reads it).
std::string join_lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += '\n';
    out += i;
  }
  return out;
}
}  // namespace

void session_store::put_streamer(const streamer& s) {
  param_list p;
  p.integer(s.id)
      .text(s.host)
      .text(s.url)
      .text(s.api_url)
      .text(s.api_user)
      .text(s.api_password)
      .text(std::string(to_string(s.mode)))
      .text(s.securetoken_secret)
      .text(s.link_template)
      .integer(s.capacity)
      .boolean(s.enabled)
      .text(join_lines(s.allowed_sources))
      .text(join_lines(s.access_secrets))
      .boolean(s.api_tls_verify);
  impl_->ready().exec(sql_put_streamer, p);
}

bool session_store::delete_streamer(int64_t id) {
  auto r = impl_->ready().exec(sql_delete_streamer, param_list().integer(id));
  return std::string(PQcmdTuples(r.get())) != "0";
}

std::vector<write_status> session_store::apply(const std::vector<write_op>& ops) {
  std::vector<const write_op*> ptrs;
  ptrs.reserve(ops.size());
  for (const auto& op : ops)
    ptrs.push_back(&op);
  return apply_ops(impl_->ready(), ptrs);
}

int64_t session_store::count_sessions() {
  auto r = impl_->read([](connection& c) { return c.exec(sql_count_sessions); });
  return get_int(r.get(), 0, 0);
}

std::vector<playback_session> session_store::sessions_of(const std::string& account_id) {
  return impl_->read([&](connection& c) { return query_sessions(c, account_id); });
}

std::vector<std::string> session_store::accounts_on_streamer(int64_t streamer_id) {
  auto r = impl_->read([&](connection& c) {
    return c.exec(sql_accounts_on_streamer, param_list().integer(streamer_id));
  });
  std::vector<std::string> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
    out.push_back(get_text(r.get(), i, 0));
  return out;
}

std::vector<playback_session> session_store::killed_on_streamer(int64_t streamer_id) {
  auto r = impl_->read([&](connection& c) {
    return c.exec(sql_killed_on_streamer, param_list().integer(streamer_id));
  });
  std::vector<playback_session> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
    out.push_back(session_from_row(r.get(), i));
  return out;
}

std::map<std::string, std::pair<std::string, std::string>> session_store::resolve_tokens(
    const std::vector<std::string>& tokens) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  if (tokens.empty())
    return out;
  auto r = impl_->read([&](connection& c) {
    return c.exec(sql_resolve_tokens, param_list().text(text_array(tokens)));
  });
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
    out[get_text(r.get(), i, 0)] = {get_text(r.get(), i, 1), get_text(r.get(), i, 2)};
  return out;
}

std::vector<std::pair<std::string, std::string>> session_store::clear_sessions(
    std::chrono::milliseconds timeout, std::chrono::milliseconds killed_timeout) {
  // One statement: safe to repeat after a dropped connection (a DELETE that
  // did commit finds nothing the second time).
  auto r = impl_->read([&](connection& c) {
    return c.exec(sql_clear_sessions, param_list()
                                          .integer(static_cast<int64_t>(timeout.count()))
                                          .integer(static_cast<int64_t>(killed_timeout.count())));
  });
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
    out.emplace_back(get_text(r.get(), i, 0), get_text(r.get(), i, 1));
  return out;
}

std::map<std::pair<int64_t, std::string>, int64_t> session_store::count_live_by_streamer() {
  auto r = impl_->read([](connection& c) { return c.exec(sql_count_live_by_streamer); });
  std::map<std::pair<int64_t, std::string>, int64_t> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
    out[{get_int(r.get(), i, 0), get_text(r.get(), i, 1)}] = get_int(r.get(), i, 2);
  return out;
}

event_page session_store::list_events(const event_query& q) {
  const int limit = std::max(1, q.limit);
  auto r = impl_->read([&](connection& c) {
    if (!q.since) {
      param_list p;
      p.integer(limit);
      if (!q.account_id.empty()) p.text(q.account_id);
      return c.exec(q.account_id.empty() ? sql_events_latest : sql_account_events_latest, p);
    }
    // One more than shown: whether more follow.
    param_list p;
    p.integer(to_unix_ms(*q.since)).integer(q.after_id).integer(limit + 1);
    if (!q.account_id.empty()) p.text(q.account_id);
    return c.exec(q.account_id.empty() ? sql_events_since : sql_account_events_since, p);
  });
  event_page page;
  const int n = PQntuples(r.get());
  for (int i = 0; i < std::min(n, limit); ++i) page.events.push_back(event_from_row(r.get(), i));
  if (!q.since)
    std::reverse(page.events.begin(), page.events.end());  // read newest first
  else
    page.more = n > limit;
  return page;
}

std::pair<int64_t, int64_t> session_store::fold_progress(std::chrono::milliseconds min_age) {
  // One statement, idempotent: safe to repeat after a dropped connection.
  auto r = impl_->read([&](connection& c) {
    return c.exec(sql_fold_progress, param_list().integer(static_cast<int64_t>(min_age.count())));
  });
  return {get_int(r.get(), 0, 0), get_int(r.get(), 0, 1)};
}

int64_t session_store::clear_events(sys_time before) {
  // Chunks of this many rows, each its own statement (autocommit): safe to
  // repeat after a dropped connection, and no lock is held for long.
  constexpr int64_t chunk = 10000;
  int64_t total = 0;
  for (;;) {
    auto r = impl_->read([&](connection& c) {
      return c.exec(sql_clear_events, param_list().integer(to_unix_ms(before)).integer(chunk));
    });
    const char* tuples = PQcmdTuples(r.get());
    const int64_t n = tuples && *tuples ? std::strtoll(tuples, nullptr, 10) : 0;
    total += n;
    if (n < chunk) return total;
  }
}

std::map<std::string, int64_t> session_store::count_by_status() {
  auto r = impl_->read([](connection& c) { return c.exec(sql_count_by_status); });
  std::map<std::string, int64_t> out;
  for (auto st : {session_status::pending, session_status::active, session_status::ended,
                  session_status::killed})
    out[to_string(st)] = 0;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
    out[get_text(r.get(), i, 0)] = get_int(r.get(), i, 1);
  return out;
}

session_page session_store::list_sessions(const session_query& q) {
  param_list p;
  p.nullable_text(q.status ? std::optional<std::string>(to_string(*q.status)) : std::nullopt);
  p.nullable_integer(q.streamer_id);
  if (q.account_id_prefix.empty()) {
    p.nullable_text(std::nullopt).nullable_text(std::nullopt);
  } else {
    // Every id that starts with the prefix sorts (bytewise) in
    // [prefix, prefix with its last byte + 1); ids are ASCII, so no byte
    // overflows.
    std::string upper = q.account_id_prefix;
    upper.back() = static_cast<char>(upper.back() + 1);
    p.text(q.account_id_prefix).text(std::move(upper));
  }
  if (q.after)
    p.text(q.after->first).text(q.after->second);
  else
    p.nullable_text(std::nullopt).nullable_text(std::nullopt);
  p.integer(static_cast<int64_t>(q.limit) + 1);
  auto r = impl_->read([&](connection& c) { return c.exec(sql_list_sessions, p); });
  session_page page;
  const int n = PQntuples(r.get());
  for (int i = 0; i < n && i < q.limit; ++i) page.sessions.push_back(session_from_row(r.get(), i));
  page.more = n > q.limit;
  return page;
}

std::vector<session_store::account_at_limit> session_store::accounts_at_limit(int64_t default_max_sessions,
                                                                             int limit) {
  auto r = impl_->read([&](connection& c) {
    return c.exec(sql_accounts_at_limit, param_list().integer(default_max_sessions).integer(limit));
  });
  std::vector<account_at_limit> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i)
    out.push_back({get_text(r.get(), i, 0), get_int(r.get(), i, 1), get_int(r.get(), i, 2)});
  return out;
}

bool session_store::ensure_connected() { return impl_->conn.try_ensure(); }

}  // namespace maxsess::storage
