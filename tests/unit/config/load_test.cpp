// Loading the YAML file: defaults, a full file, and every kind of problem
// reported with its key path, all at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "config/config.hpp"

namespace mc = maxsess::config;
using namespace std::chrono_literals;

namespace {

// The three required values; everything else defaults.
const std::string required_yaml =
    "storage:\n"
    "  dsn: \"host=127.0.0.1 dbname=maxsess\"\n"
    "security:\n"
    "  admin_token: admin-secret\n"
    "  token_secret: \"k1:s3cret\"\n";

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

std::size_t count_problems(const mc::load_result& r, const std::string& path) {
  return static_cast<std::size_t>(std::count_if(
      r.problems.begin(), r.problems.end(), [&](const mc::problem& p) { return p.path == path; }));
}

bool mentions(const mc::problem* p, const std::string& text) {
  return p != nullptr && p->message.find(text) != std::string::npos;
}

mc::load_result load(const std::string& yaml) { return mc::load_from_string(yaml, {}); }

TEST(config_defaults, match_the_product_spec) {
  const mc::daemon_config c;
  EXPECT_EQ(c.node.id, "node-1");
  EXPECT_EQ(c.node.http_listen, "127.0.0.1:8080");
  EXPECT_EQ(c.playback_session.enabled, true);
  EXPECT_EQ(c.playback_session.default_max_sessions, 3);
  EXPECT_EQ(c.playback_session.pending_ttl, 60s);
  EXPECT_EQ(c.playback_session.stale_after, 180s);
  EXPECT_EQ(c.playback_session.link_ttl, 10min);
  EXPECT_EQ(c.playback_session.auth_duration, 30s);
  EXPECT_EQ(c.playback_session.webhooks, false);
  EXPECT_EQ(c.playback_session.sync_interval, 60s);
  EXPECT_EQ(c.playback_session.batch_size, 100);
  EXPECT_EQ(c.playback_session.kill_interval, 300s);
  EXPECT_EQ(c.playback_session.clear_interval, 24h);
  EXPECT_EQ(c.playback_session.clear_timeout, 120s);
  EXPECT_EQ(c.playback_session.events_keep, 720h);
  EXPECT_EQ(c.cluster.enabled, false);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, "text");
}

TEST(config_load, defaults_fill_everything_but_the_required_keys) {
  const auto r = load(required_yaml);
  ASSERT_TRUE(r.ok()) << dump(r);
  const mc::daemon_config defaults;
  EXPECT_EQ(r.config.storage.dsn, "host=127.0.0.1 dbname=maxsess");
  EXPECT_EQ(r.config.security.admin_token, "admin-secret");
  EXPECT_EQ(r.config.security.token_secret, "k1:s3cret");
  EXPECT_EQ(r.config.node.http_listen, defaults.node.http_listen);
  EXPECT_EQ(r.config.playback_session.stale_after, defaults.playback_session.stale_after);
  EXPECT_EQ(r.config.cluster.shards, defaults.cluster.shards);
  EXPECT_TRUE(r.config.security.client_tokens.empty());
}

TEST(config_load, empty_text_reports_exactly_the_three_required_keys) {
  for (const std::string text : {"", "# only a comment\n", "node:\nstorage:\n"}) {
    const auto r = load(text);
    ASSERT_EQ(r.problems.size(), 3u) << "'" << text << "'\n" << dump(r);
    const auto* dsn = find_problem(r, "storage.dsn");
    const auto* admin = find_problem(r, "security.admin_token");
    const auto* secret = find_problem(r, "security.token_secret");
    ASSERT_TRUE(dsn && admin && secret) << dump(r);
    EXPECT_TRUE(mentions(dsn, "MAXSESS_PG_DSN")) << dsn->message;
    EXPECT_TRUE(mentions(admin, "MAXSESS_ADMIN_TOKEN")) << admin->message;
    EXPECT_TRUE(mentions(secret, "MAXSESS_TOKEN_SECRET")) << secret->message;
    EXPECT_TRUE(mentions(dsn, "required"));
  }
}

TEST(config_load, full_valid_file_sets_every_key) {
  const auto r = load(R"(
node:
  id: edge-7
  http_listen: "[::1]:9090"
  http_threads: 8
  http_body_limit: 1048576
  http_read_timeout: 10s
  request_timeout: 2500ms
storage:
  dsn: "host=db port=5432 dbname=maxsess user=maxsess"
  batch_max_rows: 512
  batch_max_delay: 5ms
  read_connections: 4
  write_connections: 3
security:
  admin_token: adm
  client_tokens: [portal-a, portal-b]
  token_secret: "new:s2,old:s1"
playback_session:
  enabled: false
  ini: ""
  default_max_sessions: 0
  pending_ttl: 45s
  stale_after: 5m
  link_ttl: 1h30m
  auth_duration: 20s
  webhooks: true
  sync_interval: 2m
  batch_size: 500
  kill_interval: 1m
  clear_interval: 12h
  clear_timeout: 0s
  events_keep: 0s
  idle_passivate: 10m
cluster:
  enabled: true
  listen: 10.0.0.5:4242
  seeds:
    - 10.0.0.6:4242
    - "[fd00::7]:4242"
  shards: 1024
  lease_ttl: 15s
log:
  level: DEBUG
  format: json
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& c = r.config;
  EXPECT_EQ(c.node.id, "edge-7");
  EXPECT_EQ(c.node.http_listen, "[::1]:9090");
  EXPECT_EQ(c.node.http_threads, 8);
  EXPECT_EQ(c.node.http_body_limit, 1048576u);
  EXPECT_EQ(c.node.http_read_timeout, 10s);
  EXPECT_EQ(c.node.request_timeout, 2500ms);
  EXPECT_EQ(c.storage.dsn, "host=db port=5432 dbname=maxsess user=maxsess");
  EXPECT_EQ(c.storage.batch_max_rows, 512);
  EXPECT_EQ(c.storage.batch_max_delay, 5ms);
  EXPECT_EQ(c.storage.read_connections, 4);
  EXPECT_EQ(c.storage.write_connections, 3);
  EXPECT_EQ(c.security.admin_token, "adm");
  EXPECT_EQ(c.security.client_tokens, (std::vector<std::string>{"portal-a", "portal-b"}));
  EXPECT_EQ(c.security.token_secret, "new:s2,old:s1");
  EXPECT_EQ(c.playback_session.enabled, false);
  EXPECT_EQ(c.playback_session.ini, "");
  EXPECT_EQ(c.playback_session.default_max_sessions, 0);
  EXPECT_EQ(c.playback_session.pending_ttl, 45s);
  EXPECT_EQ(c.playback_session.stale_after, 5min);
  EXPECT_EQ(c.playback_session.link_ttl, 90min);
  EXPECT_EQ(c.playback_session.auth_duration, 20s);
  EXPECT_EQ(c.playback_session.webhooks, true);
  EXPECT_EQ(c.playback_session.sync_interval, 2min);
  EXPECT_EQ(c.playback_session.batch_size, 500);
  EXPECT_EQ(c.playback_session.kill_interval, 1min);
  EXPECT_EQ(c.playback_session.clear_interval, 12h);
  EXPECT_EQ(c.playback_session.clear_timeout, 0s);
  EXPECT_EQ(c.playback_session.events_keep, 0s);
  EXPECT_EQ(c.playback_session.idle_passivate, 10min);
  EXPECT_EQ(c.cluster.enabled, true);
  EXPECT_EQ(c.cluster.listen, "10.0.0.5:4242");
  EXPECT_EQ(c.cluster.seeds, (std::vector<std::string>{"10.0.0.6:4242", "[fd00::7]:4242"}));
  EXPECT_EQ(c.cluster.shards, 1024);
  EXPECT_EQ(c.cluster.lease_ttl, 15s);
  EXPECT_EQ(c.log.level, "debug");  // normalised to lower case
  EXPECT_EQ(c.log.format, "json");
}

TEST(config_load, bare_number_durations_are_seconds) {
  const auto r = load(required_yaml + "playback_session:\n  pending_ttl: 90\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config.playback_session.pending_ttl, 90s);
}

TEST(config_errors, unknown_nested_key_names_its_path_and_the_known_keys) {
  const auto r = load(required_yaml + "playback_session:\n  pending_tll: 30s\n");
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  const auto& p = r.problems[0];
  EXPECT_EQ(p.path, "playback_session.pending_tll");
  EXPECT_NE(p.message.find("unknown key"), std::string::npos) << p.message;
  EXPECT_NE(p.message.find("did you mean 'pending_ttl'"), std::string::npos) << p.message;
  EXPECT_NE(p.message.find("known keys are: enabled, mode, ini, default_max_sessions"),
            std::string::npos)
      << p.message;
  EXPECT_NE(p.message.find("line 7"), std::string::npos) << p.message;
}

TEST(config_errors, unknown_section_is_a_problem) {
  const auto r = load(required_yaml + "streamers:\n  - id: 1\n");
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  EXPECT_EQ(r.problems[0].path, "streamers");
  EXPECT_TRUE(mentions(&r.problems[0], "known keys are: node, storage, security, playback_session, "
                                       "cluster, log"))
      << r.problems[0].message;
}

TEST(config_errors, wrong_type_names_the_path_and_the_fix) {
  const auto r = load(required_yaml +
                      "playback_session:\n"
                      "  pending_ttl: abc\n"
                      "  enabled: maybe\n"
                      "  batch_size: ten\n"
                      "  default_max_sessions: 2.5\n");
  const auto* ttl = find_problem(r, "playback_session.pending_ttl");
  ASSERT_NE(ttl, nullptr) << dump(r);
  EXPECT_TRUE(mentions(ttl, "'abc'")) << ttl->message;
  EXPECT_TRUE(mentions(ttl, "write a duration like 30s, 5m, 24h")) << ttl->message;
  EXPECT_TRUE(mentions(find_problem(r, "playback_session.enabled"), "true or false")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "playback_session.batch_size"), "whole number")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "playback_session.default_max_sessions"), "whole number"))
      << dump(r);
  EXPECT_EQ(r.problems.size(), 4u) << dump(r);
}

TEST(config_errors, structure_mismatches) {
  const auto r = load(required_yaml +
                      "node: 5\n"
                      "cluster:\n"
                      "  seeds: 10.0.0.1:4242\n"
                      "  shards: [1, 2]\n"
                      "  lease_ttl:\n"
                      "log:\n"
                      "  level: {a: b}\n");
  EXPECT_TRUE(mentions(find_problem(r, "node"), "expected a mapping")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "cluster.seeds"), "expected a list")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "cluster.shards"), "got a list")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "cluster.lease_ttl"), "has no value")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "log.level"), "got a mapping")) << dump(r);
  EXPECT_EQ(r.problems.size(), 5u) << dump(r);
}

TEST(config_errors, bad_list_entries_name_their_index) {
  const auto r = load(required_yaml.substr(0, required_yaml.find("security:")) +
                      "security:\n"
                      "  admin_token: a\n"
                      "  token_secret: k:s\n"
                      "  client_tokens:\n"
                      "    - good\n"
                      "    - [nested]\n"
                      "    - \"has blank\"\n");
  EXPECT_TRUE(mentions(find_problem(r, "security.client_tokens[1]"), "plain value")) << dump(r);
  EXPECT_EQ(r.problems.size(), 1u) << dump(r);  // the list was not taken, so no blank check
  const auto blank = load(required_yaml + "  client_tokens: [\"good\", \"has blank\"]\n");
  EXPECT_TRUE(mentions(find_problem(blank, "security.client_tokens[1]"), "no blanks"))
      << dump(blank);
}

TEST(config_errors, duplicate_keys_are_reported) {
  const auto r = load(required_yaml + "log:\n  level: info\n  level: debug\n");
  EXPECT_TRUE(mentions(find_problem(r, "log.level"), "twice")) << dump(r);
  const auto sections = load(required_yaml + "log:\n  level: info\nlog:\n  format: json\n");
  EXPECT_TRUE(mentions(find_problem(sections, "log"), "twice")) << dump(sections);
}

TEST(config_errors, bad_durations_and_zero_durations) {
  for (const std::string bad : {"-5s", "5 minutes", "1.5h", "30S", "5d"}) {
    const auto r = load(required_yaml + "playback_session:\n  link_ttl: \"" + bad + "\"\n");
    const auto* p = find_problem(r, "playback_session.link_ttl");
    ASSERT_NE(p, nullptr) << bad << "\n" << dump(r);
    EXPECT_TRUE(mentions(p, "write a duration like 30s, 5m, 24h")) << p->message;
  }
  const auto zero = load(required_yaml + "playback_session:\n  pending_ttl: 0s\n");
  EXPECT_TRUE(mentions(find_problem(zero, "playback_session.pending_ttl"), "more than 0"))
      << dump(zero);
  const auto fraction = load(required_yaml + "playback_session:\n  auth_duration: 1500ms\n");
  EXPECT_TRUE(mentions(find_problem(fraction, "playback_session.auth_duration"), "whole seconds"))
      << dump(fraction);
  // Longer than 100 years: refused with the bound, not overflowed in the
  // stale_after check (found by the config_load fuzz target).
  const auto huge = load(required_yaml + "playback_session:\n  auth_duration: 8888888999999990\n");
  EXPECT_TRUE(mentions(find_problem(huge, "playback_session.auth_duration"), "at most 876000h (100 years)"))
      << dump(huge);
}

TEST(config_errors, bad_listen_addresses) {
  for (const std::string bad : {"8080", "localhost", "127.0.0.1:", "127.0.0.1:70000", "::1:8080",
                                ":8080", "127.0.0.1:0"}) {
    const auto r = load(required_yaml + "node:\n  http_listen: \"" + bad + "\"\n");
    const auto* p = find_problem(r, "node.http_listen");
    ASSERT_NE(p, nullptr) << bad << "\n" << dump(r);
    EXPECT_TRUE(mentions(p, "host:port")) << p->message;
    EXPECT_EQ(r.problems.size(), 1u) << dump(r);
  }
}

TEST(config_errors, cluster_listen_and_seeds_are_checked_only_when_enabled) {
  const std::string cluster = "cluster:\n  listen: nonsense\n  seeds: [\"a:1\", \"b\"]\n";
  EXPECT_TRUE(load(required_yaml + cluster).ok());
  const auto r = load(required_yaml + cluster + "  enabled: true\n");
  EXPECT_TRUE(mentions(find_problem(r, "cluster.listen"), "host:port")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "cluster.seeds[1]"), "'b'")) << dump(r);
  EXPECT_EQ(r.problems.size(), 2u) << dump(r);
  const auto missing = load(required_yaml + "cluster:\n  enabled: true\n");
  EXPECT_TRUE(mentions(find_problem(missing, "cluster.listen"), "required")) << dump(missing);
}

TEST(config_errors, ranges) {
  const auto r = load("storage:\n  dsn: x\n  batch_max_rows: 0\n  read_connections: 0\n"
                      "  write_connections: 65\n"
                      "security:\n  admin_token: a\n  token_secret: s\n"
                      "node:\n  http_threads: -1\n  http_body_limit: -1\n"
                      "playback_session:\n  default_max_sessions: -1\n  batch_size: 0\n"
                      "cluster:\n  shards: 65537\n"
                      "log:\n  level: verbose\n  format: xml\n");
  for (const char* path : {"node.http_threads", "node.http_body_limit", "storage.batch_max_rows",
                           "storage.read_connections", "storage.write_connections",
                           "playback_session.default_max_sessions",
                           "playback_session.batch_size", "cluster.shards", "log.level",
                           "log.format"})
    EXPECT_EQ(count_problems(r, path), 1u) << path << "\n" << dump(r);
  // Exactly these ten: none of them stopped the others being found.
  EXPECT_EQ(r.problems.size(), 10u) << dump(r);
  EXPECT_TRUE(load(required_yaml + "node:\n  http_threads: 64\ncluster:\n  shards: 65536\n").ok());
  EXPECT_TRUE(mentions(find_problem(load(required_yaml + "node:\n  http_threads: 65\n"),
                                    "node.http_threads"),
                       "from 0 to 64"));
}

TEST(config_errors, scheduler_policy_is_stealing_or_sharing) {
  for (const char* ok : {"sharing", "stealing"})
    EXPECT_TRUE(load(required_yaml + "node:\n  scheduler_policy: " + ok + "\n").ok()) << ok;
  const auto r = load(required_yaml + "node:\n  scheduler_policy: fifo\n");
  EXPECT_TRUE(mentions(find_problem(r, "node.scheduler_policy"), "'fifo'")) << dump(r);
  EXPECT_TRUE(mentions(find_problem(r, "node.scheduler_policy"), "stealing")) << dump(r);
  EXPECT_EQ(r.problems.size(), 1u) << dump(r);
}

// The I/O threads the daemon starts with, by the cores it may use.
TEST(config_node, http_threads_zero_follows_the_cores) {
  mc::node_section n;  // the default: 0
  EXPECT_EQ(mc::http_threads_for(n, 1), 2);
  EXPECT_EQ(mc::http_threads_for(n, 2), 2);
  EXPECT_EQ(mc::http_threads_for(n, 5), 2);
  EXPECT_EQ(mc::http_threads_for(n, 6), 3);
  EXPECT_EQ(mc::http_threads_for(n, 16), 8);
  n.http_threads = 3;
  EXPECT_EQ(mc::http_threads_for(n, 16), 3);
  EXPECT_EQ(mc::http_threads_for(n, 1), 3);
}

// The writer lanes, by the cores: 2 on the 2-core class as before, 8 on 16
// cores (measured there), never more than 8 unless configured.
TEST(config_storage, write_connections_zero_follows_the_cores) {
  mc::storage_section s;  // the default: 0
  EXPECT_EQ(s.write_connections, 0);
  EXPECT_EQ(mc::write_lanes_for(s, 1), 2);
  EXPECT_EQ(mc::write_lanes_for(s, 2), 2);
  EXPECT_EQ(mc::write_lanes_for(s, 5), 2);
  EXPECT_EQ(mc::write_lanes_for(s, 6), 3);
  EXPECT_EQ(mc::write_lanes_for(s, 16), 8);
  EXPECT_EQ(mc::write_lanes_for(s, 64), 8);
  s.write_connections = 12;
  EXPECT_EQ(mc::write_lanes_for(s, 2), 12);
  EXPECT_EQ(mc::write_lanes_for(s, 64), 12);
}

TEST(config_errors, token_secret_format) {
  const std::string base = required_yaml.substr(0, required_yaml.find("  token_secret"));
  for (const std::string bad : {"k1:", "k1:a,k1:b", "bad kid:x", "k1:a,,k2:b", "k1:a,b"}) {
    const auto r = load(base + "  token_secret: \"" + bad + "\"\n");
    ASSERT_NE(find_problem(r, "security.token_secret"), nullptr) << bad << "\n" << dump(r);
    EXPECT_TRUE(mentions(find_problem(r, "security.token_secret"), "kid:secret")) << dump(r);
  }
  EXPECT_TRUE(load(base + "  token_secret: just-one-secret\n").ok());
}

TEST(config_errors, stale_after_must_cover_three_auth_checks) {
  const auto r = load(required_yaml +
                      "playback_session:\n  webhooks: true\n  auth_duration: 30s\n"
                      "  stale_after: 60s\n");
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  EXPECT_EQ(r.problems[0].path, "playback_session.stale_after");
  EXPECT_TRUE(mentions(&r.problems[0], "3 × auth_duration")) << r.problems[0].message;
  EXPECT_TRUE(mentions(&r.problems[0], "raise stale_after to 90s")) << r.problems[0].message;
  EXPECT_TRUE(load(required_yaml + "playback_session:\n  webhooks: true\n  stale_after: 90s\n")
                  .ok());
}

TEST(config_errors, stale_after_must_cover_three_syncs_without_webhooks) {
  const std::string rule = "playback_session:\n  sync_interval: 2m\n  stale_after: 3m\n";
  const auto r = load(required_yaml + rule);
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  EXPECT_EQ(r.problems[0].path, "playback_session.stale_after");
  EXPECT_TRUE(mentions(&r.problems[0], "3 × sync_interval")) << r.problems[0].message;
  EXPECT_TRUE(mentions(&r.problems[0], "6m")) << r.problems[0].message;
  EXPECT_TRUE(mentions(&r.problems[0], "webhooks: true")) << r.problems[0].message;
  // With webhooks, sync does not run and the sync rule does not apply.
  EXPECT_TRUE(load(required_yaml + rule + "  webhooks: true\n").ok());
  // Both rules broken: both reported.
  const auto both = load(required_yaml + "playback_session:\n  stale_after: 30s\n");
  EXPECT_EQ(count_problems(both, "playback_session.stale_after"), 2u) << dump(both);
}

TEST(config_errors, all_problems_are_reported_at_once) {
  const auto r = load(
      "node:\n"
      "  http_listen: nowhere\n"
      "  colour: blue\n"
      "playback_session:\n"
      "  pending_ttl: soon\n"
      "  stale_after: 10s\n"
      "log:\n"
      "  level: loud\n");
  for (const char* path : {"node.http_listen", "node.colour", "playback_session.pending_ttl",
                           "playback_session.stale_after", "log.level", "storage.dsn",
                           "security.admin_token", "security.token_secret"})
    EXPECT_NE(find_problem(r, path), nullptr) << path << "\n" << dump(r);
  EXPECT_GE(r.problems.size(), 8u);
}

TEST(config_errors, unparseable_yaml_is_one_problem_with_line_and_column) {
  const auto r = load("node:\n  id: [unclosed\nstorage: {}\n");
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  EXPECT_EQ(r.problems[0].path, "<file>");
  EXPECT_TRUE(mentions(&r.problems[0], "not valid YAML")) << r.problems[0].message;
  EXPECT_TRUE(mentions(&r.problems[0], "line ")) << r.problems[0].message;
  EXPECT_TRUE(mentions(&r.problems[0], "column ")) << r.problems[0].message;
}

TEST(config_errors, top_level_must_be_a_mapping) {
  for (const std::string text : {"just text\n", "- a\n- b\n", "a: 1\n---\nb: 2\n"}) {
    const auto r = load(text);
    ASSERT_EQ(r.problems.size(), 1u) << text << "\n" << dump(r);
    EXPECT_EQ(r.problems[0].path, "<file>");
  }
}

// Found by the config_load fuzz target (tests/fuzz/config_load/regress-*):
// yaml-cpp 0.7's LoadAll never returned on these (an endless run of empty
// documents, memory growing until the process died). ctest's timeout is
// the bound; the answer is one problem naming the file.
TEST(config_errors, text_after_a_quoted_scalar_is_refused_not_looped_on) {
  for (const std::string text : {" 'a', -\n", "'a',", "\"x\", y\n"}) {
    const auto r = load(text);
    ASSERT_EQ(r.problems.size(), 1u) << text << "\n" << dump(r);
    EXPECT_EQ(r.problems[0].path, "<file>");
  }
}

// Found by the config_load fuzz target: an empty section name gave a
// problem with an empty path (": unknown key ..."), naming nothing.
TEST(config_errors, empty_section_name_is_named_by_the_file) {
  const auto r = load("'': 1\nstorage: {dsn: x}\nsecurity: {admin_token: a, token_secret: s}\n");
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  EXPECT_EQ(r.problems[0].path, "<file>");
  EXPECT_TRUE(mentions(&r.problems[0], "empty")) << r.problems[0].message;
}

TEST(config_errors, never_throws_on_odd_input) {
  for (const std::string& text :
       {std::string("\0\0\0", 3), std::string("{{{{"), std::string("? [a]\n: b\n"),
        std::string("node: &a\n  id: x\nlog: *a\n"), std::string("node:\n  ? {a: 1}\n  : 2\n"),
        std::string(100000, '[')}) {
    mc::load_result r;
    EXPECT_NO_THROW(r = load(text));
    EXPECT_FALSE(r.ok());
  }
}

TEST(config_load, from_file_names_the_file_in_problems) {
  const auto missing = mc::load_from_file("/nonexistent/maxsess.yaml", {});
  ASSERT_EQ(missing.problems.size(), 1u);
  EXPECT_EQ(missing.problems[0].path, "/nonexistent/maxsess.yaml");
}

TEST(config_load, to_yaml_round_trips_and_redacts) {
  const auto r = load(required_yaml +
                      "  client_tokens: [portal-token-xyz]\n"
                      "playback_session:\n  link_ttl: 1h30m\n  clear_timeout: 250ms\n"
                      "cluster:\n  seeds: [\"a:1\"]\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  const std::string plain = mc::to_yaml(r.config, false);
  const auto back = load(plain);
  ASSERT_TRUE(back.ok()) << plain << dump(back);
  EXPECT_EQ(mc::to_yaml(back.config, false), plain);
  EXPECT_EQ(back.config.playback_session.link_ttl, 90min);
  EXPECT_EQ(back.config.security.client_tokens, r.config.security.client_tokens);

  mc::daemon_config c = r.config;
  c.storage.dsn = "host=db user=u password=hunter2 dbname=x";
  const std::string redacted = mc::to_yaml(c);
  EXPECT_EQ(redacted.find("hunter2"), std::string::npos) << redacted;
  EXPECT_EQ(redacted.find("admin-secret"), std::string::npos) << redacted;
  EXPECT_EQ(redacted.find("s3cret"), std::string::npos) << redacted;
  EXPECT_EQ(redacted.find("portal-token-xyz"), std::string::npos) << redacted;
  EXPECT_NE(redacted.find("host=db user=u"), std::string::npos) << redacted;
  c.storage.dsn = "postgresql://u:hunter2@db/x";
  EXPECT_EQ(mc::to_yaml(c).find("hunter2"), std::string::npos);
}

}  // namespace

namespace {

// playback_session.mode (docs/shadow.md): enforce by default, shadow on
// request, anything else a problem naming the key; the generic variable
// sets it too.
TEST(ConfigPlaybackMode, DefaultsToEnforceAndAcceptsShadow) {
  auto r = mc::load_from_string(required_yaml, {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config.playback_session.mode, "enforce");
  r = mc::load_from_string(required_yaml + "playback_session:\n  mode: shadow\n", {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config.playback_session.mode, "shadow");
  r = mc::load_from_string(required_yaml, {{"MAXSESS__PLAYBACK_SESSION__MODE", "shadow"}});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config.playback_session.mode, "shadow");
  // The effective configuration shows it and reads back.
  auto again = mc::load_from_string(mc::to_yaml(r.config, false), {});
  ASSERT_TRUE(again.ok()) << dump(again);
  EXPECT_EQ(again.config.playback_session.mode, "shadow");
}

TEST(ConfigPlaybackMode, AnotherValueIsAProblemNamingTheKey) {
  for (const char* bad : {"dry-run", "Shadow ", "", "off"}) {
    auto r = mc::load_from_string(required_yaml + "playback_session:\n  mode: \"" + bad + "\"\n", {});
    const auto* p = find_problem(r, "playback_session.mode");
    ASSERT_NE(p, nullptr) << bad << "\n" << dump(r);
    EXPECT_NE(p->message.find("enforce"), std::string::npos) << p->message;
    EXPECT_NE(p->message.find("shadow"), std::string::npos) << p->message;
  }
}

}  // namespace
