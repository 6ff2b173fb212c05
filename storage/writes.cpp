#include "storage/writes.hpp"

#include <algorithm>
#include <string>

#include "storage/rows.hpp"
#include "storage/sql.hpp"

namespace maxsess::storage {

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

namespace detail {

namespace {

// Statements per pipeline round trip in apply_ops(): bounds what is in
// flight so neither side can block on a full socket buffer.
constexpr std::size_t pipeline_chunk = 64;

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

}  // namespace

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

}  // namespace detail
}  // namespace maxsess::storage
