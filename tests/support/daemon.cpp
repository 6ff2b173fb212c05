#include "tests/support/daemon.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sys/wait.h>

#include "tests/support/http_client.hpp"

namespace maxsess::test {

std::string maxsessd_path() {
  if (const char* p = std::getenv("MAXSESS_BIN"); p && *p) return p;
  return std::string(MAXSESS_BINARY_DIR) + "/maxsessd";
}

daemon_process::daemon_process(daemon_options opts)
    : opts_(std::move(opts)), child_("maxsessd-test") {
  if (opts_.port == 0) opts_.port = free_port();
  config_path_ = child_.dir() + "/maxsess.yaml";
  std::ofstream cfg(config_path_);
  cfg << "node:\n  id: test-node\n  http_listen: \"127.0.0.1:" << opts_.port << "\"\n"
      << "storage:\n  dsn: \"" << opts_.dsn << "\"\n"
      << "security:\n  admin_token: \"" << opts_.admin_token << "\"\n"
      << "  token_secret: \"t1:integration-test-secret\"\n"
      << "playback_session:\n  default_max_sessions: 3\n"
      << opts_.extra_yaml << "log:\n  level: debug\n";
}

daemon_process::~daemon_process() = default;  // the child is killed if still running

void daemon_process::start() {
  child_.spawn({maxsessd_path(), "serve", "--config", config_path_}, opts_.env);
  child_.wait_ready(
      [this] { return http_client("127.0.0.1", opts_.port).get("/readyz").status == 200; },
      std::chrono::seconds(30), "maxsessd");
}

int daemon_process::stop() { return child_.stop(std::chrono::seconds(40)); }

void daemon_process::kill9() { child_.kill9(); }

int daemon_process::run_command(const std::string& args, std::string& output) const {
  std::string out_path = child_.dir() + "/cmd.out";
  std::string env;
  for (auto& [k, v] : opts_.env) env += k + "='" + v + "' ";
  std::string cmd = env + "'" + maxsessd_path() + "' " + args + " --config '" + config_path_ +
                    "' > '" + out_path + "' 2>&1";
  int rc = std::system(cmd.c_str());
  output = read_file(out_path);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace maxsess::test
