#pragma once
// What the nodes of a cluster share in PostgreSQL (PRODUCT.md §6): the
// cluster's shape, its nodes' heartbeats, and the leases that give each
// shard (and each streamer's jobs) exactly one owner at a time. Used by the
// cluster's lease keeper.
//
// Time: every expiry, age and liveness is set and compared on the
// database's clock, and TTLs travel as durations, so the nodes' clocks never
// matter (only how long their requests take). expires_in and heartbeat_age
// are relative to the database's now when the statement ran.
//
// Epochs: a lease's epoch grows by one every time a node takes it without
// holding it unexpired; session writes carry (owner, epoch) and the batch
// writer fences those whose lease row says otherwise (see write_op).
//
// Synchronous over one connection and not thread-safe, like session_store.
// Every call is a single statement that is safe to repeat, so a call that
// failed because the connection dropped reconnects and runs once more;
// other failures throw storage_error. Node ids must not be empty (empty
// means single-node mode in write_op) and TTLs must be positive:
// std::invalid_argument otherwise.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/store.hpp"

namespace maxsess::storage {

namespace detail {
class connection;
struct lease_sql;
}  // namespace detail

// --- cluster shape -------------------------------------------------------------

struct cluster_meta {
  int shards = 0;
  int protocol_version = 0;
  sys_time created_at{};  // database clock
};

struct meta_check {
  bool created = false;  // this call stored the caller's values (the cluster's first run)
  bool matches = false;  // the stored shards and protocol_version are the caller's
  cluster_meta stored;   // what the database holds now
};

// --- nodes ---------------------------------------------------------------------

// What a node says about itself.
struct node_info {
  std::string node_id;
  std::string http_address;     // its HTTP API, host:port
  std::string cluster_address;  // its CAF middleman, host:port
  int protocol_version = 0;
};

// A row of cluster_nodes; the fields below node_info are the database's.
struct node_row : node_info {
  sys_time started_at{};                       // of its latest join()
  bool leaving = false;                        // mark_leaving() since its latest join()
  bool alive = false;                          // heartbeat within list_nodes' alive_within
  std::chrono::milliseconds heartbeat_age{0};  // since its latest heartbeat
};

// --- leases --------------------------------------------------------------------

struct lease {
  int64_t id = 0;  // the shard, or the streamer id
  std::string owner;
  int64_t epoch = 0;
  std::chrono::milliseconds expires_in{0};  // negative once expired
};

// A lease its holder believes it holds, for renew().
struct held_lease {
  int64_t id = 0;
  int64_t epoch = 0;
};

// One lease table (shards or streamers); obtained from shard_leases, valid
// as long as it.
class lease_table {
 public:
  // Takes the lease when there is no row, the row expired, or it is already
  // `node`'s; nullopt while another node holds it unexpired. The epoch is
  // kept only when `node` held it unexpired (a repeated acquire), else +1.
  std::optional<lease> acquire(int64_t id, const std::string& node,
                               std::chrono::milliseconds ttl);
  // The same for several ids in one statement; returns the leases taken, by
  // id (ids held by others are left out). Duplicate ids count once.
  std::vector<lease> acquire_many(std::vector<int64_t> ids, const std::string& node,
                                  std::chrono::milliseconds ttl);
  // Extends the leases still held: owner `node` and the same epoch (even if
  // expired, as long as nobody took it since). Returns their ids, sorted;
  // the others are lost and must be given up.
  std::vector<int64_t> renew(const std::string& node, const std::vector<held_lease>& held,
                             std::chrono::milliseconds ttl);
  // Expires the lease now when `node` holds it unexpired with `epoch`;
  // owner and epoch stay, so the next taker (any node) bumps the epoch.
  // False when it was not held so.
  bool release(int64_t id, const std::string& node, int64_t epoch);
  // Every row, by id; expired ones too (negative expires_in).
  std::vector<lease> list();

 private:
  friend class shard_leases;
  lease_table(detail::connection& conn, const detail::lease_sql& sql) : conn_(conn), sql_(sql) {}
  detail::connection& conn_;
  const detail::lease_sql& sql_;
};

class shard_leases {
 public:
  // lock_timeout > 0: a statement that waits longer for a row lock fails
  // (storage_error) rather than block the caller's lease rounds: a takeover
  // waiting behind a stalled writer is simply tried again next round.
  explicit shard_leases(const std::string& dsn,
                        std::chrono::milliseconds lock_timeout = std::chrono::milliseconds(0));  // throws storage_error
  ~shard_leases();
  shard_leases(const shard_leases&) = delete;
  shard_leases& operator=(const shard_leases&) = delete;

  // Stores (shards, protocol_version) when the database has no cluster_meta
  // row yet; otherwise compares. A caller that gets !matches must refuse to
  // start: the shard count decides which node owns which account.
  meta_check ensure_cluster_meta(int shards, int protocol_version);
  // nullopt: no cluster ever ran on this database (a single-node maxsessd
  // refuses a database that has the row).
  std::optional<cluster_meta> read_cluster_meta();

  // A (re)start: upserts the row with started_at = heartbeat_at = now and
  // leaving = false, so a node back under the same id is not seen leaving.
  void join(const node_info& self);
  // Upserts the row with heartbeat_at = now (addresses and protocol version
  // too); keeps started_at and leaving.
  void heartbeat(const node_info& self);
  // False when the node has no row.
  bool mark_leaving(const std::string& node_id);
  // Every node, by node_id; alive = last heartbeat less than alive_within ago.
  std::vector<node_row> list_nodes(std::chrono::milliseconds alive_within);

  // Pending and active sessions per streamer, cluster-wide (placement load).
  std::map<int64_t, int64_t> live_sessions_per_streamer();

  lease_table& shards();     // shard_leases: id = shard
  lease_table& streamers();  // streamer_leases: id = streamer id

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace maxsess::storage
