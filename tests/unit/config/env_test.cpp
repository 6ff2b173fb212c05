// Environment overrides: the named MAXSESS_* variables and the generic
// MAXSESS__SECTION__KEY form win over the file; bad values are problems
// named by the variable.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "config/config.hpp"

namespace mc = maxsess::config;
using namespace std::chrono_literals;

namespace {

const std::string file_yaml =
    "node:\n"
    "  id: from-file\n"
    "  http_listen: 127.0.0.1:8080\n"
    "storage:\n"
    "  dsn: file-dsn\n"
    "security:\n"
    "  admin_token: file-admin\n"
    "  token_secret: \"file:secret\"\n"
    "cluster:\n"
    "  listen: 127.0.0.1:4000\n"
    "  seeds: [\"127.0.0.1:4001\"]\n"
    "log:\n"
    "  level: info\n";

std::string dump(const mc::load_result& r) {
  std::string out;
  for (const auto& p : r.problems) out += "  " + mc::to_string(p) + "\n";
  return out;
}

const mc::problem* find_problem(const mc::load_result& r, const std::string& path) {
  auto it = std::find_if(r.problems.begin(), r.problems.end(),
                         [&](const mc::problem& p) { return p.path == path; });
  return it == r.problems.end() ? nullptr : &*it;
}

bool mentions(const mc::problem* p, const std::string& text) {
  return p != nullptr && p->message.find(text) != std::string::npos;
}

TEST(config_env, named_variables_win_over_the_file) {
  const mc::environment env = {
      {"MAXSESS_PG_DSN", "host=10.1.1.1 dbname=prod"},
      {"MAXSESS_HTTP_LISTEN", "0.0.0.0:9000"},
      {"MAXSESS_ADMIN_TOKEN", "env-admin"},
      {"MAXSESS_TOKEN_SECRET", "e1:env-secret,e0:old"},
      {"MAXSESS_NODE_ID", "node-env"},
      {"MAXSESS_CLUSTER_LISTEN", "10.0.0.9:4242"},
      {"MAXSESS_CLUSTER_ENABLED", "true"},
      {"MAXSESS_CLUSTER_SEEDS", "10.0.0.7:4242, 10.0.0.8:4242"},
  };
  const auto r = mc::load_from_string(file_yaml, env);
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& c = r.config;
  EXPECT_EQ(c.storage.dsn, "host=10.1.1.1 dbname=prod");
  EXPECT_EQ(c.node.http_listen, "0.0.0.0:9000");
  EXPECT_EQ(c.security.admin_token, "env-admin");
  EXPECT_EQ(c.security.token_secret, "e1:env-secret,e0:old");
  EXPECT_EQ(c.node.id, "node-env");
  EXPECT_EQ(c.cluster.listen, "10.0.0.9:4242");
  EXPECT_TRUE(c.cluster.enabled);
  EXPECT_EQ(c.cluster.seeds, (std::vector<std::string>{"10.0.0.7:4242", "10.0.0.8:4242"}));
}

TEST(config_env, required_values_can_come_from_the_environment_alone) {
  const auto r = mc::load_from_string("", {{"MAXSESS_PG_DSN", "host=x"},
                                           {"MAXSESS_ADMIN_TOKEN", "a"},
                                           {"MAXSESS_TOKEN_SECRET", "s"}});
  EXPECT_TRUE(r.ok()) << dump(r);
}

TEST(config_env, generic_form_sets_any_key) {
  const mc::environment env = {
      {"MAXSESS__PLAYBACK_SESSION__PENDING_TTL", "30s"},
      {"MAXSESS__PLAYBACK_SESSION__WEBHOOKS", "yes"},
      {"MAXSESS__PLAYBACK_SESSION__DEFAULT_MAX_SESSIONS", "5"},
      {"MAXSESS__LOG__LEVEL", "debug"},
      {"MAXSESS__log__format", "json"},  // case-insensitive names
      {"MAXSESS__SECURITY__CLIENT_TOKENS", "t1,t2"},
      {"MAXSESS__NODE__HTTP_THREADS", "4"},
      {"MAXSESS__STORAGE__BATCH_MAX_DELAY", "10ms"},
  };
  const auto r = mc::load_from_string(file_yaml, env);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config.playback_session.pending_ttl, 30s);
  EXPECT_TRUE(r.config.playback_session.webhooks);
  EXPECT_EQ(r.config.playback_session.default_max_sessions, 5);
  EXPECT_EQ(r.config.log.level, "debug");
  EXPECT_EQ(r.config.log.format, "json");
  EXPECT_EQ(r.config.security.client_tokens, (std::vector<std::string>{"t1", "t2"}));
  EXPECT_EQ(r.config.node.http_threads, 4);
  EXPECT_EQ(r.config.storage.batch_max_delay, 10ms);
}

TEST(config_env, named_variable_wins_over_the_generic_form) {
  const auto r = mc::load_from_string(file_yaml, {{"MAXSESS__STORAGE__DSN", "generic"},
                                                  {"MAXSESS_PG_DSN", "named"}});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config.storage.dsn, "named");
}

TEST(config_env, empty_list_variable_clears_the_list) {
  const auto r = mc::load_from_string(file_yaml, {{"MAXSESS_CLUSTER_SEEDS", ""}});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.config.cluster.seeds.empty());
}

TEST(config_env, bad_values_are_named_by_the_variable) {
  const mc::environment env = {
      {"MAXSESS_CLUSTER_ENABLED", "maybe"},
      {"MAXSESS__PLAYBACK_SESSION__PENDING_TTL", "abc"},
      {"MAXSESS__NODE__HTTP_THREADS", "many"},
  };
  const auto r = mc::load_from_string(file_yaml, env);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS_CLUSTER_ENABLED"), "true or false")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS__PLAYBACK_SESSION__PENDING_TTL"),
                       "write a duration like 30s"))
      << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS__NODE__HTTP_THREADS"), "whole number")) << dump(r);
  EXPECT_EQ(r.problems.size(), 3u) << dump(r);
  // The file's values stay where the variable was bad.
  EXPECT_FALSE(r.config.cluster.enabled);
  EXPECT_EQ(r.config.playback_session.pending_ttl, 60s);
}

TEST(config_env, invalid_values_from_variables_name_the_variable) {
  const auto r = mc::load_from_string(file_yaml, {{"MAXSESS_HTTP_LISTEN", "nonsense"},
                                                  {"MAXSESS__LOG__LEVEL", "loud"},
                                                  {"MAXSESS_PG_DSN", ""}});
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS_HTTP_LISTEN"), "node.http_listen")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS_HTTP_LISTEN"), "host:port")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS__LOG__LEVEL"), "debug, info, warn or error"))
      << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS_PG_DSN"), "storage.dsn is required")) << dump(r);
  EXPECT_EQ(r.problems.size(), 3u) << dump(r);
}

TEST(config_env, cluster_enabled_from_the_environment_checks_the_cluster_keys) {
  const auto r = mc::load_from_string(file_yaml, {{"MAXSESS_CLUSTER_ENABLED", "true"},
                                                  {"MAXSESS_CLUSTER_SEEDS", "ok:1,broken"}});
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS_CLUSTER_SEEDS"), "'broken'")) << dump(r);
  EXPECT_EQ(r.problems.size(), 1u) << dump(r);
}

TEST(config_env, unknown_generic_keys_are_problems) {
  const auto r = mc::load_from_string(file_yaml, {{"MAXSESS__LOG__COLOUR", "red"},
                                                  {"MAXSESS__STREAMERS__URL", "x"},
                                                  {"MAXSESS__LOG", "x"},
                                                  {"MAXSESS__A__B__C", "x"}});
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS__LOG__COLOUR"), "level, format")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS__STREAMERS__URL"), "known sections")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS__LOG"), "MAXSESS__SECTION__KEY")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "MAXSESS__A__B__C"), "MAXSESS__SECTION__KEY")) << dump(r);
  EXPECT_EQ(r.problems.size(), 4u) << dump(r);
}

TEST(config_env, other_maxsess_variables_are_left_alone) {
  // Test harness and tool variables share the prefix; they are not config.
  const auto r = mc::load_from_string(file_yaml, {{"MAXSESS_TEST_PG_DIR", "/tmp/x"},
                                                  {"MAXSESS_BIN", "/bin/true"}});
  EXPECT_TRUE(r.ok()) << dump(r);
}

TEST(config_env, process_environment_reads_only_maxsess_variables) {
  ASSERT_EQ(setenv("MAXSESS_UNIT_TEST_PROBE", "a=b", 1), 0);
  ASSERT_EQ(setenv("NOT_MAXSESS_PROBE", "x", 1), 0);
  const auto env = mc::process_environment();
  unsetenv("MAXSESS_UNIT_TEST_PROBE");
  unsetenv("NOT_MAXSESS_PROBE");
  ASSERT_EQ(env.count("MAXSESS_UNIT_TEST_PROBE"), 1u);
  EXPECT_EQ(env.at("MAXSESS_UNIT_TEST_PROBE"), "a=b");
  EXPECT_EQ(env.count("NOT_MAXSESS_PROBE"), 0u);
  for (const auto& [name, value] : env) EXPECT_EQ(name.rfind("MAXSESS_", 0), 0u) << name;
}

}  // namespace
