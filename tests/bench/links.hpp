#pragma once
// maxsess_bench --scenario links: the link figures of `make bench` (links.cpp).
#include <string>

#include "tests/bench/bench_common.hpp"

namespace maxsess::bench {

// Seeds one database by SQL, runs the five link windows, writes their JSON
// lines; 0 when every window ran without transport errors.
int run_links(const options& o, const std::string& server, int ncpu);

}  // namespace maxsess::bench
