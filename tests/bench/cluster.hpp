#pragma once
// maxsess_bench's cluster modes (docs/performance.md, "Cluster"):
//   --cluster-compare  the same load through 1 node (cluster off, then on)
//                      and through N nodes (clients spread, then all on one)
//   --failover/--freeze  time from kill -9 / SIGSTOP of an account's owner to
//                      the first 200 for that account through a survivor
#include <chrono>
#include <string>

#include "tests/bench/bench_common.hpp"

namespace maxsess::bench {

// Watchdog budget of a run of the cluster modes.
std::chrono::seconds cluster_budget(const options& o);

// Both return the exit status: 0, or 1 when a node misbehaved (exit code,
// transport errors, a failover that never ended).
int run_cluster_compare(const options& o, const std::string& server, int ncpu);
int run_failover(const options& o, const std::string& server);

}  // namespace maxsess::bench
