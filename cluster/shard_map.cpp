#include "cluster/shard_map.hpp"

namespace maxsess::cluster {

shard_map::shard_map(int shard_count)
    : owners_(static_cast<std::size_t>(shard_count > 0 ? shard_count : 0)) {}

shard_map shard_map::from_rows(int shard_count, const std::vector<lease_row>& rows) {
  shard_map m(shard_count);
  for (const auto& r : rows)
    if (!m.set(r))
      ++m.skipped_;
  return m;
}

bool shard_map::set(const lease_row& row) {
  if (row.shard < 0 || row.shard >= shard_count())
    return false;
  owners_[static_cast<std::size_t>(row.shard)] = shard_owner{row.owner, row.epoch, row.expires_at};
  return true;
}

void shard_map::clear(int shard) {
  if (shard >= 0 && shard < shard_count())
    owners_[static_cast<std::size_t>(shard)].reset();
}

std::optional<shard_owner> shard_map::owner_of(int shard) const {
  if (shard < 0 || shard >= shard_count())
    return std::nullopt;
  return owners_[static_cast<std::size_t>(shard)];
}

std::vector<int> shard_map::shards_of(const std::string& node) const {
  std::vector<int> out;
  for (int s = 0; s < shard_count(); ++s)
    if (const auto& o = owners_[static_cast<std::size_t>(s)]; o && o->node == node)
      out.push_back(s);
  return out;
}

std::vector<int> shard_map::shards_of(const std::string& node, sys_time now) const {
  std::vector<int> out;
  for (int s = 0; s < shard_count(); ++s)
    if (const auto& o = owners_[static_cast<std::size_t>(s)];
        o && o->node == node && !o->expired_at(now))
      out.push_back(s);
  return out;
}

std::map<std::string, int> shard_map::counts() const {
  std::map<std::string, int> out;
  for (const auto& o : owners_)
    if (o)
      ++out[o->node];
  return out;
}

std::map<std::string, int> shard_map::counts(sys_time now) const {
  std::map<std::string, int> out;
  for (const auto& o : owners_)
    if (o && !o->expired_at(now))
      ++out[o->node];
  return out;
}

std::vector<int> shard_map::free_at(sys_time now) const {
  std::vector<int> out;
  for (int s = 0; s < shard_count(); ++s)
    if (const auto& o = owners_[static_cast<std::size_t>(s)]; !o || o->expired_at(now))
      out.push_back(s);
  return out;
}

}  // namespace maxsess::cluster
