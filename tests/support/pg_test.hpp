#pragma once
// Throwaway databases on the test PostgreSQL started by the ctest fixture
// (scripts/pg.sh start $MAXSESS_TEST_PG_DIR writes the server DSN to
// $MAXSESS_TEST_PG_DIR/dsn). MAXSESS_TEST_DSN, when set, names a server to
// use instead. Tests skip (GTEST_SKIP) with a clear message when neither is
// available, so the unit label never needs a database.
#include <optional>
#include <string>

namespace maxsess::test {

// DSN of the server's maintenance database, or nullopt.
std::optional<std::string> server_dsn();

// Creates a fresh, empty database with a unique name and returns its DSN.
// Throws std::runtime_error on failure.
std::string create_database(const std::string& prefix = "t");

// Same, with the schema migrated to the latest version.
std::string create_migrated_database(const std::string& prefix = "t");

// Runs one SQL statement and returns the first column of the first row as
// text ("" when no row); throws on error. For assertions on the database.
std::string query_scalar(const std::string& dsn, const std::string& sql);

// "updates/HOT updates" of `table` from pg_stat_user_tables, once at least
// `updates` row updates are counted or after about 5 s (the counters are
// reported by each backend as its transaction ends or its connection closes,
// not at once). For checks that a write path changes no indexed column.
std::string update_counts(const std::string& dsn, const std::string& table, long updates);

}  // namespace maxsess::test
