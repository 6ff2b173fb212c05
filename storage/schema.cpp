#include "storage/store.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

#include "storage/migrations.hpp"
#include "storage/pq.hpp"
#include "storage/rows.hpp"
#include "storage/sql.hpp"

namespace maxsess::storage {

using namespace detail;

namespace {

// pg_advisory_lock key serialising `migrate` across processes ("maxsess!").
constexpr int64_t migrate_lock_key = 0x6d61787365737321;

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

}  // namespace maxsess::storage
