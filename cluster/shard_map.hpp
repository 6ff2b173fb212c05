#pragma once
// Who owns which shard, as last read from the shard_leases table. Plain data:
// a snapshot, not a promise; only the lease row's epoch fences writes.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "domain/clock.hpp"

namespace maxsess::cluster {

// One row of shard_leases.
struct lease_row {
  int shard = 0;
  std::string owner;  // node id
  int64_t epoch = 0;
  sys_time expires_at{};
};

struct shard_owner {
  std::string node;
  int64_t epoch = 0;
  sys_time expires_at{};  // as the database wrote it

  // `now` should be the database's clock, read with the rows: comparing the
  // database's expiry with a node's own clock would add their skew.
  bool expired_at(sys_time now) const { return expires_at <= now; }
};

class shard_map {
 public:
  explicit shard_map(int shard_count);
  // Rows naming a shard outside [0, shard_count) are skipped and counted
  // (skipped()): they come from a cluster run with another `shards` setting.
  static shard_map from_rows(int shard_count, const std::vector<lease_row>& rows);

  int shard_count() const { return static_cast<int>(owners_.size()); }
  int skipped() const { return skipped_; }

  // false when the shard is out of range.
  bool set(const lease_row& row);
  void clear(int shard);

  // nullopt: no row (never owned, or released).
  std::optional<shard_owner> owner_of(int shard) const;
  // Ascending. With `now`, only the leases still valid at `now`.
  std::vector<int> shards_of(const std::string& node) const;
  std::vector<int> shards_of(const std::string& node, sys_time now) const;
  // Rows per owner; with `now`, valid leases per owner.
  std::map<std::string, int> counts() const;
  std::map<std::string, int> counts(sys_time now) const;
  // Shards nobody validly holds at `now`: no row, or an expired one.
  std::vector<int> free_at(sys_time now) const;

 private:
  std::vector<std::optional<shard_owner>> owners_;  // by shard
  int skipped_ = 0;
};

}  // namespace maxsess::cluster
