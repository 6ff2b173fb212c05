#include "tests/support/daemon.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "tests/support/http_client.hpp"

namespace maxsess::test {

std::string maxsessd_path() {
  if (const char* p = std::getenv("MAXSESS_BIN"); p && *p) return p;
  return std::string(MAXSESS_BINARY_DIR) + "/maxsessd";
}

daemon_process::daemon_process(daemon_options opts) : opts_(std::move(opts)) {
  if (opts_.port == 0) opts_.port = free_port();
  char tmpl[] = "/tmp/maxsessd-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  config_path_ = dir_ + "/maxsess.yaml";
  log_path_ = dir_ + "/maxsessd.log";
  std::ofstream cfg(config_path_);
  cfg << "node:\n  id: test-node\n  http_listen: \"127.0.0.1:" << opts_.port << "\"\n"
      << "storage:\n  dsn: \"" << opts_.dsn << "\"\n"
      << "security:\n  admin_token: \"" << opts_.admin_token << "\"\n"
      << "  token_secret: \"t1:integration-test-secret\"\n"
      << "playback_session:\n  default_max_sessions: 3\n"
      << opts_.extra_yaml << "log:\n  level: debug\n";
}

daemon_process::~daemon_process() {
  if (pid_ > 0) kill9();
  std::string cmd = "rm -rf '" + dir_ + "'";
  if (std::system(cmd.c_str()) != 0) { /* best effort */ }
}

void daemon_process::start() {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    for (auto& [k, v] : opts_.env) setenv(k.c_str(), v.c_str(), 1);
    FILE* f = std::fopen(log_path_.c_str(), "a");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    auto bin = maxsessd_path();
    execl(bin.c_str(), bin.c_str(), "serve", "--config", config_path_.c_str(), nullptr);
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("maxsessd exited during start-up:\n" + log());
    }
    try {
      http_client c("127.0.0.1", opts_.port);
      if (c.get("/readyz").status == 200) return;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("maxsessd not ready after 30 s:\n" + log());
}

int daemon_process::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void daemon_process::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string daemon_process::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int daemon_process::run_command(const std::string& args, std::string& output) const {
  std::string out_path = dir_ + "/cmd.out";
  std::string env;
  for (auto& [k, v] : opts_.env) env += k + "='" + v + "' ";
  std::string cmd = env + "'" + maxsessd_path() + "' " + args + " --config '" + config_path_ +
                    "' > '" + out_path + "' 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  output = ss.str();
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace maxsess::test
