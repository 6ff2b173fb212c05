#include "storage/pq.hpp"

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

}  // namespace

connection::connection(const std::string& dsn, const std::string& options) {
  // Defaults first: keywords in the DSN (expanded from dbname) override them.
  const char* keys[] = {"connect_timeout", "application_name", "options", "dbname", nullptr};
  const char* values[] = {"10", "maxsessd", options.c_str(), dsn.c_str(), nullptr};
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
  result_ptr r(PQexecParams(conn_, sql, params.size(), nullptr, ptrs.data(), nullptr,
                            nullptr, 0));
  check(r.get(), "query failed");
  return r;
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
