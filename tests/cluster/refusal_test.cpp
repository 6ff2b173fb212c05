// What a cluster refuses at start-up, with the message an operator needs:
// another shard count, a single-node daemon on a cluster's database, a node
// id already in use elsewhere, and cluster mode without cluster.listen; a
// node row it cannot use (another protocol, an address without a port).
#include <gtest/gtest.h>

#include "tests/support/cluster.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using namespace std::chrono_literals;

namespace {

class ClusterRefusals : public cluster_test {};

// The line of `out` naming `key`, for the test log.
void show(const std::string& what, int rc, const std::string& out, const std::string& key) {
  auto at = out.find(key);
  auto from = at == std::string::npos ? 0 : out.rfind('\n', at);
  auto line = out.substr(from == std::string::npos ? 0 : from + 1);
  line = line.substr(0, line.find('\n'));
  std::cout << "[ refused  ] " << what << ": exit " << rc << ": " << line << "\n";
}

TEST_F(ClusterRefusals, MisconfiguredNodesRefuseToStartWithAClearMessage) {
  cluster_options o;
  o.nodes = 1;
  boot(o);
  std::string out;

  // A node of the same cluster with another shard count.
  const int other = c->add_node();
  auto env = c->env_of(other);
  env["MAXSESS__CLUSTER__SHARDS"] = "64";
  int rc = c->run_command("serve", env, out, 30s);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(rc, 124) << "it kept running:\n" << out;
  EXPECT_NE(out.find("cluster.shards"), std::string::npos) << out;
  EXPECT_NE(out.find("32"), std::string::npos) << "names the count to use:\n" << out;
  show("cluster.shards 64 on a 32-shard cluster", rc, out, "cluster.shards");

  // A single-node daemon on the cluster's database.
  env = c->env_of(other);
  env["MAXSESS_CLUSTER_ENABLED"] = "false";
  env.erase("MAXSESS_CLUSTER_LISTEN");
  rc = c->run_command("serve", env, out, 30s);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(rc, 124) << "it kept running:\n" << out;
  EXPECT_NE(out.find("belongs to a cluster"), std::string::npos) << out;
  EXPECT_NE(out.find("cluster.enabled"), std::string::npos) << out;
  show("cluster.enabled false on a cluster database", rc, out, "belongs to a cluster");

  // A second process under the live node's id, at another cluster address.
  env = c->env_of(other);
  env["MAXSESS_NODE_ID"] = c->node_id(0);
  rc = c->run_command("serve", env, out, 30s);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(rc, 124) << "it kept running:\n" << out;
  EXPECT_NE(out.find("node id " + c->node_id(0) + " is in use"), std::string::npos) << out;
  show("a live node's id at another address", rc, out, "is in use");

  // A node of another cluster protocol (a build being rolled out, or an old
  // one): the running node never connects to it and says so once; the two
  // only ever serve the shards they hold leases on (docs/cluster.md).
  query_scalar(c->dsn(),
               "insert into cluster_nodes (node_id, http_address, cluster_address, protocol_version)"
               " values ('old-build', '127.0.0.1:1', '127.0.0.1:1', 999) returning 1");
  EXPECT_TRUE(cluster::eventually([&] { return c->log(0).find("another protocol version") != std::string::npos; }, 10s))
      << "the running node did not say it ignores a node of another protocol version";
  query_scalar(c->dsn(), "delete from cluster_nodes where node_id = 'old-build' returning 1");

  // A node row of our protocol whose cluster address has no valid port (a
  // hand-edited row): the running node says so and goes on (parsing it used
  // to throw in the lease keeper, which now stops the daemon).
  query_scalar(c->dsn(),
               "insert into cluster_nodes (node_id, http_address, cluster_address, protocol_version)"
               " select 'bad-port', '127.0.0.1:1', '127.0.0.1:http', protocol_version"
               " from cluster_nodes where node_id = '" + c->node_id(0) + "' returning 1");
  EXPECT_TRUE(cluster::eventually([&] { return c->log(0).find("has no valid port") != std::string::npos; }, 10s))
      << "the running node did not say it ignores a node whose address has no valid port";
  EXPECT_TRUE(c->running(0));
  query_scalar(c->dsn(), "delete from cluster_nodes where node_id = 'bad-port' returning 1");

  // Cluster mode without a listen address is a configuration error.
  env = c->env_of(other);
  env.erase("MAXSESS_CLUSTER_LISTEN");
  rc = c->run_command("check-config", env, out, 30s);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("cluster.listen"), std::string::npos) << out;
  show("check-config, cluster.enabled without cluster.listen", rc, out, "cluster.listen");
  rc = c->run_command("serve", env, out, 30s);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(rc, 124) << "it kept running:\n" << out;
  EXPECT_NE(out.find("cluster.listen"), std::string::npos) << out;
  show("serve, cluster.enabled without cluster.listen", rc, out, "cluster.listen");

  // None of them disturbed the running node, and the well-configured one joins.
  EXPECT_TRUE(c->running(0));
  c->start(other);
  c->wait_balanced(30s);
}

}  // namespace
