// The command line as operators and cron use it (docs/cli.md): help and
// --version, errors that name the option, the exit codes that tell "fix the
// command" (2) from "the daemon is not there or refused" (3) from "a
// streamer failed" (1), and serve waiting for a database that is not up yet.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <sys/wait.h>

#include "tests/support/child_process.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;

namespace {

// Runs a shell line (maxsessd is $BIN) without the caller's MAXSESS_CONFIG;
// returns its exit code and fills `out` with stdout+stderr.
int sh(const std::string& line, std::string& out) {
  child_process scratch("maxsess-cli");  // a folder for the output
  std::string path = scratch.dir() + "/out";
  std::string cmd = "env -u MAXSESS_CONFIG BIN='" + maxsessd_path() + "' sh -c '" + line + "' > '" +
                    path + "' 2>&1";
  int rc = std::system(cmd.c_str());
  out = read_file(path);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

TEST(Cli, VersionAndPerCommandHelp) {
  std::string out;
  EXPECT_EQ(sh("$BIN --version", out), 0) << out;
  EXPECT_NE(out.find("maxsessd 0."), std::string::npos) << out;
  EXPECT_NE(out.find("(commit "), std::string::npos) << out;
  EXPECT_EQ(out.find("(commit )"), std::string::npos) << out;

  EXPECT_EQ(sh("$BIN --help", out), 0) << out;
  for (auto* command : {"serve", "migrate", "check-config", "playback-session:sync",
                        "playback-session:kill", "playback-session:clear"})
    EXPECT_NE(out.find(command), std::string::npos) << command << "\n" << out;

  EXPECT_EQ(sh("$BIN playback-session:sync --help", out), 0) << out;
  EXPECT_NE(out.find("--batch-size"), std::string::npos) << out;
  EXPECT_NE(out.find("--streamer-ids"), std::string::npos) << out;
  EXPECT_EQ(out.find("--timeout"), std::string::npos) << "clear's option in sync's help\n" << out;
  EXPECT_EQ(sh("$BIN serve --help", out), 0) << out;
  EXPECT_NE(out.find("--config"), std::string::npos) << out;
}

TEST(Cli, OptionErrorsNameTheOptionWithoutTheWholeUsage) {
  std::string out;
  EXPECT_EQ(sh("$BIN playback-session:sync --batch-size=0 --config /nonexistent", out), 2) << out;
  EXPECT_NE(out.find("--batch-size"), std::string::npos) << out;
  EXPECT_EQ(out.find("Subcommands:"), std::string::npos) << out;
  EXPECT_EQ(sh("$BIN playback-session:kill --streamer-ids=1,x", out), 2) << out;
  EXPECT_NE(out.find("--streamer-ids"), std::string::npos) << out;
  EXPECT_EQ(sh("$BIN serve --bogus", out), 2) << out;
  EXPECT_NE(out.find("--bogus"), std::string::npos) << out;
  EXPECT_EQ(sh("$BIN playback-session:sink", out), 2) << out;
  EXPECT_NE(out.find("unknown command 'playback-session:sink'"), std::string::npos) << out;
  EXPECT_EQ(sh("$BIN", out), 2) << out;
}

TEST(Cli, AMissingConfigurationSaysHowToGiveOne) {
  // As README's "Command line" shows it, with no --config and no
  // MAXSESS_CONFIG (and no /etc/maxsess/maxsess.yaml on a test machine).
  std::string out;
  if (sh("test -e /etc/maxsess/maxsess.yaml", out) == 0)
    GTEST_SKIP() << "/etc/maxsess/maxsess.yaml exists on this machine";
  EXPECT_EQ(sh("$BIN playback-session:sync", out), 2) << out;
  EXPECT_NE(out.find("/etc/maxsess/maxsess.yaml"), std::string::npos) << out;
  EXPECT_NE(out.find("--config"), std::string::npos) << out;
  EXPECT_NE(out.find("MAXSESS_CONFIG"), std::string::npos) << out;
  // The same file through MAXSESS_CONFIG: the hint names what was used.
  EXPECT_EQ(sh("MAXSESS_CONFIG=/nonexistent/x.yaml $BIN playback-session:sync", out), 2) << out;
  EXPECT_NE(out.find("/nonexistent/x.yaml"), std::string::npos) << out;
}

class CliWithDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
    daemon_options o;
    o.dsn = create_migrated_database("cli");
    d = std::make_unique<daemon_process>(o);
    d->start();
  }
  std::string job(const std::string& prefix, const std::string& args, int& rc) {
    std::string out;
    rc = sh(prefix + " $BIN " + args + " --config " + d->config_path(), out);
    return out;
  }
  std::unique_ptr<daemon_process> d;
};

TEST_F(CliWithDaemon, ExitCodesTellTheCommandTheDaemonAndTheStreamersApart) {
  int rc = -1;
  auto out = job("", "playback-session:sync", rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("no streamers registered"), std::string::npos) << out;

  // A cron line without the daemon's token: refused, 3, and the fix named.
  out = job("MAXSESS_ADMIN_TOKEN=not-the-token", "playback-session:sync", rc);
  EXPECT_EQ(rc, 3) << out;
  EXPECT_NE(out.find("MAXSESS_ADMIN_TOKEN"), std::string::npos) << out;
  EXPECT_EQ(out.find("not-the-token"), std::string::npos) << "a token in the output\n" << out;
  // The token from the environment wins over the file's (here: the same).
  out = job("MAXSESS_ADMIN_TOKEN=" + d->admin_token(), "playback-session:clear --timeout=60", rc);
  EXPECT_EQ(rc, 0) << out;

  // A streamer whose API refuses connections: the job ran, the streamer failed.
  http_client c("127.0.0.1", d->port());
  uint16_t dead = free_port();
  ASSERT_EQ(c.put_json("/api/v1/streamers/7",
                       R"({"host":"127.0.0.1","url":"http://127.0.0.1:)" + std::to_string(dead) + "\"}",
                       {{"Authorization", "Bearer " + d->admin_token()}}).status, 200);
  out = job("", "playback-session:sync --streamer-ids=7", rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("streamer 7: FAILED"), std::string::npos) << out;

  // The daemon gone: 3, not 1.
  d->stop();
  out = job("", "playback-session:kill", rc);
  EXPECT_EQ(rc, 3) << out;
  EXPECT_NE(out.find("cannot reach the daemon"), std::string::npos) << out;
}

// Under systemd PostgreSQL may start after maxsessd: serve retries for
// storage.startup_wait (logged), then exits 1 for the unit to restart it;
// SIGTERM during the wait stops it cleanly.
TEST(CliServe, WaitsForTheDatabaseThenGivesUpOrStopsOnSigterm) {
  daemon_options o;
  o.dsn = "host=127.0.0.1 port=" + std::to_string(free_port()) + " dbname=x user=x connect_timeout=2";
  o.env["MAXSESS__STORAGE__STARTUP_WAIT"] = "2s";
  daemon_process config_only(o);  // writes the configuration; never started
  {
    child_process serve("maxsess-wait");
    auto t0 = std::chrono::steady_clock::now();
    serve.spawn({maxsessd_path(), "serve", "--config", config_only.config_path()}, o.env);
    try {
      serve.wait_ready([] { return false; }, std::chrono::seconds(60), "serve");
      FAIL() << "serve kept running without a database";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("exited during start-up (code 1)"), std::string::npos) << e.what();
    }
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900)) << serve.log();
    EXPECT_NE(serve.log().find("cannot reach the database yet, retrying"), std::string::npos) << serve.log();
    EXPECT_NE(serve.log().find("giving up"), std::string::npos) << serve.log();
    EXPECT_NE(serve.log().find("storage.startup_wait"), std::string::npos) << serve.log();
  }
  // A long wait ends at once, cleanly, on SIGTERM (systemctl stop at boot).
  child_process serve("maxsess-wait");
  auto env = o.env;
  env["MAXSESS__STORAGE__STARTUP_WAIT"] = "10m";
  serve.spawn({maxsessd_path(), "serve", "--config", config_only.config_path()}, env);
  serve.wait_ready([&] { return serve.log().find("retrying") != std::string::npos; },
                   std::chrono::seconds(60), "the first retry line");
  EXPECT_EQ(serve.stop(std::chrono::seconds(20)), 0) << serve.log();
  EXPECT_NE(serve.log().find("stopped while waiting for the database"), std::string::npos) << serve.log();
}
