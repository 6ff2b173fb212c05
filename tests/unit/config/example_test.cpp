// config/example.yaml is the configuration that "runs as is" (PRODUCT.md §5):
// it must load with no environment and no problems, and show every key.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "config/config.hpp"

namespace mc = maxsess::config;
using namespace std::chrono_literals;

namespace {

const std::string example_path = std::string(MAXSESS_SOURCE_DIR) + "/config/example.yaml";

TEST(config_example, loads_with_no_problems_and_no_environment) {
  const auto r = mc::load_from_file(example_path, {});
  std::string problems;
  for (const auto& p : r.problems) problems += mc::to_string(p) + "\n";
  ASSERT_TRUE(r.ok()) << problems;
  const auto& c = r.config;
  EXPECT_EQ(c.node.id, "node-1");
  EXPECT_EQ(c.node.http_listen, "127.0.0.1:8080");
  EXPECT_EQ(c.storage.dsn, "host=127.0.0.1 port=55432 dbname=maxsess user=maxsess");
  EXPECT_FALSE(c.security.admin_token.empty());
  EXPECT_EQ(c.security.token_secret.rfind("dev1:", 0), 0u);
  EXPECT_TRUE(c.security.client_tokens.empty());
  EXPECT_FALSE(c.cluster.enabled);
  EXPECT_TRUE(c.playback_session.enabled);
  EXPECT_TRUE(c.playback_session.ini.empty());
}

TEST(config_example, keeps_the_documented_defaults) {
  const auto r = mc::load_from_file(example_path, {});
  ASSERT_TRUE(r.ok());
  const mc::daemon_config defaults;
  // Everything but the values a deployment must give is the built-in default.
  mc::daemon_config expected = defaults;
  expected.storage.dsn = r.config.storage.dsn;
  expected.security = r.config.security;
  EXPECT_EQ(mc::to_yaml(r.config, false), mc::to_yaml(expected, false));
}

TEST(config_example, names_every_key) {
  std::ifstream in(example_path);
  ASSERT_TRUE(in) << example_path;
  std::stringstream text;
  text << in.rdbuf();
  // Every key of the effective configuration appears in the example.
  std::istringstream dump(mc::to_yaml(mc::daemon_config{}, false));
  std::string line;
  while (std::getline(dump, line)) {
    const auto colon = line.find(':');
    ASSERT_NE(colon, std::string::npos);
    const std::string key = line.substr(0, colon + 1);  // "  pending_ttl:" or "node:"
    EXPECT_NE(text.str().find("\n" + key), std::string::npos) << key;
  }
}

TEST(config_example, environment_still_overrides_it) {
  const auto r = mc::load_from_file(example_path, {{"MAXSESS_HTTP_LISTEN", "127.0.0.1:18080"},
                                                   {"MAXSESS_PG_DSN", "host=elsewhere"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.node.http_listen, "127.0.0.1:18080");
  EXPECT_EQ(r.config.storage.dsn, "host=elsewhere");
}

}  // namespace
