// Reads through a statement prepared once per connection
// (storage/pq.hpp connection::exec_prepared), as the cold loads of
// session_store::load_accounts run: PostgreSQL settles on one generic plan
// instead of parsing and planning each batch, and a statement whose result
// types a migration changed is prepared again rather than failing.
#include <libpq-fe.h>

#include <string>

#include "storage/pq.hpp"
#include "storage/sql.hpp"
#include "tests/integration/storage/storage_test_util.hpp"

namespace maxsess {
namespace {

using namespace storage_test;
using storage::detail::connection;
using storage::detail::param_list;

class StoragePreparedRead : public migrated_db {};

int plans_of(connection& c, const char* name, const char* column) {
  auto r = c.exec((std::string("SELECT ") + column + " FROM pg_prepared_statements WHERE name = $1").c_str(),
                  param_list().text(name));
  EXPECT_EQ(PQntuples(r.get()), 1) << name << " is not prepared on this connection";
  return PQntuples(r.get()) == 1 ? std::stoi(PQgetvalue(r.get(), 0, 0)) : -1;
}

TEST_F(StoragePreparedRead, TheColdLoadsSettleOnOneGenericPlan) {
  storage::session_store store(dsn);
  store.apply({upsert(full_session("a1", "d1"), 1), upsert(full_session("a2", "d1"), 1)});
  connection c(dsn);
  c.exec("ANALYZE playback_sessions");  // as autovacuum leaves a live table
  int rows = 0;
  for (int i = 0; i < 12; ++i) {
    auto r = c.exec_prepared("t_sessions_of_accounts", storage::detail::sql_sessions_of_accounts,
                             param_list().text(i % 2 ? "{a1,a2,a3}" : "{a2}"));
    rows += PQntuples(r.get());
  }
  EXPECT_EQ(rows, 6 * 2 + 6 * 1);
  // PostgreSQL plans a prepared statement with its values 5 times, then
  // keeps its generic plan when that is no dearer: planned per batch no more.
  EXPECT_GE(plans_of(c, "t_sessions_of_accounts", "generic_plans"), 6);
  EXPECT_LE(plans_of(c, "t_sessions_of_accounts", "custom_plans"), 5);
}

TEST_F(StoragePreparedRead, AStatementWhoseResultTypeChangedIsPreparedAgain) {
  connection c(dsn);
  c.exec("CREATE TABLE t_changing (v int)");
  c.exec("INSERT INTO t_changing VALUES (7)");
  const char* sql = "SELECT v FROM t_changing";
  EXPECT_STREQ(PQgetvalue(c.exec_prepared("t_changing", sql).get(), 0, 0), "7");
  // What a migration does to a column (PostgreSQL then refuses the old
  // statement: "cached plan must not change result type").
  c.exec("ALTER TABLE t_changing ALTER COLUMN v TYPE text");
  c.exec("UPDATE t_changing SET v = 'seven'");
  auto r = c.exec_prepared("t_changing", sql);
  ASSERT_EQ(PQntuples(r.get()), 1);
  EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "seven");
  // Other errors are thrown as they are.
  EXPECT_THROW(c.exec_prepared("t_missing", "SELECT v FROM t_no_such_table"), storage::storage_error);
}

}  // namespace
}  // namespace maxsess
