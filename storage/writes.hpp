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

}  // namespace maxsess::storage::detail
