// playback_session.ini (MinistraPRO): its playback_session_enabled wins over
// the YAML file; a missing or bad ini is a problem at playback_session.ini.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"

namespace mc = maxsess::config;
namespace fs = std::filesystem;

namespace {

const std::string required_yaml =
    "storage:\n"
    "  dsn: \"host=127.0.0.1\"\n"
    "security:\n"
    "  admin_token: a\n"
    "  token_secret: \"k1:s\"\n";

std::string dump(const mc::load_result& r) {
  std::string out;
  for (const auto& p : r.problems) out += "  " + mc::to_string(p) + "\n";
  return out;
}

// A fresh folder per test, removed afterwards.
class config_ini : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("maxsess-config-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  fs::path dir_;
};

TEST_F(config_ini, disables_the_feature_over_the_yaml) {
  const std::string ini = write("playback_session.ini",
                                "; MinistraPRO\n[playback]\nplayback_session_enabled = false\n");
  const auto r = mc::load_from_string(
      required_yaml + "playback_session:\n  enabled: true\n  ini: \"" + ini + "\"\n", {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.config.playback_session.enabled);
  EXPECT_EQ(r.config.playback_session.ini, ini);
}

TEST_F(config_ini, enables_the_feature_over_the_yaml) {
  const std::string ini = write("p.ini", "playback_session_enabled = On\n");
  const auto r = mc::load_from_string(
      required_yaml + "playback_session:\n  enabled: false\n  ini: \"" + ini + "\"\n", {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.config.playback_session.enabled);
}

TEST_F(config_ini, without_the_key_the_yaml_value_stays) {
  const std::string ini = write("p.ini", "other_setting = 1\n");
  const auto r = mc::load_from_string(
      required_yaml + "playback_session:\n  enabled: false\n  ini: \"" + ini + "\"\n", {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.config.playback_session.enabled);
}

TEST_F(config_ini, override_path_wins_over_the_configured_one) {
  const std::string configured = write("configured.ini", "playback_session_enabled = 1\n");
  const std::string given = write("given.ini", "playback_session_enabled = 0\n");
  const auto r = mc::load_from_string(
      required_yaml + "playback_session:\n  ini: \"" + configured + "\"\n", {}, given);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.config.playback_session.enabled);
  EXPECT_EQ(r.config.playback_session.ini, given);
}

TEST_F(config_ini, path_from_the_environment) {
  const std::string ini = write("env.ini", "playback_session_enabled = no\n");
  const auto r =
      mc::load_from_string(required_yaml, {{"MAXSESS__PLAYBACK_SESSION__INI", ini}});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.config.playback_session.enabled);
}

TEST_F(config_ini, relative_path_in_a_file_is_relative_to_the_file) {
  write("playback_session.ini", "playback_session_enabled = false\n");
  const std::string yaml =
      write("maxsess.yaml", required_yaml + "playback_session:\n  ini: playback_session.ini\n");
  const auto r = mc::load_from_file(yaml, {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.config.playback_session.enabled);
  EXPECT_EQ(fs::path(r.config.playback_session.ini), dir_ / "playback_session.ini");
}

TEST_F(config_ini, missing_file_is_a_problem) {
  const std::string missing = (dir_ / "absent.ini").string();
  const auto r = mc::load_from_string(
      required_yaml + "playback_session:\n  ini: \"" + missing + "\"\n", {});
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  EXPECT_EQ(r.problems[0].path, "playback_session.ini");
  EXPECT_NE(r.problems[0].message.find(missing), std::string::npos) << r.problems[0].message;
  const auto via_override = mc::load_from_string(required_yaml, {}, missing);
  ASSERT_EQ(via_override.problems.size(), 1u) << dump(via_override);
  EXPECT_EQ(via_override.problems[0].path, "playback_session.ini");
  EXPECT_NE(via_override.problems[0].message.find("--ini"), std::string::npos);
  const auto directory = mc::load_from_string(required_yaml, {}, dir_.string());
  ASSERT_EQ(directory.problems.size(), 1u) << dump(directory);
  EXPECT_EQ(directory.problems[0].path, "playback_session.ini");
}

TEST_F(config_ini, bad_value_is_a_problem_with_file_and_line) {
  const std::string ini = write("bad.ini", "; c\nplayback_session_enabled = sometimes\n");
  const auto r = mc::load_from_string(required_yaml, {}, ini);
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  EXPECT_EQ(r.problems[0].path, "playback_session.ini");
  EXPECT_NE(r.problems[0].message.find("line 2"), std::string::npos) << r.problems[0].message;
  EXPECT_NE(r.problems[0].message.find("sometimes"), std::string::npos) << r.problems[0].message;
  EXPECT_TRUE(r.config.playback_session.enabled);  // unchanged
}

TEST_F(config_ini, no_ini_configured_reads_nothing) {
  const auto r = mc::load_from_string(required_yaml, {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.config.playback_session.ini.empty());
  EXPECT_TRUE(r.config.playback_session.enabled);
}

TEST_F(config_ini, config_file_unparseable_names_the_file) {
  const std::string yaml = write("broken.yaml", "node: [\n");
  const auto r = mc::load_from_file(yaml, {});
  ASSERT_EQ(r.problems.size(), 1u) << dump(r);
  EXPECT_EQ(r.problems[0].path, yaml);
  EXPECT_NE(r.problems[0].message.find("line"), std::string::npos);
}

}  // namespace
