#pragma once
// Who answers for a shard. The actors ask this interface and never know how
// it is decided: on a single node every shard is owned here for good; in
// cluster mode (cluster/) the answer follows the leases in PostgreSQL and may
// be a proxy for the owner on another node, so actors/ never depends on
// cluster/.
#include "actors/protocol.hpp"

namespace maxsess::actors {

class shard_locator {
 public:
  virtual ~shard_locator() = default;
  // Called from any thread. Never a null handle: while a shard has no live
  // owner (failover) it is an actor that answers `unavailable` to everything.
  virtual shard_actor locate(int shard) const = 0;
};

}  // namespace maxsess::actors
