#pragma once
// Runs the real maxsessd binary for end-to-end tests: writes a config for a
// given database and port, starts `serve`, waits for /readyz (never on
// sleeps), stops it with SIGTERM and reports the exit status.
#include <map>
#include <string>
#include <sys/types.h>

#include "tests/support/child_process.hpp"

namespace maxsess::test {

// $MAXSESS_BIN, else <build>/daemon/maxsessd.
std::string maxsessd_path();

struct daemon_options {
  std::string dsn;
  uint16_t port = 0;  // 0: a free one
  std::string admin_token = "test-admin-token";
  std::map<std::string, std::string> env;  // extra MAXSESS_* overrides
  std::string extra_yaml;  // appended to the generated playback_session section
};

class daemon_process {
 public:
  explicit daemon_process(daemon_options opts);
  ~daemon_process();  // kills it if still running

  // Starts and waits until /readyz answers 200 (throws after 30 s, with the
  // log tail in the message).
  void start();
  // SIGTERM, then waits; returns the exit code (128+signal when killed).
  int stop();
  void kill9();
  bool running() const { return child_.running(); }
  pid_t pid() const { return child_.pid(); }  // -1 when not running

  uint16_t port() const { return opts_.port; }
  const std::string& admin_token() const { return opts_.admin_token; }
  std::string log() const { return child_.log(); }  // what it printed so far
  const std::string& config_path() const { return config_path_; }

  // Runs `maxsessd <args...>` with this daemon's config to completion;
  // returns the exit code and fills `output` (stdout+stderr).
  int run_command(const std::string& args, std::string& output) const;

 private:
  daemon_options opts_;
  child_process child_;
  std::string config_path_;
};

}  // namespace maxsess::test
