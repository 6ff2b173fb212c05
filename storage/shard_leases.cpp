#include "storage/shard_leases.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "storage/pq.hpp"
#include "storage/rows.hpp"
#include "storage/sql.hpp"

namespace maxsess::storage {

using namespace detail;

namespace {

void require_node(const std::string& node) {
  if (node.empty())
    throw std::invalid_argument("node id must not be empty");
}

int64_t ttl_ms(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0)
    throw std::invalid_argument("lease ttl must be positive");
  return static_cast<int64_t>(ttl.count());
}

std::vector<lease> leases_from(const PGresult* r) {
  std::vector<lease> out;
  for (int i = 0, n = PQntuples(r); i < n; ++i)
    out.push_back({get_int(r, i, 0), get_text(r, i, 1), get_int(r, i, 2),
                   std::chrono::milliseconds(get_int(r, i, 3))});
  return out;
}

std::vector<int64_t> ids_from(const PGresult* r) {
  std::vector<int64_t> out;
  for (int i = 0, n = PQntuples(r); i < n; ++i)
    out.push_back(get_int(r, i, 0));
  std::sort(out.begin(), out.end());
  return out;
}

param_list node_params(const node_info& self) {
  require_node(self.node_id);
  param_list p;
  p.text(self.node_id)
      .text(self.http_address)
      .text(self.cluster_address)
      .integer(int64_t{self.protocol_version});
  return p;
}

}  // namespace

// --- lease_table -------------------------------------------------------------------

std::optional<lease> lease_table::acquire(int64_t id, const std::string& node,
                                          std::chrono::milliseconds ttl) {
  auto taken = acquire_many({id}, node, ttl);
  if (taken.empty())
    return std::nullopt;
  return std::move(taken.front());
}

std::vector<lease> lease_table::acquire_many(std::vector<int64_t> ids, const std::string& node,
                                             std::chrono::milliseconds ttl) {
  require_node(node);
  auto ms = ttl_ms(ttl);
  // ON CONFLICT DO UPDATE cannot touch one row twice in a statement.
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty())
    return {};
  auto r = with_reconnect(conn_, [&](connection& c) {
    return c.exec(sql_.acquire, param_list().text(int_array(ids)).text(node).integer(ms));
  });
  auto out = leases_from(r.get());
  std::sort(out.begin(), out.end(), [](const lease& a, const lease& b) { return a.id < b.id; });
  return out;
}

std::vector<int64_t> lease_table::renew(const std::string& node,
                                        const std::vector<held_lease>& held,
                                        std::chrono::milliseconds ttl) {
  require_node(node);
  auto ms = ttl_ms(ttl);
  if (held.empty())
    return {};
  std::vector<int64_t> ids, epochs;
  for (const auto& h : held) {
    ids.push_back(h.id);
    epochs.push_back(h.epoch);
  }
  auto r = with_reconnect(conn_, [&](connection& c) {
    return c.exec(sql_.renew, param_list()
                                  .text(node)
                                  .text(int_array(ids))
                                  .text(int_array(epochs))
                                  .integer(ms));
  });
  return ids_from(r.get());
}

bool lease_table::release(int64_t id, const std::string& node, int64_t epoch) {
  require_node(node);
  auto r = with_reconnect(conn_, [&](connection& c) {
    return c.exec(sql_.release, param_list().integer(id).text(node).integer(epoch));
  });
  return PQntuples(r.get()) > 0;
}

std::vector<lease> lease_table::list() {
  auto r = with_reconnect(conn_, [&](connection& c) { return c.exec(sql_.list); });
  return leases_from(r.get());
}

// --- shard_leases ------------------------------------------------------------------

struct shard_leases::impl {
  impl(const std::string& dsn, const std::string& options)
      : conn(dsn, options), shard_table(conn, sql_shard_leases), streamer_table(conn, sql_streamer_leases) {}
  connection conn;
  lease_table shard_table;
  lease_table streamer_table;
};

shard_leases::shard_leases(const std::string& dsn, std::chrono::milliseconds lock_timeout)
    : impl_(std::make_unique<impl>(
          dsn, lock_timeout.count() > 0 ? "-c lock_timeout=" + std::to_string(lock_timeout.count()) : "")) {}
shard_leases::~shard_leases() = default;

lease_table& shard_leases::shards() { return impl_->shard_table; }
lease_table& shard_leases::streamers() { return impl_->streamer_table; }

meta_check shard_leases::ensure_cluster_meta(int shards, int protocol_version) {
  if (shards <= 0)
    throw std::invalid_argument("shard count must be positive");
  meta_check out;
  auto r = with_reconnect(impl_->conn, [&](connection& c) {
    return c.exec(sql_insert_cluster_meta,
                  param_list().integer(int64_t{shards}).integer(int64_t{protocol_version}));
  });
  out.created = PQntuples(r.get()) == 1;
  auto stored = read_cluster_meta();
  if (!stored)  // only if someone deleted the row in between
    throw storage_error("cluster_meta vanished while it was being checked");
  out.stored = *stored;
  out.matches = stored->shards == shards && stored->protocol_version == protocol_version;
  return out;
}

std::optional<cluster_meta> shard_leases::read_cluster_meta() {
  auto r = with_reconnect(impl_->conn, [](connection& c) { return c.exec(sql_read_cluster_meta); });
  if (PQntuples(r.get()) == 0)
    return std::nullopt;
  cluster_meta m;
  m.shards = static_cast<int>(get_int(r.get(), 0, 0));
  m.protocol_version = static_cast<int>(get_int(r.get(), 0, 1));
  m.created_at = from_unix_ms(get_int(r.get(), 0, 2));
  return m;
}

void shard_leases::join(const node_info& self) {
  auto p = node_params(self);
  with_reconnect(impl_->conn, [&](connection& c) { return c.exec(sql_join_node, p); });
}

void shard_leases::heartbeat(const node_info& self) {
  auto p = node_params(self);
  with_reconnect(impl_->conn, [&](connection& c) { return c.exec(sql_heartbeat_node, p); });
}

bool shard_leases::mark_leaving(const std::string& node_id) {
  require_node(node_id);
  auto r = with_reconnect(impl_->conn, [&](connection& c) {
    return c.exec(sql_mark_node_leaving, param_list().text(node_id));
  });
  return std::string(PQcmdTuples(r.get())) != "0";
}

std::map<int64_t, int64_t> shard_leases::live_sessions_per_streamer() {
  auto r = with_reconnect(impl_->conn, [](connection& c) { return c.exec(sql_live_sessions_per_streamer); });
  std::map<int64_t, int64_t> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i) out[get_int(r.get(), i, 0)] = get_int(r.get(), i, 1);
  return out;
}

std::vector<node_row> shard_leases::list_nodes(std::chrono::milliseconds alive_within) {
  auto r = with_reconnect(impl_->conn, [&](connection& c) {
    return c.exec(sql_list_nodes,
                  param_list().integer(static_cast<int64_t>(alive_within.count())));
  });
  std::vector<node_row> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
    node_row row;
    row.node_id = get_text(r.get(), i, 0);
    row.http_address = get_text(r.get(), i, 1);
    row.cluster_address = get_text(r.get(), i, 2);
    row.protocol_version = static_cast<int>(get_int(r.get(), i, 3));
    row.started_at = from_unix_ms(get_int(r.get(), i, 4));
    row.leaving = get_bool(r.get(), i, 5);
    row.alive = get_bool(r.get(), i, 6);
    row.heartbeat_age = std::chrono::milliseconds(get_int(r.get(), i, 7));
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace maxsess::storage
