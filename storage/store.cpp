#include "storage/store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <map>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "storage/migrations.hpp"

namespace maxsess::storage {

namespace {

// Runs a caller's callback on a storage thread; an exception from it must
// not end the thread that serves everyone else.
template <class F, class... Ts>
void call_quietly(const F& f, Ts&&... xs) {
  if (!f) return;
  try {
    f(std::forward<Ts>(xs)...);
  } catch (...) {
  }
}

// --- SQL: every statement the storage layer sends ----------------------------
//
// Timestamps cross the wire as epoch milliseconds (bigint), converted exactly
// on both sides:
//   write: timestamptz 'epoch' + $n::bigint * interval '1 millisecond'
//   read:  (extract(epoch FROM col) * 1000)::bigint

// pg_advisory_lock key serialising `migrate` across processes ("maxsess!").
constexpr int64_t migrate_lock_key = 0x6d61787365737321;

constexpr const char* sql_begin = "BEGIN";
constexpr const char* sql_commit = "COMMIT";
constexpr const char* sql_rollback = "ROLLBACK";

constexpr const char* sql_migrate_lock = "SELECT pg_advisory_lock($1::bigint)";
constexpr const char* sql_migrate_unlock = "SELECT pg_advisory_unlock($1::bigint)";
constexpr const char* sql_create_schema_version =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version int PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
constexpr const char* sql_has_schema_version =
    "SELECT to_regclass('schema_version') IS NOT NULL";
constexpr const char* sql_schema_version = "SELECT coalesce(max(version), 0) FROM schema_version";
constexpr const char* sql_record_migration =
    "INSERT INTO schema_version (version, name) VALUES ($1::int, $2)";

constexpr const char* sql_get_account =
    "SELECT account_id, max_sessions, exempt FROM accounts WHERE account_id = $1";
constexpr const char* sql_upsert_account =
    "INSERT INTO accounts (account_id, max_sessions, exempt, updated_at)"
    " VALUES ($1, $2::bigint, $3::boolean, now())"
    " ON CONFLICT (account_id) DO UPDATE SET"
    " max_sessions = EXCLUDED.max_sessions, exempt = EXCLUDED.exempt, updated_at = now()";

// The columns of a session row, in the order the row reader expects them
// (one place, so the two statements that read sessions cannot drift apart).
#define MAXSESS_SESSION_COLUMNS                                                   \
  "SELECT account_id, device_id, status, content_type, stream, content_start,"   \
  " content_duration, streamer_id, client_ip, flussonic::text, token,"           \
  " (extract(epoch FROM started_at) * 1000)::bigint,"                            \
  " (extract(epoch FROM updated_at) * 1000)::bigint,"                            \
  " (extract(epoch FROM ended_at) * 1000)::bigint,"                              \
  " duration_s, bytes, end_reason, exempt"

constexpr const char* sql_sessions_of_account =
    MAXSESS_SESSION_COLUMNS
    " FROM playback_sessions WHERE account_id = $1"
    " ORDER BY started_at, device_id";
constexpr const char* sql_count_sessions = "SELECT count(*) FROM playback_sessions";
constexpr const char* sql_count_by_status =
    "SELECT status, count(*) FROM playback_sessions GROUP BY status";

// For the streamer jobs. A Flussonic session is open when its element of
// the flussonic array has "open": true.
constexpr const char* sql_accounts_on_streamer =
    "SELECT DISTINCT account_id FROM playback_sessions"
    " WHERE streamer_id = $1::bigint AND status IN ('pending', 'active', 'killed')"
    " ORDER BY account_id";
constexpr const char* sql_killed_on_streamer =
    MAXSESS_SESSION_COLUMNS
    " FROM playback_sessions"
    " WHERE streamer_id = $1::bigint AND status = 'killed'"
    " AND (jsonb_array_length(flussonic) = 0 OR flussonic @> '[{\"open\": true}]')"
    " ORDER BY account_id, device_id";
// Newest row (by updated_at) per token.
constexpr const char* sql_resolve_tokens =
    "SELECT DISTINCT ON (token) token, account_id, device_id FROM playback_sessions"
    " WHERE token = ANY ($1::text[]) AND token <> ''"
    " ORDER BY token, updated_at DESC, account_id, device_id";
// Ended rows, and killed rows with no open Flussonic session, untouched for
// $1 ms (measured on the database clock).
constexpr const char* sql_clear_sessions =
    "DELETE FROM playback_sessions"
    " WHERE (status = 'ended' AND updated_at < now() - $1::bigint * interval '1 millisecond')"
    " OR (status = 'killed' AND NOT flussonic @> '[{\"open\": true}]'"
    " AND updated_at < now() - $2::bigint * interval '1 millisecond')"
    " RETURNING account_id, device_id";

// Fenced upsert: 0 rows affected = the stored row has a newer shard epoch.
constexpr const char* sql_upsert_session =
    "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
    " content_type, stream, content_start, content_duration, streamer_id, client_ip,"
    " flussonic, token, started_at, updated_at, ended_at, duration_s, bytes, end_reason,"
    " exempt)"
    " VALUES ($1, $2, $3::int, $4::bigint, $5, $6, $7, $8::bigint, $9::bigint, $10::bigint,"
    " $11, $12::jsonb, $13,"
    " timestamptz 'epoch' + $14::bigint * interval '1 millisecond',"
    " timestamptz 'epoch' + $15::bigint * interval '1 millisecond',"
    " timestamptz 'epoch' + $16::bigint * interval '1 millisecond',"
    " $17::bigint, $18::bigint, $19, $20::boolean)"
    " ON CONFLICT (account_id, device_id) DO UPDATE SET"
    " shard = EXCLUDED.shard, shard_epoch = EXCLUDED.shard_epoch, status = EXCLUDED.status,"
    " content_type = EXCLUDED.content_type, stream = EXCLUDED.stream,"
    " content_start = EXCLUDED.content_start, content_duration = EXCLUDED.content_duration,"
    " streamer_id = EXCLUDED.streamer_id, client_ip = EXCLUDED.client_ip,"
    " flussonic = EXCLUDED.flussonic, token = EXCLUDED.token,"
    " started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,"
    " ended_at = EXCLUDED.ended_at, duration_s = EXCLUDED.duration_s,"
    " bytes = EXCLUDED.bytes, end_reason = EXCLUDED.end_reason, exempt = EXCLUDED.exempt"
    " WHERE playback_sessions.shard_epoch <= EXCLUDED.shard_epoch";

// Fenced delete. Answers (rows deleted, row present before): 0 deleted while
// present = fenced; absent = nothing to delete (ok).
constexpr const char* sql_delete_session =
    "WITH deleted AS ("
    " DELETE FROM playback_sessions"
    " WHERE account_id = $1 AND device_id = $2 AND shard_epoch <= $3::bigint"
    " RETURNING 1)"
    " SELECT (SELECT count(*) FROM deleted),"
    " EXISTS (SELECT 1 FROM playback_sessions WHERE account_id = $1 AND device_id = $2)";

constexpr const char* sql_list_streamers =
    "SELECT id, host, url, api_url, api_user, api_password, link_mode, securetoken_secret,"
    " link_template, capacity, enabled FROM streamers ORDER BY id";
constexpr const char* sql_get_streamer =
    "SELECT id, host, url, api_url, api_user, api_password, link_mode, securetoken_secret,"
    " link_template, capacity, enabled FROM streamers WHERE id = $1::bigint";
constexpr const char* sql_put_streamer =
    "INSERT INTO streamers (id, host, url, api_url, api_user, api_password, link_mode,"
    " securetoken_secret, link_template, capacity, enabled, updated_at)"
    " VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9, $10::bigint, $11::boolean, now())"
    " ON CONFLICT (id) DO UPDATE SET"
    " host = EXCLUDED.host, url = EXCLUDED.url, api_url = EXCLUDED.api_url,"
    " api_user = EXCLUDED.api_user, api_password = EXCLUDED.api_password,"
    " link_mode = EXCLUDED.link_mode, securetoken_secret = EXCLUDED.securetoken_secret,"
    " link_template = EXCLUDED.link_template, capacity = EXCLUDED.capacity,"
    " enabled = EXCLUDED.enabled, updated_at = now()";
constexpr const char* sql_delete_streamer = "DELETE FROM streamers WHERE id = $1::bigint";

// SQLSTATE of unique_violation.
constexpr const char* sqlstate_unique_violation = "23505";

// Statements per pipeline round trip in apply(): bounds what is in flight so
// neither side can block on a full socket buffer.
constexpr std::size_t pipeline_chunk = 64;

// --- libpq helpers -----------------------------------------------------------

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

// Text parameters for PQexecParams; nullopt is SQL NULL.
class param_list {
 public:
  param_list& text(std::string v) {
    values_.emplace_back(std::move(v));
    return *this;
  }
  param_list& integer(int64_t v) { return text(std::to_string(v)); }
  param_list& boolean(bool v) { return text(v ? "true" : "false"); }
  param_list& nullable_integer(const std::optional<int64_t>& v) {
    if (v)
      return integer(*v);
    values_.emplace_back(std::nullopt);
    return *this;
  }
  param_list& nullable_text(const std::optional<std::string>& v) {
    values_.push_back(v);
    return *this;
  }

  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    out.reserve(values_.size());
    for (const auto& v : values_)
      out.push_back(v ? v->c_str() : nullptr);
    return out;
  }

 private:
  std::vector<std::optional<std::string>> values_;
};
// A PostgreSQL text[] literal: {"a","b\"c"} (every element quoted).
// A PostgreSQL text[] literal: {"a","b\\"c"} (every element quoted).
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i)
      out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

[[noreturn]] void throw_result_error(const char* what, PGconn* conn, const PGresult* r) {
  std::string msg = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  if (msg.empty())
    msg = trimmed(PQerrorMessage(conn));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string full = std::string(what) + ": " + msg;
  if (state && std::string(state) == sqlstate_unique_violation)
    throw conflict_error(full);
  throw storage_error(full);
}

void ignore_notice(void*, const char*) {}

// One libpq connection. Connects in the constructor (throws storage_error);
// ensure() resets a dropped connection.
class connection {
 public:
  explicit connection(const std::string& dsn) {
    // Defaults first: keywords in the DSN (expanded from dbname) override them.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"10", "maxsessd", dsn.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_)
      throw storage_error("cannot connect to PostgreSQL: out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = trimmed(PQerrorMessage(conn_));
      PQfinish(conn_);
      conn_ = nullptr;
      throw storage_error("cannot connect to PostgreSQL: " + msg);
    }
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
  }
  ~connection() {
    if (conn_)
      PQfinish(conn_);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  PGconn* get() const { return conn_; }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }

  // Reconnects when the connection dropped. Throws when that fails.
  void ensure() {
    if (ok())
      return;
    reset();
    if (!ok())
      throw storage_error("lost the connection to PostgreSQL and cannot reconnect: " +
                          trimmed(PQerrorMessage(conn_)));
  }
  bool try_ensure() {
    try {
      ensure();
      return true;
    } catch (const storage_error&) {
      return false;
    }
  }
  void reset() {
    prepared_.clear();  // a new server session knows none of them
    PQreset(conn_);
  }

  // Prepares a named statement once per server session.
  void prepare(const char* name, const char* sql) {
    if (prepared_.count(name))
      return;
    result_ptr r(PQprepare(conn_, name, sql, 0, nullptr));
    check(r.get(), "prepare failed");
    prepared_.insert(name);
  }

  // One statement with text parameters; throws storage_error on any error.
  result_ptr exec(const char* sql, const param_list& params = {}) {
    auto ptrs = params.pointers();
    result_ptr r(PQexecParams(conn_, sql, params.size(), nullptr, ptrs.data(), nullptr,
                              nullptr, 0));
    check(r.get(), "query failed");
    return r;
  }

  // Several statements (a migration file), no parameters.
  void exec_script(const char* sql) {
    result_ptr r(PQexec(conn_, sql));
    check(r.get(), "statement failed");
  }

  // Best effort: leave an open or failed transaction block.
  void rollback_quietly() {
    if (!ok())
      return;
    auto ts = PQtransactionStatus(conn_);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
      result_ptr r(PQexec(conn_, sql_rollback));
      if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        reset();  // a clean state either way: the server rolls back
    }
  }

 private:
  void check(const PGresult* r, const char* what) const {
    auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      throw_result_error(what, conn_, r);
  }

  PGconn* conn_ = nullptr;
  std::set<std::string> prepared_;
};

// --- row decoding ------------------------------------------------------------

bool is_null(const PGresult* r, int row, int col) { return PQgetisnull(r, row, col) != 0; }

std::string get_text(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}

int64_t get_int(const PGresult* r, int row, int col) {
  const char* s = PQgetvalue(r, row, col);
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    throw storage_error(std::string("bad integer in column ") + PQfname(r, col) + ": '" + s + "'");
  return static_cast<int64_t>(v);
}

std::optional<int64_t> get_opt_int(const PGresult* r, int row, int col) {
  if (is_null(r, row, col))
    return std::nullopt;
  return get_int(r, row, col);
}

bool get_bool(const PGresult* r, int row, int col) {
  return PQgetvalue(r, row, col)[0] == 't';
}

template <class T>
T parse_or_throw(std::optional<T> v, const char* column, const std::string& text) {
  if (!v)
    throw storage_error(std::string("unknown value in column ") + column + ": '" + text + "'");
  return *v;
}

// flussonic jsonb: [{"id", "ip", "open", "updated_at_ms", "stream"}]
std::string flussonic_to_json(const std::vector<flussonic_session>& list) {
  auto arr = nlohmann::json::array();
  for (const auto& f : list)
    arr.push_back({{"id", f.id},
                   {"ip", f.ip},
                   {"open", f.open},
                   {"updated_at_ms", to_unix_ms(f.updated_at)},
                   {"stream", f.stream}});
  return arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<flussonic_session> flussonic_from_json(const std::string& text) {
  std::vector<flussonic_session> out;
  try {
    auto arr = nlohmann::json::parse(text);
    if (!arr.is_array())
      throw storage_error("column flussonic is not a JSON array");
    for (const auto& e : arr) {
      flussonic_session f;
      f.id = e.value("id", std::string());
      f.ip = e.value("ip", std::string());
      f.open = e.value("open", true);
      f.updated_at = from_unix_ms(e.value("updated_at_ms", int64_t{0}));
      f.stream = e.value("stream", std::string());
      out.push_back(std::move(f));
    }
  } catch (const nlohmann::json::exception& e) {
    throw storage_error(std::string("bad JSON in column flussonic: ") + e.what());
  }
  return out;
}

playback_session session_from_row(const PGresult* r, int row) {
  playback_session s;
  s.account_id = get_text(r, row, 0);
  s.device_id = get_text(r, row, 1);
  auto status = get_text(r, row, 2);
  s.status = parse_or_throw(parse_session_status(status), "status", status);
  auto type = get_text(r, row, 3);
  s.content.type = parse_or_throw(parse_content_type(type), "content_type", type);
  s.content.stream = get_text(r, row, 4);
  s.content.start = get_opt_int(r, row, 5);
  s.content.duration = get_opt_int(r, row, 6);
  s.streamer_id = get_int(r, row, 7);
  s.client_ip = get_text(r, row, 8);
  s.flussonic = flussonic_from_json(get_text(r, row, 9));
  s.token = get_text(r, row, 10);
  s.started_at = from_unix_ms(get_int(r, row, 11));
  s.updated_at = from_unix_ms(get_int(r, row, 12));
  if (auto ended = get_opt_int(r, row, 13))
    s.ended_at = from_unix_ms(*ended);
  s.duration_s = get_int(r, row, 14);
  s.bytes = get_int(r, row, 15);
  if (!is_null(r, row, 16)) {
    auto reason = get_text(r, row, 16);
    s.reason = parse_or_throw(parse_end_reason(reason), "end_reason", reason);
  }
  s.exempt = get_bool(r, row, 17);
  return s;
}

streamer streamer_from_row(const PGresult* r, int row) {
  streamer s;
  s.id = get_int(r, row, 0);
  s.host = get_text(r, row, 1);
  s.url = get_text(r, row, 2);
  s.api_url = get_text(r, row, 3);
  s.api_user = get_text(r, row, 4);
  s.api_password = get_text(r, row, 5);
  auto mode = get_text(r, row, 6);
  s.mode = parse_or_throw(parse_link_mode(mode), "link_mode", mode);
  s.securetoken_secret = get_text(r, row, 7);
  s.link_template = get_text(r, row, 8);
  s.capacity = get_int(r, row, 9);
  s.enabled = get_bool(r, row, 10);
  return s;
}

std::vector<playback_session> query_sessions(connection& c, const std::string& account_id) {
  auto r = c.exec(sql_sessions_of_account, param_list().text(account_id));
  std::vector<playback_session> out;
  int n = PQntuples(r.get());
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    out.push_back(session_from_row(r.get(), i));
  return out;
}

// --- writes ------------------------------------------------------------------

// A write statement: prepared under `name` once per connection (the
// planner's work is then done once, not per op); name nullptr = unprepared.
struct statement {
  const char* name;
  const char* sql;
  param_list params;
};

constexpr const char* stmt_upsert_session = "maxsess_upsert_session";
constexpr const char* stmt_delete_session = "maxsess_delete_session";
constexpr const char* stmt_upsert_account = "maxsess_upsert_account";

statement statement_for(const write_op& op) {
  switch (op.what) {
    case write_op::kind::upsert_session: {
      const auto& s = op.upsert.session;
      param_list p;
      p.text(s.account_id)
          .text(s.device_id)
          .integer(int64_t{op.upsert.shard})
          .integer(op.upsert.epoch)
          .text(std::string(to_string(s.status)))
          .text(std::string(to_string(s.content.type)))
          .text(s.content.stream)
          .nullable_integer(s.content.start)
          .nullable_integer(s.content.duration)
          .integer(s.streamer_id)
          .text(s.client_ip)
          .text(flussonic_to_json(s.flussonic))
          .text(s.token)
          .integer(to_unix_ms(s.started_at))
          .integer(to_unix_ms(s.updated_at))
          .nullable_integer(s.ended_at ? std::optional<int64_t>(to_unix_ms(*s.ended_at)) : std::nullopt)
          .integer(s.duration_s)
          .integer(s.bytes)
          .nullable_text(s.reason ? std::optional<std::string>(to_string(*s.reason)) : std::nullopt)
          .boolean(s.exempt);
      return {stmt_upsert_session, sql_upsert_session, std::move(p)};
    }
    case write_op::kind::delete_session: {
      param_list p;
      p.text(op.del.account_id).text(op.del.device_id).integer(op.del.epoch);
      return {stmt_delete_session, sql_delete_session, std::move(p)};
    }
    case write_op::kind::upsert_account: {
      const auto& a = op.account.settings;
      param_list p;
      p.text(a.account_id).integer(a.max_sessions).boolean(a.exempt);
      return {stmt_upsert_account, sql_upsert_account, std::move(p)};
    }
  }
  throw storage_error("unknown write_op kind");
}

write_status status_of(const write_op& op, const PGresult* r) {
  switch (op.what) {
    case write_op::kind::upsert_session:
      return std::string(PQcmdTuples(const_cast<PGresult*>(r))) == "0" ? write_status::fenced
                                                                      : write_status::ok;
    case write_op::kind::delete_session:
      if (PQntuples(r) == 1 && get_int(r, 0, 0) == 0 && get_bool(r, 0, 1))
        return write_status::fenced;
      return write_status::ok;
    case write_op::kind::upsert_account:
      return write_status::ok;
  }
  return write_status::ok;
}

// Sends BEGIN, the ops and COMMIT through libpq's pipeline mode, in chunks
// of pipeline_chunk statements (one round trip each), so a batch costs a few
// round trips instead of one per op. Throws storage_error when the
// transaction did not commit; the connection is then idle (rolled back) or
// reset.
std::vector<write_status> apply_ops(connection& c, const std::vector<const write_op*>& ops) {
  c.ensure();
  PGconn* conn = c.get();
  std::vector<write_status> out(ops.size(), write_status::ok);
  if (ops.empty())
    return out;

  // Statement i: 0 = BEGIN, 1..n = ops, n+1 = COMMIT. Built before the
  // pipeline starts, so nothing below throws while it is in flight.
  std::vector<statement> statements;
  statements.reserve(ops.size() + 2);
  statements.push_back({nullptr, sql_begin, {}});
  for (const auto* op : ops)
    statements.push_back(statement_for(*op));
  statements.push_back({nullptr, sql_commit, {}});
  const std::size_t total = statements.size();

  c.prepare(stmt_upsert_session, sql_upsert_session);
  c.prepare(stmt_delete_session, sql_delete_session);
  c.prepare(stmt_upsert_account, sql_upsert_account);

  if (PQenterPipelineMode(conn) != 1)
    throw storage_error("cannot enter pipeline mode: " + trimmed(PQerrorMessage(conn)));

  std::string first_error;
  const PGresult* error_result = nullptr;
  result_ptr error_holder;
  bool broken = false;  // protocol state unknown: reset the connection
  bool committed = false;

  std::size_t next = 0;
  while (next < total && first_error.empty() && !broken) {
    std::size_t end = std::min(total, next + pipeline_chunk);
    std::size_t sent = next;
    for (; sent < end; ++sent) {
      const statement& st = statements[sent];
      auto ptrs = st.params.pointers();
      int sent_ok = st.name ? PQsendQueryPrepared(conn, st.name, st.params.size(), ptrs.data(),
                                                  nullptr, nullptr, 0)
                            : PQsendQueryParams(conn, st.sql, st.params.size(), nullptr,
                                                ptrs.data(), nullptr, nullptr, 0);
      if (sent_ok != 1) {
        first_error = "cannot send query: " + trimmed(PQerrorMessage(conn));
        broken = true;
        break;
      }
    }
    if (broken)
      break;
    if (PQpipelineSync(conn) != 1) {
      first_error = "cannot send pipeline sync: " + trimmed(PQerrorMessage(conn));
      broken = true;
      break;
    }
    for (std::size_t i = next; i < end; ++i) {
      result_ptr r(PQgetResult(conn));
      if (!r) {
        first_error = "missing result in pipeline: " + trimmed(PQerrorMessage(conn));
        broken = true;
        break;
      }
      auto st = PQresultStatus(r.get());
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (i == total - 1) {
          // COMMIT in an aborted block answers ROLLBACK; only COMMIT counts.
          committed = std::string(PQcmdStatus(r.get())) == "COMMIT";
          if (!committed && first_error.empty())
            first_error = std::string("transaction not committed: ") + PQcmdStatus(r.get());
        } else if (i > 0) {
          out[i - 1] = status_of(*ops[i - 1], r.get());
        }
      } else if (st == PGRES_PIPELINE_ABORTED) {
        // Skipped after an earlier error in this chunk.
      } else {
        if (first_error.empty()) {
          first_error = trimmed(PQresultErrorMessage(r.get()));
          if (first_error.empty())
            first_error = trimmed(PQerrorMessage(conn));
          error_holder = std::move(r);
          error_result = error_holder.get();
        }
      }
      // Each query's results end with a null.
      result_ptr tail(PQgetResult(conn));
      if (tail) {
        if (first_error.empty())
          first_error = "unexpected extra result in pipeline";
        broken = true;
        break;
      }
    }
    if (broken)
      break;
    result_ptr sync(PQgetResult(conn));
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
      if (first_error.empty())
        first_error = "pipeline out of step: " + trimmed(PQerrorMessage(conn));
      broken = true;
      break;
    }
    next = end;
  }

  if (!broken && PQexitPipelineMode(conn) != 1)
    broken = true;
  if (broken) {
    // Unknown protocol state: a fresh connection is the clean way out (the
    // server rolls the transaction back).
    if (first_error.empty())
      first_error = trimmed(PQerrorMessage(conn));
    c.reset();
    throw storage_error("write transaction failed: " + first_error);
  }
  if (!committed) {
    c.rollback_quietly();
    std::string msg = "write transaction failed: " + first_error;
    const char* state = error_result ? PQresultErrorField(error_result, PG_DIAG_SQLSTATE) : nullptr;
    if (state && std::string(state) == sqlstate_unique_violation)
      throw conflict_error(msg);
    throw storage_error(msg);
  }
  return out;
}

std::vector<detail::migration> sorted_migrations() {
  auto list = detail::embedded_migrations();
  std::sort(list.begin(), list.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  return list;
}

int read_schema_version(connection& c) {
  auto has = c.exec(sql_has_schema_version);
  if (!get_bool(has.get(), 0, 0))
    return 0;
  auto r = c.exec(sql_schema_version);
  return static_cast<int>(get_int(r.get(), 0, 0));
}

}  // namespace

// --- schema ------------------------------------------------------------------

int latest_schema_version() {
  int v = 0;
  for (const auto& m : detail::embedded_migrations())
    v = std::max(v, m.version);
  return v;
}

migrate_report migrate(const std::string& dsn) {
  connection c(dsn);
  c.exec(sql_migrate_lock, param_list().integer(migrate_lock_key));
  // The session-level lock also goes away with the connection; unlock
  // explicitly so a long-lived caller's connection does not keep it.
  struct unlock_on_exit {
    connection& c;
    ~unlock_on_exit() {
      try {
        c.rollback_quietly();
        c.exec(sql_migrate_unlock, param_list().integer(migrate_lock_key));
      } catch (...) {
      }
    }
  } unlock{c};

  c.exec(sql_create_schema_version);
  migrate_report report;
  report.from_version = read_schema_version(c);
  report.to_version = report.from_version;
  const int latest = latest_schema_version();
  if (report.from_version > latest)
    throw storage_error("the database schema is version " + std::to_string(report.from_version) +
                        ", newer than this maxsessd knows (" + std::to_string(latest) +
                        "); run a newer maxsessd");

  for (const auto& m : sorted_migrations()) {
    if (m.version <= report.from_version)
      continue;
    try {
      c.exec(sql_begin);
      c.exec_script(m.sql);
      c.exec(sql_record_migration, param_list().integer(int64_t{m.version}).text(m.name));
      c.exec(sql_commit);
    } catch (const storage_error& e) {
      c.rollback_quietly();
      throw storage_error(std::string("migration ") + m.name + ".sql failed: " + e.what());
    }
    report.applied.push_back(std::string(m.name) + ".sql");
    report.to_version = m.version;
  }
  return report;
}

int current_schema_version(const std::string& dsn) {
  connection c(dsn);
  return read_schema_version(c);
}

const char* to_string(write_status s) {
  switch (s) {
    case write_status::ok:
      return "ok";
    case write_status::fenced:
      return "fenced";
    case write_status::failed:
      return "failed";
  }
  return "unknown";
}

// --- session_store -------------------------------------------------------------

struct session_store::impl {
  explicit impl(const std::string& dsn) : conn(dsn) {}
  connection conn;
  // Reconnects a dropped connection before use; throws when it cannot.
  connection& ready() {
    conn.ensure();
    return conn;
  }
  // Reads are safe to repeat: when one fails because the connection dropped
  // (server restart, idle connection killed), reconnect and try once more.
  template <class F>
  auto read(F&& f) -> decltype(f(conn)) {
    try {
      return f(ready());
    } catch (const storage_error&) {
      if (conn.ok())
        throw;
    }
    return f(ready());
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
      .boolean(s.enabled);
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

bool session_store::ensure_connected() { return impl_->conn.try_ensure(); }

// --- reader_pool -----------------------------------------------------------------

struct reader_pool::impl {
  std::string dsn;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::pair<job, failure>> queue;
  bool stopping = false;
  std::vector<std::thread> threads;
  std::mutex stop_mutex;


  void run() {
    std::unique_ptr<session_store> store;  // connected lazily
    for (;;) {
      std::pair<job, failure> item;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty())
          return;  // stopping, and every queued job ran
        item = std::move(queue.front());
        queue.pop_front();
      }
      std::optional<std::string> error;
      try {
        if (!store)
          store = std::make_unique<session_store>(dsn);
        if (item.first)
          item.first(*store);
      } catch (const std::exception& e) {
        error = e.what();
      } catch (...) {
        error = "unknown error in storage job";
      }
      if (error)
        call_quietly(item.second, *error);
      // A dropped connection is reset by the store on its next use.
    }
  }
};

reader_pool::reader_pool(std::string dsn, int connections) : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
  int n = std::max(1, connections);
  for (int i = 0; i < n; ++i)
    impl_->threads.emplace_back([this] { impl_->run(); });
}

reader_pool::~reader_pool() { stop(); }

void reader_pool::post(job j, failure on_error) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!impl_->stopping) {
      impl_->queue.emplace_back(std::move(j), std::move(on_error));
      impl_->wake.notify_one();
      return;
    }
  }
  call_quietly(on_error, "storage reader pool is stopped");
}

void reader_pool::stop() {
  std::lock_guard<std::mutex> stop_lock(impl_->stop_mutex);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.join();
}

// --- batch_writer ------------------------------------------------------------------

struct batch_writer::impl {
  using steady = std::chrono::steady_clock;
  struct pending {
    std::vector<write_op> ops;
    done_fn done;
    steady::time_point queued_at;
  };

  std::string dsn;
  std::size_t max_rows = 1;
  std::chrono::milliseconds max_delay{0};

  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<pending> queue;
  std::size_t queued_ops = 0;
  bool stopping = false;
  stats counters;

  std::mutex stop_mutex;
  std::thread thread;
  std::unique_ptr<connection> conn;  // writer thread only


  void run() {
    for (;;) {
      std::vector<pending> batch;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty())
          return;  // stopping, and everything queued was committed
        // Group commit window: wait for more ops until the oldest queued
        // submit is max_delay old, unless a full batch is already here.
        if (!stopping && queued_ops < max_rows && max_delay.count() > 0) {
          auto deadline = queue.front().queued_at + max_delay;
          wake.wait_until(lock, deadline, [&] { return stopping || queued_ops >= max_rows; });
        }
        std::size_t rows = 0;
        while (!queue.empty()) {
          std::size_t n = queue.front().ops.size();
          if (!batch.empty() && rows + n > max_rows)
            break;
          rows += n;
          queued_ops -= n;
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      run_batch(batch);
    }
  }

  // One transaction over the given submits; nullopt when it failed.
  std::optional<std::vector<write_status>> attempt(const std::vector<const write_op*>& ops) {
    try {
      if (!conn)
        conn = std::make_unique<connection>(dsn);
      auto result = apply_ops(*conn, ops);
      std::lock_guard<std::mutex> lock(mutex);
      counters.commits++;
      counters.ops += ops.size();
      return result;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex);
      counters.failures++;
      counters.last_error = e.what();
      return std::nullopt;
    }
  }

  static std::vector<const write_op*> ops_of(const std::vector<pending>& batch, std::size_t from,
                                            std::size_t to) {
    std::vector<const write_op*> out;
    for (std::size_t i = from; i < to; ++i)
      for (const auto& op : batch[i].ops)
        out.push_back(&op);
    return out;
  }

  // Per-submit outcome from the per-op statuses of a committed transaction.
  void answer_committed(const std::vector<pending>& batch, std::size_t from, std::size_t to,
                        const std::vector<write_status>& statuses) {
    std::vector<write_status> outcome;
    std::size_t k = 0;
    for (std::size_t i = from; i < to; ++i) {
      write_status s = write_status::ok;
      for (std::size_t j = 0; j < batch[i].ops.size(); ++j, ++k)
        if (statuses[k] == write_status::fenced)
          s = write_status::fenced;
      outcome.push_back(s);
    }
    count(outcome);
    for (std::size_t i = from; i < to; ++i)
      call_quietly(batch[i].done, outcome[i - from]);
  }

  void count(const std::vector<write_status>& outcome) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto s : outcome) {
      counters.submits++;
      if (s == write_status::fenced)
        counters.fenced_submits++;
      if (s == write_status::failed)
        counters.failed_submits++;
    }
  }

  void answer_failed(const std::vector<pending>& batch, std::size_t from, std::size_t to) {
    count(std::vector<write_status>(to - from, write_status::failed));
    for (std::size_t i = from; i < to; ++i)
      call_quietly(batch[i].done, write_status::failed);
  }

  void run_batch(const std::vector<pending>& batch) {
    auto all = ops_of(batch, 0, batch.size());
    auto result = attempt(all);
    if (!result) {
      // Retry once; attempt() reconnects a dropped connection first.
      if (conn && !conn->ok())
        conn->try_ensure();
      result = attempt(all);
    }
    if (result) {
      answer_committed(batch, 0, batch.size(), *result);
      return;
    }
    if (batch.size() > 1 && conn && conn->ok()) {
      // The data, not the connection, failed: isolate the bad submit(s).
      for (std::size_t i = 0; i < batch.size(); ++i) {
        auto one = attempt(ops_of(batch, i, i + 1));
        if (one)
          answer_committed(batch, i, i + 1, *one);
        else
          answer_failed(batch, i, i + 1);
      }
      return;
    }
    answer_failed(batch, 0, batch.size());
  }
};

batch_writer::batch_writer(std::string dsn, int batch_max_rows,
                           std::chrono::milliseconds batch_max_delay)
    : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
  impl_->max_rows = static_cast<std::size_t>(std::max(1, batch_max_rows));
  impl_->max_delay = std::max(std::chrono::milliseconds(0), batch_max_delay);
  impl_->thread = std::thread([this] { impl_->run(); });
}

batch_writer::~batch_writer() {
  flush_and_stop();
  if (impl_->thread.joinable())
    impl_->thread.detach();  // destroyed from its own callback: nothing else to do
}

void batch_writer::submit(std::vector<write_op> ops, done_fn done) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!impl_->stopping) {
      bool was_empty = impl_->queue.empty();
      impl_->queued_ops += ops.size();
      bool full = impl_->queued_ops >= impl_->max_rows;
      impl_->queue.push_back({std::move(ops), std::move(done), impl::steady::now()});
      // Wake the writer only when it has something new to decide.
      if (was_empty || full)
        impl_->wake.notify_one();
      return;
    }
  }
  call_quietly(done, write_status::failed);
}

void batch_writer::flush_and_stop() {
  std::lock_guard<std::mutex> stop_lock(impl_->stop_mutex);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  // From a callback (the writer thread itself): the thread ends on its own
  // after draining; whoever destroys the writer joins it.
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id())
    impl_->thread.join();
}

batch_writer::stats batch_writer::get_stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->counters;
}

}  // namespace maxsess::storage
