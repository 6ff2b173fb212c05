#pragma once
// Private to storage/: the SQL migrations compiled into the binary. The
// definition is generated at build time by storage/embed_migrations.cmake
// from storage/migrations/NNN_name.sql.
#include <vector>

namespace maxsess::storage::detail {

struct migration {
  int version;       // NNN of the file name
  const char* name;  // file name without ".sql", e.g. "001_initial"
  const char* sql;   // the whole file; may hold several statements
};

// In file-name order; versions are unique (checked by the generator).
// schema.cpp orders them by version.
const std::vector<migration>& embedded_migrations();

}  // namespace maxsess::storage::detail
