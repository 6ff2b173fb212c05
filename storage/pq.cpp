#include "storage/pq.hpp"

#include <errno.h>  // program_invocation_short_name (glibc)

#include "domain/thread_name.hpp"
#include "storage/sql.hpp"

namespace maxsess::storage::detail {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

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

std::string int_array(const std::vector<int64_t>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i)
      out += ',';
    out += std::to_string(items[i]);
  }
  out += '}';
  return out;
}

array_literal& array_literal::text(const std::string& v) {
  sep();
  out_ += '"';
  for (char c : v) {
    if (c == '"' || c == '\\')
      out_ += '\\';
    out_ += c;
  }
  out_ += '"';
  return *this;
}

array_literal& array_literal::integer(int64_t v) {
  sep();
  out_ += std::to_string(v);
  return *this;
}

namespace {
void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
}  // namespace

void binary_array::length(int32_t n) {
  put_be(body_, static_cast<uint32_t>(n), 4);
  ++count_;
}

binary_array& binary_array::text(std::string_view v) {
  length(static_cast<int32_t>(v.size()));
  body_.append(v);
  return *this;
}

binary_array& binary_array::int4(int32_t v) {
  length(4);
  put_be(body_, static_cast<uint32_t>(v), 4);
  return *this;
}

binary_array& binary_array::int8(int64_t v) {
  length(8);
  put_be(body_, static_cast<uint64_t>(v), 8);
  return *this;
}

binary_array& binary_array::boolean(bool v) {
  length(1);
  body_ += v ? '\1' : '\0';
  return *this;
}

binary_array& binary_array::timestamptz_ms(int64_t unix_ms) {
  // PostgreSQL's epoch is 2000-01-01T00:00:00Z, in microseconds.
  constexpr int64_t pg_epoch_unix_ms = 946684800000;
  return int8((unix_ms - pg_epoch_unix_ms) * 1000);
}

binary_array& binary_array::jsonb(std::string_view json) {
  length(static_cast<int32_t>(json.size() + 1));
  body_ += '\1';  // jsonb's binary format version
  body_.append(json);
  return *this;
}

binary_array& binary_array::null() {
  length(-1);
  nulls_ = true;
  return *this;
}

std::string binary_array::done() && {
  std::string out;
  out.reserve(20 + body_.size());
  put_be(out, count_ > 0 ? 1 : 0, 4);  // dimensions (an empty array has none)
  put_be(out, nulls_ ? 1 : 0, 4);
  put_be(out, oid_, 4);
  if (count_ > 0) {
    put_be(out, static_cast<uint32_t>(count_), 4);
    put_be(out, 1, 4);  // lower bound
  }
  out += body_;
  return out;
}

array_literal& array_literal::raw(const char* v) {
  sep();
  out_ += v;
  return *this;
}

void throw_result_error(const char* what, PGconn* conn, const PGresult* r) {
  std::string msg = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  if (msg.empty())
    msg = trimmed(PQerrorMessage(conn));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string full = std::string(what) + ": " + msg;
  if (state && std::string(state) == sqlstate_unique_violation)
    throw conflict_error(full);
  throw storage_error(full);
}

namespace {

void ignore_notice(void*, const char*) {}

// "maxsessd write-lane-0": pg_stat_activity then tells a node's backends
// apart by the thread that opened them (domain/thread_name.hpp); a thread
// nobody named (the main thread, a test's) leaves plain "maxsessd".
std::string application_name() {
  // An unnamed thread has the program's name, as the kernel cuts it.
  const std::string program = std::string(program_invocation_short_name).substr(0, 15);
  const std::string thread = this_thread_name();
  return thread.empty() || thread == program ? "maxsessd" : "maxsessd " + thread;
}

}  // namespace

connection::connection(const std::string& dsn, const std::string& options) {
  // Defaults first: keywords in the DSN (expanded from dbname) override them.
  const std::string app = application_name();
  const char* keys[] = {"connect_timeout", "application_name", "options", "dbname", nullptr};
  const char* values[] = {"10", app.c_str(), options.c_str(), dsn.c_str(), nullptr};
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

connection::~connection() {
  if (conn_)
    PQfinish(conn_);
}

void connection::ensure() {
  if (ok())
    return;
  reset();
  if (!ok())
    throw storage_error("lost the connection to PostgreSQL and cannot reconnect: " +
                        trimmed(PQerrorMessage(conn_)));
}

bool connection::try_ensure() {
  try {
    ensure();
    return true;
  } catch (const storage_error&) {
    return false;
  }
}

void connection::reset() {
  prepared_.clear();  // a new server session knows none of them
  PQreset(conn_);
}

void connection::prepare(const char* name, const char* sql) {
  if (prepared_.count(name))
    return;
  result_ptr r(PQprepare(conn_, name, sql, 0, nullptr));
  check(r.get(), "prepare failed");
  prepared_.insert(name);
}

result_ptr connection::exec(const char* sql, const param_list& params) {
  auto ptrs = params.pointers();
  auto lengths = params.lengths();
  result_ptr r(PQexecParams(conn_, sql, params.size(), nullptr, ptrs.data(),
                            lengths.empty() ? nullptr : lengths.data(), params.formats(), 0));
  check(r.get(), "query failed");
  return r;
}

result_ptr connection::exec_prepared(const char* name, const char* sql, const param_list& params) {
  auto ptrs = params.pointers();
  auto lengths = params.lengths();
  for (int attempt = 0;; ++attempt) {
    prepare(name, sql);
    result_ptr r(PQexecPrepared(conn_, name, params.size(), ptrs.data(), lengths.empty() ? nullptr : lengths.data(),
                                params.formats(), 0));
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    // "cached plan must not change result type": prepare again and retry,
    // outside a transaction only (inside one the error aborted it: the
    // caller's retry, as the writer's, starts over).
    if (attempt == 0 && state && std::string(state) == sqlstate_feature_not_supported &&
        PQtransactionStatus(conn_) == PQTRANS_IDLE) {
      forget_prepared();
      continue;
    }
    check(r.get(), "query failed");
    return r;
  }
}

void connection::exec_script(const char* sql) {
  result_ptr r(PQexec(conn_, sql));
  check(r.get(), "statement failed");
}

void connection::rollback_quietly() {
  if (!ok())
    return;
  auto ts = PQtransactionStatus(conn_);
  if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
    result_ptr r(PQexec(conn_, sql_rollback));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      reset();  // a clean state either way: the server rolls back
  }
}

void connection::forget_prepared() {
  prepared_.clear();  // whatever happens below, prepare() asks the server again
  if (!ok())
    return;
  result_ptr r(PQexec(conn_, "DEALLOCATE ALL"));
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
    reset();  // a new server session holds no prepared statements either
}

void connection::check(const PGresult* r, const char* what) const {
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    throw_result_error(what, conn_, r);
}

}  // namespace maxsess::storage::detail
