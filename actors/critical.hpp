#pragma once
// Actors a node cannot serve without: a shard's owner (every request and
// deadline of its accounts goes through it), the webhook actor, the
// streamer supervisor and each streamer's actor, the cluster's lease keeper
// and its entry (the other nodes' way in). CAF ends an actor whose
// handler throws; without this, such an actor's work would stop while the
// node went on answering /health as if nothing had happened (a shard
// answering errors until someone restarted the daemon, its accounts' pending
// sessions never expiring). A guarded actor that dies of an exception logs
// why and calls runtime_deps::on_fatal: the daemon exits (docs/faults.md)
// and comes back through its supervisor, its shards taken over from what
// PostgreSQL holds, as after kill -9. Nothing acknowledged is lost: an
// answer is given only once its write is durable.
//
// Account actors are not guarded: one that dies is logged by its owner and
// its account loads afresh on its next request.
// Includes CAF: for actors/ and cluster/ only.
#include <string>

#include "actors/context.hpp"

namespace maxsess::actors {

// Call first in the actor's behavior function; `what` names it in the log
// line and in on_fatal's reason ("shard 17 owner").
void guard_critical(caf::scheduled_actor* self, const context& ctx, std::string what);

}  // namespace maxsess::actors
