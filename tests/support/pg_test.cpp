#include "tests/support/pg_test.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "storage/store.hpp"

namespace maxsess::test {

namespace {

struct conn_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
    ++i;
  return s.substr(i);
}

void quiet(void*, const char*) {}

conn_ptr connect(const std::string& dsn) {
  conn_ptr c(PQconnectdb(dsn.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error("cannot connect to test PostgreSQL (" + dsn +
                             "): " + trim(c ? PQerrorMessage(c.get()) : "out of memory"));
  PQsetNoticeProcessor(c.get(), quiet, nullptr);
  return c;
}

// Lower-case [a-z0-9_] only, so the name needs no quoting.
std::string sanitize(const std::string& prefix) {
  std::string out;
  for (char ch : prefix) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c))
      out += static_cast<char>(std::tolower(c));
    else
      out += '_';
  }
  if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0])))
    out = "t" + out;
  return out.substr(0, 24);
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = [] {
    std::random_device rd;
    return rd();
  }();
  std::ostringstream name;
  name << "maxsess_" << sanitize(prefix) << '_' << ::getpid() << '_' << counter++ << '_'
       << std::hex << (salt & 0xffffffu);
  return name.str();  // < 63 bytes: 8 + 24 + 1 + 10 + 1 + 10 + 1 + 6
}

}  // namespace

std::optional<std::string> server_dsn() {
  if (const char* dsn = std::getenv("MAXSESS_TEST_DSN"); dsn && *dsn)
    return std::string(dsn);
  if (const char* dir = std::getenv("MAXSESS_TEST_PG_DIR"); dir && *dir) {
    std::ifstream in(std::string(dir) + "/dsn");
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      std::string dsn = trim(ss.str());
      if (!dsn.empty())
        return dsn;
    }
  }
  return std::nullopt;
}

std::string create_database(const std::string& prefix) {
  auto server = server_dsn();
  if (!server)
    throw std::runtime_error(
        "no test PostgreSQL: set MAXSESS_TEST_DSN, or MAXSESS_TEST_PG_DIR to a folder where "
        "`scripts/pg.sh start DIR` ran");
  auto conn = connect(*server);
  const std::string name = unique_name(prefix);
  const std::string sql = "CREATE DATABASE " + name;
  // Concurrent CREATE DATABASE from parallel tests can collide on the
  // template (55006 object_in_use); retry a few times.
  for (int attempt = 0;; ++attempt) {
    result_ptr r(PQexec(conn.get(), sql.c_str()));
    if (r && PQresultStatus(r.get()) == PGRES_COMMAND_OK)
      break;
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    std::string msg = trim(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn.get()));
    if (attempt < 20 && state && std::string(state) == "55006") {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    throw std::runtime_error("CREATE DATABASE " + name + " failed: " + msg);
  }
  // libpq keeps the last value of a repeated keyword.
  return *server + " dbname=" + name;
}

std::string create_migrated_database(const std::string& prefix) {
  auto dsn = create_database(prefix);
  storage::migrate(dsn);
  return dsn;
}

std::string query_scalar(const std::string& dsn, const std::string& sql) {
  auto conn = connect(dsn);
  result_ptr r(PQexec(conn.get(), sql.c_str()));
  auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
    throw std::runtime_error("query failed: " + sql + ": " +
                             trim(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn.get())));
  if (st != PGRES_TUPLES_OK || PQntuples(r.get()) == 0 || PQnfields(r.get()) == 0 ||
      PQgetisnull(r.get(), 0, 0))
    return "";
  return PQgetvalue(r.get(), 0, 0);
}

std::string update_counts(const std::string& dsn, const std::string& table, long updates) {
  const std::string sql = "SELECT n_tup_upd || '/' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = '" +
                          table + "'";
  std::string counts;
  for (int i = 0; i < 250; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    counts = query_scalar(dsn, sql);
    if (std::atol(counts.c_str()) >= updates) break;
  }
  return counts;
}

}  // namespace maxsess::test
