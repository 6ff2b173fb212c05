#pragma once
// Private to storage/: the libpq plumbing every storage part shares (one
// connection, text parameters, error translation). No SQL text here.
#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.hpp"

namespace maxsess::storage::detail {

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

// SQLSTATE of unique_violation.
inline constexpr const char* sqlstate_unique_violation = "23505";
// Among others, "cached plan must not change result type": a prepared
// statement whose result columns a migration changed (their type or
// collation) fails like this until it is prepared again.
inline constexpr const char* sqlstate_feature_not_supported = "0A000";

// libpq messages end with a newline; ours are embedded in longer ones.
std::string trimmed(const char* s);

// Parameters for PQexecParams / PQsendQueryPrepared: text, or the binary
// wire format (binary_array); nullopt is SQL NULL.
class param_list {
 public:
  param_list& text(std::string v) {
    values_.emplace_back(std::move(v));
    formats_.push_back(0);
    return *this;
  }
  param_list& binary(std::string v) {
    values_.emplace_back(std::move(v));
    formats_.push_back(1);
    binary_ = true;
    return *this;
  }
  param_list& integer(int64_t v) { return text(std::to_string(v)); }
  param_list& boolean(bool v) { return text(v ? "true" : "false"); }
  param_list& nullable_integer(const std::optional<int64_t>& v) {
    if (v)
      return integer(*v);
    values_.emplace_back(std::nullopt);
    formats_.push_back(0);
    return *this;
  }
  param_list& nullable_text(const std::optional<std::string>& v) {
    values_.push_back(v);
    formats_.push_back(0);
    return *this;
  }

  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    out.reserve(values_.size());
    for (const auto& v : values_)
      out.push_back(v ? v->c_str() : nullptr);
    return out;
  }
  // libpq's paramLengths and paramFormats: needed only when a parameter is
  // binary (nullptr otherwise: every value is a C string in text format).
  std::vector<int> lengths() const {
    std::vector<int> out;
    if (!binary_) return out;
    out.reserve(values_.size());
    for (const auto& v : values_) out.push_back(v ? static_cast<int>(v->size()) : 0);
    return out;
  }
  const int* formats() const { return binary_ ? formats_.data() : nullptr; }

 private:
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;  // 0 text, 1 binary, per value
  bool binary_ = false;
};

// A PostgreSQL text[] literal: {"a","b\"c"} (every element quoted).
std::string text_array(const std::vector<std::string>& items);

// A PostgreSQL bigint[] literal: {1,2,3}.
std::string int_array(const std::vector<int64_t>& items);

// Builds one array literal element by element (text, integers, NULLs): the
// columns of a multi-row statement (unnest of arrays) in one parameter each.
class array_literal {
 public:
  array_literal& text(const std::string& v);
  array_literal& integer(int64_t v);
  array_literal& boolean(bool v) { return raw(v ? "t" : "f"); }
  array_literal& null() { return raw("NULL"); }
  template <class T>
  array_literal& nullable_integer(const std::optional<T>& v) {
    return v ? integer(static_cast<int64_t>(*v)) : null();
  }
  array_literal& nullable_text(const std::optional<std::string>& v) { return v ? text(*v) : null(); }
  std::string done() && {
    out_ += '}';
    return std::move(out_);
  }

 private:
  array_literal& raw(const char* v);
  void sep() { out_ += out_.size() == 1 ? "" : ","; }
  std::string out_ = "{";
};

// Element types of binary_array (pg_type.oid; fixed since PostgreSQL 8/9.4).
namespace oid {
inline constexpr uint32_t boolean = 16, int8 = 20, int4 = 23, text = 25, timestamptz = 1184,
                          jsonb = 3802;
}

// One array parameter in PostgreSQL's binary format (array_recv), element by
// element: the columns of a multi-row statement with no array literal to
// quote and no array_in or per-element text input on the server (issue 7:
// the session upsert's text arrays were ≈ 14 % of PostgreSQL's CPU per
// row). The element type must be the one of the array type the statement
// casts the parameter to ($1::text[]: oid::text), or the server refuses it.
class binary_array {
 public:
  explicit binary_array(uint32_t element_oid) : oid_(element_oid) {}
  binary_array& text(std::string_view v);
  binary_array& int4(int32_t v);
  binary_array& int8(int64_t v);
  binary_array& boolean(bool v);
  // Milliseconds since the Unix epoch, sent as timestamptz (µs since 2000).
  binary_array& timestamptz_ms(int64_t unix_ms);
  binary_array& jsonb(std::string_view json);
  binary_array& null();
  std::string done() &&;

 private:
  void length(int32_t n);
  uint32_t oid_;
  int32_t count_ = 0;
  bool nulls_ = false;
  std::string body_;
};

// Throws conflict_error for a unique violation, storage_error otherwise.
[[noreturn]] void throw_result_error(const char* what, PGconn* conn, const PGresult* r);

// One libpq connection. Connects in the constructor (throws storage_error);
// ensure() resets a dropped connection.
class connection {
 public:
  // options: server settings for this session, libpq's "options" keyword
  // (e.g. "-c lock_timeout=500").
  explicit connection(const std::string& dsn, const std::string& options = {});
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  PGconn* get() const { return conn_; }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }

  // Reconnects when the connection dropped. Throws when that fails.
  void ensure();
  bool try_ensure();
  void reset();

  // Prepares a named statement once per server session.
  void prepare(const char* name, const char* sql);

  // One statement with text parameters; throws storage_error on any error.
  result_ptr exec(const char* sql, const param_list& params = {});

  // The same through a statement prepared once per server session under
  // `name` (a name always goes with the same SQL: prepare() skips names it
  // knows): no parse and, once PostgreSQL settles on its generic plan, no
  // planning per call (for the statements of the hot paths). One that a
  // migration left with other result types is prepared again, once, when
  // no transaction is open (forget_prepared: every statement of the
  // session is prepared again on its next use).
  result_ptr exec_prepared(const char* name, const char* sql, const param_list& params = {});

  // Several statements (a migration file), no parameters.
  void exec_script(const char* sql);

  // Best effort: leave an open or failed transaction block.
  void rollback_quietly();

  // Drops every statement prepared on this session (DEALLOCATE ALL), so the
  // next prepare() plans them again against the schema as it is now.
  void forget_prepared();

 private:
  void check(const PGresult* r, const char* what) const;

  PGconn* conn_ = nullptr;
  std::set<std::string> prepared_;
};

// Runs f(c) for a statement that is safe to repeat: when it fails because
// the connection dropped (server restart, idle connection killed), reconnect
// and try once more. Any other failure is thrown as is.
template <class F>
auto with_reconnect(connection& c, F&& f) -> decltype(f(c)) {
  try {
    c.ensure();
    return f(c);
  } catch (const storage_error&) {
    if (c.ok())
      throw;
  }
  c.ensure();
  return f(c);
}

}  // namespace maxsess::storage::detail
