#pragma once
// What nodes say to each other (over CAF remoting) and what the cluster's
// own actors say to each other (node-local). Wire types only on the first:
// actors/wire.hpp, registered by add_wire_types().
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/protocol.hpp"
#include "actors/wire.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(maxsess_cluster, caf::first_custom_type_id + 60)
  CAF_ADD_ATOM(maxsess_cluster, maxsess::atoms, hello_atom, "ms_hello")
  CAF_ADD_ATOM(maxsess_cluster, maxsess::atoms, round_atom, "ms_round")
  CAF_ADD_ATOM(maxsess_cluster, maxsess::atoms, taken_atom, "ms_taken")
  CAF_ADD_ATOM(maxsess_cluster, maxsess::atoms, fenced_atom, "ms_fenced")
  CAF_ADD_ATOM(maxsess_cluster, maxsess::atoms, peer_atom, "ms_peer")
  CAF_ADD_ATOM(maxsess_cluster, maxsess::atoms, leave_atom, "ms_leave")
  CAF_ADD_ATOM(maxsess_cluster, maxsess::atoms, status_atom, "ms_status")
  CAF_ADD_ATOM(maxsess_cluster, maxsess::atoms, released_atom, "ms_relsd")
CAF_END_TYPE_ID_BLOCK(maxsess_cluster)

namespace maxsess::cluster {

using namespace maxsess::atoms;
using namespace maxsess::actors;

// The one actor each node publishes on cluster.listen: account requests for
// shards this node owns, in wire form. A node that does not own the shard
// (any more) answers `unavailable`; the caller's node answers 503 and its
// client retries once the caller's shard map caught up.
using node_entry = caf::typed_actor<
    caf::replies_to<hello_atom, wire::node_hello>::with<wire::node_hello>,
    caf::replies_to<link_atom, wire::link_request>::with<wire::link_outcome>,
    caf::replies_to<end_atom, wire::end_request>::with<wire::end_result>,
    caf::replies_to<get_atom, std::string>::with<wire::account_answer>,
    caf::replies_to<put_atom, wire::account_settings>::with<wire::account_answer>,
    caf::replies_to<del_atom, std::string /*account*/>::with<wire::end_result>,
    caf::replies_to<auth_atom, wire::auth_request>::with<wire::auth_outcome>,
    caf::replies_to<play_atom, std::vector<wire::play_event>>::with<int32_t>,
    caf::replies_to<sync_atom, wire::sync_request>::with<wire::sync_summary>,
    caf::replies_to<closed_atom, wire::closed_by_streamer>::with<bool>,
    caf::replies_to<forget_atom, wire::forget_request>::with<bool>,
    // a job for streamers whose lease this node holds (run here, not forwarded)
    caf::replies_to<job_atom, wire::job_request>::with<wire::job_report>,
    // kills decided on the sender for streamers this node runs
    caf::reacts_to<kills_atom, std::vector<wire::kill_order>>>;

// A peer: the owner's shard requests and the streamer jobs, for one node.
using peer_actor = shard_actor::extend<caf::replies_to<job_atom, job_request>::with<job_report>,
                                       caf::reacts_to<kills_atom, std::vector<kill_order>>>;

}  // namespace maxsess::cluster
