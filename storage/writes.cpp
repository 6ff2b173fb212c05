#include "storage/writes.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "domain/token.hpp"
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

const char* const write_session_options = "-c enable_hashjoin=off -c enable_mergejoin=off";

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

constexpr const char* stmt_upsert_sessions = "maxsess_upsert_sessions";
constexpr const char* stmt_delete_session = "maxsess_delete_session";
constexpr const char* stmt_upsert_account = "maxsess_upsert_account";
constexpr const char* stmt_delete_account = "maxsess_delete_account";
constexpr const char* stmt_lock_shard_leases = "maxsess_lock_shard_leases";
constexpr const char* stmt_insert_events = "maxsess_insert_events";
constexpr const char* stmt_insert_progress = "maxsess_insert_progress";

// Every session upsert of a transaction as one multi-row statement (see
// sql_upsert_sessions): one binary array per column. The caller passes the
// rows in byte order of their key (plan_for sorts them), the order in which
// the progress journal's fold locks rows (migration 011): lanes never share
// a row, but a fold and a lane may, and one lock order means they cannot
// deadlock.
statement sessions_statement(const std::vector<const write_op*>& upserts) {
  static const std::string no_token;
  // In the binary format (binary_array): the element types follow the
  // casts of sql_upsert_sessions column by column.
  binary_array c[22] = {
      binary_array(oid::text),        binary_array(oid::text),  binary_array(oid::int4),
      binary_array(oid::int8),        binary_array(oid::text),  binary_array(oid::text),
      binary_array(oid::text),        binary_array(oid::int8),  binary_array(oid::int8),
      binary_array(oid::int8),        binary_array(oid::text),  binary_array(oid::jsonb),
      binary_array(oid::text),        binary_array(oid::timestamptz), binary_array(oid::timestamptz),
      binary_array(oid::timestamptz), binary_array(oid::int8),  binary_array(oid::int8),
      binary_array(oid::text),        binary_array(oid::boolean), binary_array(oid::boolean),
      binary_array(oid::text)};
  auto nullable_int8 = [](binary_array& a, const auto& v) -> binary_array& {
    return v ? a.int8(static_cast<int64_t>(*v)) : a.null();
  };
  for (const auto* op : upserts) {
    const auto& s = op->upsert().session;
    c[0].text(s.account_id);
    c[1].text(s.device_id);
    c[2].int4(op->upsert().shard);
    c[3].int8(op->upsert().epoch);
    c[4].text(to_string(s.status));
    c[5].text(to_string(s.content.type));
    c[6].text(s.content.stream);
    nullable_int8(c[7], s.content.start);
    nullable_int8(c[8], s.content.duration);
    c[9].int8(s.streamer_id);
    c[10].text(s.client_ip);
    c[11].jsonb(flussonic_to_json(s.flussonic));
    c[12].text(s.token);
    c[13].timestamptz_ms(to_unix_ms(s.started_at));
    c[14].timestamptz_ms(to_unix_ms(s.updated_at));
    if (s.ended_at)
      c[15].timestamptz_ms(to_unix_ms(*s.ended_at));
    else
      c[15].null();
    c[16].int8(s.duration_s);
    c[17].int8(s.bytes);
    if (s.reason)
      c[18].text(to_string(*s.reason));
    else
      c[18].null();
    c[19].boolean(s.exempt);
    c[20].boolean(s.over_limit);
    // Only tokens that do not name their account are ever looked up
    // (migration 009): ours stay out of the index, so a zap is a HOT update.
    c[21].text(is_signed_token(s.token) ? no_token : s.token);
  }
  param_list p;
  for (auto& col : c) p.binary(std::move(col).done());
  return {stmt_upsert_sessions, sql_upsert_sessions, std::move(p)};
}

// Every event insert of a transaction as one multi-row statement (see
// sql_insert_events), like the session upserts.
statement events_statement(const std::vector<const write_op*>& inserts) {
  array_literal c[11];
  for (const auto* op : inserts) {
    const auto& e = op->event().event;
    c[0].text(e.account_id);
    c[1].text(e.device_id);
    c[2].integer(to_unix_ms(e.at));
    c[3].text(to_string(e.kind));
    c[4].text(e.reason);
    c[5].text(e.node);
    c[6].integer(e.max_sessions);
    c[7].text(e.stream);
    c[8].integer(e.streamer_id);
    c[9].text(e.client_ip);
    c[10].text(holders_to_json(e.holders));
  }
  param_list p;
  for (auto& col : c) p.text(std::move(col).done());
  return {stmt_insert_events, sql_insert_events, std::move(p)};
}

// Every progress entry of a transaction as ONE journal row (migration 011):
// a line per entry, so the insert parses nothing and writes one tuple.
statement progress_statement(const std::vector<const write_op*>& entries) {
  std::string lines;
  lines.reserve(entries.size() * 64);
  char num[24];
  auto put = [&](int64_t v) {
    auto r = std::to_chars(num, num + sizeof num, v);
    lines.append(num, r.ptr);
  };
  for (const auto* op : entries) {
    const auto& e = op->progress();
    lines += e.account_id;
    lines += '\t';
    lines += e.device_id;
    lines += '\t';
    lines += e.session_id;
    lines += '\t';
    put(e.bytes);
    lines += '\t';
    put(e.duration_s);
    lines += '\t';
    put(to_unix_ms(e.at));
    lines += '\n';
  }
  param_list p;
  p.text(std::move(lines));
  return {stmt_insert_progress, sql_insert_progress, std::move(p)};
}

statement statement_for(const write_op& op) {
  switch (op.what) {
    case write_op::kind::upsert_session:
      return sessions_statement({&op});
    case write_op::kind::delete_session: {
      const auto& d = op.del();
      param_list p;
      p.text(d.account_id).text(d.device_id).integer(d.epoch);
      return {stmt_delete_session, sql_delete_session, std::move(p)};
    }
    case write_op::kind::upsert_account: {
      const auto& a = op.account().settings;
      param_list p;
      p.text(a.account_id).integer(a.max_sessions).boolean(a.exempt);
      return {stmt_upsert_account, sql_upsert_account, std::move(p)};
    }
    case write_op::kind::delete_account: {
      param_list p;
      p.text(op.account().settings.account_id);
      return {stmt_delete_account, sql_delete_account, std::move(p)};
    }
    case write_op::kind::insert_event:
      return events_statement({&op});
    case write_op::kind::journal_progress:
      return progress_statement({&op});
  }
  throw storage_error("unknown write_op kind");
}

write_status status_of(const write_op& op, const PGresult* r) {
  switch (op.what) {
    case write_op::kind::upsert_session:  // answered by the multi-row statement
      return write_status::ok;
    case write_op::kind::delete_session:
      if (PQntuples(r) == 1 && get_int(r, 0, 0) == 0 && get_bool(r, 0, 1))
        return write_status::fenced;
      return write_status::ok;
    case write_op::kind::upsert_account:
    case write_op::kind::delete_account:
    case write_op::kind::insert_event:
    case write_op::kind::journal_progress:
      return write_status::ok;
  }
  return write_status::ok;
}

// The lease an op is fenced on: (shard, owner, epoch); nullopt when the op
// has no owner (single-node mode).
struct lease_claim {
  int shard;
  const std::string* owner;
  int64_t epoch;
};
// Every payload but a progress entry carries the same three fields.
std::optional<lease_claim> claim_of(const write_op& op) {
  return std::visit(
      [](const auto& p) -> std::optional<lease_claim> {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, progress_entry>) {
          return std::nullopt;  // a record of a report, not an owner's write
        } else {
          if (p.owner.empty()) return std::nullopt;
          return lease_claim{p.shard, &p.owner, p.epoch};
        }
      },
      op.payload);
}

// Marks fenced every op whose claim the lease rows (shard, owner, epoch)
// do not bear out: no row, another owner, another epoch. Expiry does not
// matter: a node that takes an expired lease over updates the row, which
// waits for this transaction's FOR SHARE lock.
void fence_by_leases(const std::vector<const write_op*>& ops, const PGresult* leases,
                     std::vector<write_status>& out) {
  std::map<int64_t, std::pair<std::string, int64_t>> held;
  for (int i = 0, n = PQntuples(leases); i < n; ++i)
    held[get_int(leases, i, 0)] = {get_text(leases, i, 1), get_int(leases, i, 2)};
  for (std::size_t i = 0; i < ops.size(); ++i) {
    auto claim = claim_of(*ops[i]);
    if (!claim)
      continue;
    auto it = held.find(claim->shard);
    if (it == held.end() || it->second.first != *claim->owner ||
        it->second.second != claim->epoch)
      out[i] = write_status::fenced;
  }
}

// Runs statements through libpq's pipeline mode, in chunks of
// pipeline_chunk statements (one round trip each), so a batch costs a few
// round trips instead of one per statement. Stops after the chunk in which
// a statement failed; the transaction is then aborted on the server.
class pipeline {
 public:
  explicit pipeline(connection& c) : c_(c), conn_(c.get()) {
    if (PQenterPipelineMode(conn_) != 1)
      throw storage_error("cannot enter pipeline mode: " + trimmed(PQerrorMessage(conn_)));
  }

  bool ok() const { return first_error_.empty() && !broken_; }
  const std::string& error() const { return first_error_; }
  // SQLSTATE of the first failed statement, or nullptr.
  const char* error_state() const {
    return error_holder_ ? PQresultErrorField(error_holder_.get(), PG_DIAG_SQLSTATE) : nullptr;
  }
  void fail(std::string why) {
    if (first_error_.empty())
      first_error_ = std::move(why);
  }

  // Sends the statements and hands every successful result to
  // on_result(index, result). Does nothing once not ok().
  template <class F>
  void run(const std::vector<statement>& statements, F&& on_result) {
    const std::size_t total = statements.size();
    std::size_t next = 0;
    while (next < total && ok()) {
      std::size_t end = std::min(total, next + pipeline_chunk);
      for (std::size_t i = next; i < end; ++i) {
        const statement& st = statements[i];
        auto ptrs = st.params.pointers();
        auto lengths = st.params.lengths();
        const int* lens = lengths.empty() ? nullptr : lengths.data();
        int sent = st.name ? PQsendQueryPrepared(conn_, st.name, st.params.size(), ptrs.data(),
                                                 lens, st.params.formats(), 0)
                           : PQsendQueryParams(conn_, st.sql, st.params.size(), nullptr,
                                               ptrs.data(), lens, st.params.formats(), 0);
        if (sent != 1)
          return break_with("cannot send query: " + trimmed(PQerrorMessage(conn_)));
      }
      if (PQpipelineSync(conn_) != 1)
        return break_with("cannot send pipeline sync: " + trimmed(PQerrorMessage(conn_)));
      for (std::size_t i = next; i < end; ++i) {
        result_ptr r(PQgetResult(conn_));
        if (!r)
          return break_with("missing result in pipeline: " + trimmed(PQerrorMessage(conn_)));
        auto st = PQresultStatus(r.get());
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
          try {
            on_result(i, r.get());
          } catch (const std::exception& e) {
            // Results are still in flight: only a reset gets out cleanly.
            return break_with(e.what());
          }
        } else if (st == PGRES_PIPELINE_ABORTED) {
          // Skipped after an earlier error in this chunk.
        } else if (first_error_.empty()) {
          first_error_ = trimmed(PQresultErrorMessage(r.get()));
          if (first_error_.empty())
            first_error_ = trimmed(PQerrorMessage(conn_));
          error_holder_ = std::move(r);
        }
        // Each query's results end with a null.
        result_ptr tail(PQgetResult(conn_));
        if (tail)
          return break_with("unexpected extra result in pipeline");
      }
      result_ptr sync(PQgetResult(conn_));
      if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC)
        return break_with("pipeline out of step: " + trimmed(PQerrorMessage(conn_)));
      next = end;
    }
  }

  // Leaves pipeline mode. When the protocol state is unknown, resets the
  // connection (the server rolls the transaction back) and throws.
  void finish() {
    if (!broken_ && PQexitPipelineMode(conn_) != 1)
      broken_ = true;
    if (broken_) {
      fail(trimmed(PQerrorMessage(conn_)));
      c_.reset();
      throw storage_error("write transaction failed: " + first_error_);
    }
  }

 private:
  void break_with(std::string why) {
    fail(std::move(why));
    broken_ = true;
  }

  connection& c_;
  PGconn* conn_;
  std::string first_error_;
  result_ptr error_holder_;
  bool broken_ = false;
};

// The row an op writes, as views into the op: ops on one row compare
// equal. Sessions and account settings are different tables (`table`), so
// a put and a delete of one account coalesce, never with a session.
struct row_ref {
  int table = 0;
  std::string_view account;
  std::string_view device;
  bool operator<(const row_ref& o) const {
    return std::tie(table, account, device) < std::tie(o.table, o.account, o.device);
  }
  bool operator==(const row_ref& o) const {
    return table == o.table && account == o.account && device == o.device;
  }
};

row_ref row_of(const write_op& op) {
  switch (op.what) {
    case write_op::kind::upsert_session:
      return {0, op.upsert().session.account_id, op.upsert().session.device_id};
    case write_op::kind::delete_session:
      return {0, op.del().account_id, op.del().device_id};
    case write_op::kind::upsert_account:
    case write_op::kind::delete_account:
      return {1, op.account().settings.account_id, {}};
    case write_op::kind::insert_event:
    case write_op::kind::journal_progress:
      break;  // never coalesced (see coalesced())
  }
  return {2, {}, {}};
}

// Inserted rows (audit events) and journal lines are never coalesced.
bool coalesced(const write_op& op) {
  return op.what != write_op::kind::insert_event && op.what != write_op::kind::journal_progress;
}

// What one transaction sends for its ops. Ops on the same row are
// coalesced: each op carries the whole row (or its deletion), so only the
// last op per row is sent and its status answers the earlier ones too. All
// session upserts then go as ONE multi-row statement; deletes and account
// settings (rare) one statement each. The order between different rows
// does not matter inside one transaction; rows go in byte order of their
// key (see sessions_statement).
//
// Built by sorting op indices on views of their keys: the plan costs no
// string and no hash node per op (issue 7: its maps of copied keys were a
// tenth of a sync's CPU in the daemon).
struct write_plan {
  std::vector<statement> statements;
  // Per statement: the range of `covered` that holds the ops whose status
  // its result decides (the row's last op first, then the ones it
  // superseded). Unused for the multi-row upsert (see upsert_rows).
  std::vector<std::pair<std::size_t, std::size_t>> covers;
  std::vector<std::size_t> covered;
  std::size_t upserts_at = SIZE_MAX;  // index of the multi-row upsert, if any
  // For the multi-row upsert, one entry per row in key order (the
  // statement's order): the row and the range of `covered` it decides.
  struct row_ops {
    row_ref row;
    std::size_t begin;
    std::size_t end;
  };
  std::vector<row_ops> upsert_rows;
};

write_plan plan_for(const std::vector<const write_op*>& ops, const std::vector<write_status>& out) {
  write_plan plan;
  std::vector<row_ref> rows(ops.size());
  std::vector<std::size_t> order;
  order.reserve(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (out[i] == write_status::fenced || !coalesced(*ops[i])) continue;
    rows[i] = row_of(*ops[i]);
    order.push_back(i);
  }
  // Stable: within a row's run the ops keep their order, its last op last.
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return rows[a] < rows[b]; });
  plan.covered.reserve(ops.size());
  std::vector<const write_op*> upserts;
  for (std::size_t run = 0; run < order.size();) {
    std::size_t run_end = run + 1;
    while (run_end < order.size() && rows[order[run_end]] == rows[order[run]]) ++run_end;
    const std::size_t last = order[run_end - 1];
    const std::size_t begin = plan.covered.size();
    plan.covered.push_back(last);
    plan.covered.insert(plan.covered.end(), order.begin() + run, order.begin() + run_end - 1);
    if (ops[last]->what == write_op::kind::upsert_session) {
      upserts.push_back(ops[last]);
      plan.upsert_rows.push_back({rows[last], begin, plan.covered.size()});
    } else {
      plan.statements.push_back(statement_for(*ops[last]));
      plan.covers.emplace_back(begin, plan.covered.size());
    }
    run = run_end;
  }
  if (!upserts.empty()) {
    plan.upserts_at = plan.statements.size();
    plan.statements.push_back(sessions_statement(upserts));
    plan.covers.emplace_back(0, 0);
  }
  // Events and journal lines, each kind as one statement, in op order.
  auto add_all = [&](write_op::kind kind, statement (*make)(const std::vector<const write_op*>&)) {
    std::vector<const write_op*> group;
    const std::size_t begin = plan.covered.size();
    for (std::size_t i = 0; i < ops.size(); ++i)
      if (out[i] != write_status::fenced && ops[i]->what == kind) {
        group.push_back(ops[i]);
        plan.covered.push_back(i);
      }
    if (group.empty()) return;
    plan.statements.push_back(make(group));
    plan.covers.emplace_back(begin, plan.covered.size());
  };
  add_all(write_op::kind::insert_event, events_statement);
  add_all(write_op::kind::journal_progress, progress_statement);
  return plan;
}

}  // namespace

// BEGIN, the ops and COMMIT go through one pipeline. When some ops name an
// owner, BEGIN and the lease rows of their shards (FOR SHARE) go first, in a
// round trip of their own: which ops to send depends on the answer.
std::vector<write_status> apply_ops(connection& c, const std::vector<const write_op*>& ops) {
  c.ensure();
  std::vector<write_status> out(ops.size(), write_status::ok);
  if (ops.empty())
    return out;

  // Built before the pipeline starts, so nothing below throws while it is
  // in flight (rebuilt only when the lease check fenced some ops).
  std::vector<int64_t> lease_shards;
  for (const auto* op : ops)
    if (auto claim = claim_of(*op))
      lease_shards.push_back(claim->shard);
  std::sort(lease_shards.begin(), lease_shards.end());
  lease_shards.erase(std::unique(lease_shards.begin(), lease_shards.end()),
                      lease_shards.end());
  write_plan plan = plan_for(ops, out);

  c.prepare(stmt_upsert_sessions, sql_upsert_sessions);
  c.prepare(stmt_delete_session, sql_delete_session);
  c.prepare(stmt_upsert_account, sql_upsert_account);
  c.prepare(stmt_delete_account, sql_delete_account);
  // Prepared only when used: a transaction without events never needs the
  // table.
  if (std::any_of(ops.begin(), ops.end(),
                  [](const write_op* op) { return op->what == write_op::kind::insert_event; }))
    c.prepare(stmt_insert_events, sql_insert_events);
  if (std::any_of(ops.begin(), ops.end(),
                  [](const write_op* op) { return op->what == write_op::kind::journal_progress; }))
    c.prepare(stmt_insert_progress, sql_insert_progress);
  if (!lease_shards.empty())
    c.prepare(stmt_lock_shard_leases, sql_lock_shard_leases);

  pipeline p(c);
  std::vector<statement> statements;
  statements.push_back({nullptr, sql_begin, {}});
  if (!lease_shards.empty()) {
    statements.push_back({stmt_lock_shard_leases, sql_lock_shard_leases,
                          param_list().text(int_array(lease_shards))});
    p.run(statements, [&](std::size_t i, const PGresult* r) {
      if (i == 1)
        fence_by_leases(ops, r, out);
    });
    statements.clear();
    if (std::find(out.begin(), out.end(), write_status::fenced) != out.end())
      plan = plan_for(ops, out);  // fenced ops change nothing: leave them out
  }

  // The plan's statements, then COMMIT.
  const std::size_t first = statements.size();
  for (auto& st : plan.statements)
    statements.push_back(std::move(st));
  statements.push_back({nullptr, sql_commit, {}});

  bool committed = false;
  p.run(statements, [&](std::size_t i, const PGresult* r) {
    if (i == statements.size() - 1) {
      // COMMIT in an aborted block answers ROLLBACK; only COMMIT counts.
      committed = std::string(PQcmdStatus(const_cast<PGresult*>(r))) == "COMMIT";
      if (!committed)
        p.fail(std::string("transaction not committed: ") + PQcmdStatus(const_cast<PGresult*>(r)));
    } else if (i >= first) {
      const std::size_t k = i - first;
      if (k == plan.upserts_at) {
        // Rows not returned were fenced by the epoch check.
        for (auto& row : plan.upsert_rows)
          for (std::size_t j = row.begin; j < row.end; ++j) out[plan.covered[j]] = write_status::fenced;
        for (int n = PQntuples(r), row = 0; row < n; ++row) {
          const row_ref got{0, {PQgetvalue(r, row, 0), static_cast<std::size_t>(PQgetlength(r, row, 0))},
                            {PQgetvalue(r, row, 1), static_cast<std::size_t>(PQgetlength(r, row, 1))}};
          auto it = std::lower_bound(plan.upsert_rows.begin(), plan.upsert_rows.end(), got,
                                     [](const write_plan::row_ops& a, const row_ref& b) { return a.row < b; });
          if (it != plan.upsert_rows.end() && it->row == got)
            for (std::size_t j = it->begin; j < it->end; ++j) out[plan.covered[j]] = write_status::ok;
        }
      } else {
        const auto [begin, end] = plan.covers[k];
        const auto st = status_of(*ops[plan.covered[begin]], r);
        for (std::size_t j = begin; j < end; ++j) out[plan.covered[j]] = st;
      }
    }
  });
  p.finish();
  if (!committed) {
    c.rollback_quietly();
    std::string msg = "write transaction failed: " + p.error();
    const char* state = p.error_state();
    if (state && std::string(state) == sqlstate_unique_violation)
      throw conflict_error(msg);
    // A migration changed the result columns of a prepared statement under
    // this session (schema 12 made the returned ids COLLATE "C"): it would
    // fail at every call until prepared again, so they are all dropped and
    // the lane's retry prepares them afresh.
    if (state && std::string(state) == sqlstate_feature_not_supported)
      c.forget_prepared();
    throw storage_error(msg);
  }
  return out;
}

}  // namespace detail
}  // namespace maxsess::storage
