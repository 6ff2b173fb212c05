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
  // Whether this node may still decide for `shard` at `now` (its lease is
  // surely still its own). Checked right before every decision: a node that
  // froze and woke up must not answer from stale memory, even before its
  // lease keeper noticed. Always true on a single node.
  virtual bool serving(int shard, sys_time now) const = 0;
};

}  // namespace maxsess::actors
