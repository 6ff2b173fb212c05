#pragma once
// Private to storage/: applying write_ops in one transaction, shared by
// session_store::apply and the batch_writer.
#include <vector>

#include "storage/pq.hpp"
#include "storage/store.hpp"

namespace maxsess::storage::detail {

// One transaction over ops; per-op status (fenced when the epoch check
// rejected a session write). Throws storage_error (conflict_error for a
// unique violation) when the transaction did not commit; the connection is
// then idle (rolled back) or reset.
std::vector<write_status> apply_ops(connection& c, const std::vector<const write_op*>& ops);

// Server settings of a connection that writes (libpq "options"): the
// session upsert's UPDATE must find each row through the primary key, one
// row after the other in array order. A hash or merge join would read the
// whole table once per statement (the planner picks one when it thinks a
// batch large against the table: a sync of 100 k rows then took 13 s
// instead of 3) and lock rows in another order than the progress fold.
// No write statement wants either join.
extern const char* const write_session_options;

}  // namespace maxsess::storage::detail
