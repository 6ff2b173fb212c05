#include "tests/support/flussonic_emu.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/support/http_client.hpp"

namespace maxsess::test {

namespace {

std::string source_dir() {
  if (const char* p = std::getenv("MAXSESS_SOURCE_DIR"); p && *p) return p;
  return MAXSESS_SOURCE_DIR;
}

// waitpid with a deadline; true when the child is gone (status filled).
bool wait_for_exit(pid_t pid, int& status, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || r < 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

bool python3_available() {
  static const bool available =
      std::system("python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' "
                  ">/dev/null 2>&1") == 0;
  return available;
}

flussonic_emulator::flussonic_emulator(options opts) : opts_(std::move(opts)) {
  if (opts_.port == 0) opts_.port = free_port();
  char tmpl[] = "/tmp/flussonic-emu-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("flussonic_emulator: mkdtemp failed");
  dir_ = tmpl;
  log_path_ = dir_ + "/flussonic_emu.log";
}

flussonic_emulator::~flussonic_emulator() {
  stop();
  const std::string cmd = "rm -rf '" + dir_ + "'";
  if (std::system(cmd.c_str()) != 0) { /* best effort */
  }
}

void flussonic_emulator::start() {
  if (pid_ > 0) throw std::runtime_error("flussonic_emulator: already started");
  const std::string script = source_dir() + "/tests/flussonic/flussonic_emu.py";
  std::vector<std::string> args = {"python3",
                                   script,
                                   "--port",
                                   std::to_string(opts_.port),
                                   "--host",
                                   "127.0.0.1",
                                   "--auth-url",
                                   opts_.auth_url,
                                   "--webhook-url",
                                   opts_.webhook_url,
                                   "--api-user",
                                   opts_.api_user,
                                   "--api-password",
                                   opts_.api_password,
                                   "--resend-timeout-ms",
                                   std::to_string(opts_.resend_timeout_ms),
                                   "--throttle-ms",
                                   std::to_string(opts_.throttle_ms),
                                   "--exit-with-parent"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("flussonic_emulator: fork failed");
  if (pid_ == 0) {
    FILE* f = std::fopen(log_path_.c_str(), "a");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    setenv("PYTHONUNBUFFERED", "1", 1);
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    execvp(argv[0], argv.data());
    _exit(127);
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("flussonic emulator exited during start-up (code " +
                               std::to_string(exit_code(status)) + "):\n" + log());
    }
    try {
      http_client c("127.0.0.1", opts_.port);
      if (c.get("/_emu/state").status == 200) return;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop();
  throw std::runtime_error("flussonic emulator not ready after 15 s:\n" + log());
}

int flussonic_emulator::stop() {
  if (pid_ <= 0) return -1;
  int status = 0;
  ::kill(pid_, SIGTERM);
  if (!wait_for_exit(pid_, status, std::chrono::seconds(5))) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  return exit_code(status);
}

std::string flussonic_emulator::api_url() const {
  return "http://127.0.0.1:" + std::to_string(opts_.port);
}

nlohmann::json flussonic_emulator::control(const std::string& method, const std::string& path,
                                           const nlohmann::json& body) const {
  http_client c("127.0.0.1", opts_.port);
  std::map<std::string, std::string> headers;
  std::string payload;
  if (!body.is_null()) {
    payload = body.dump();
    headers.emplace("Content-Type", "application/json");
  }
  const auto reply = c.request(method, path, payload, headers);
  if (reply.status < 200 || reply.status > 299) {
    throw std::runtime_error("flussonic emulator: " + method + " " + path + " -> " +
                             std::to_string(reply.status) + ": " + reply.body);
  }
  if (reply.body.empty()) return nlohmann::json::object();
  auto parsed = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return reply.body;
  return parsed;
}

nlohmann::json flussonic_emulator::play(const std::string& name, const std::string& token,
                                        const std::string& ip, bool auth) const {
  return play(nlohmann::json{{"name", name}, {"token", token}, {"ip", ip}, {"auth", auth}});
}

nlohmann::json flussonic_emulator::play(const nlohmann::json& request) const {
  return control("POST", "/_emu/play", request);
}

nlohmann::json flussonic_emulator::update(const std::string& id) const {
  return control("POST", "/_emu/update", {{"id", id}});
}

nlohmann::json flussonic_emulator::close(const std::string& id) const {
  return control("POST", "/_emu/close", {{"id", id}});
}

nlohmann::json flussonic_emulator::post_events(const nlohmann::json& body) const {
  return control("POST", "/_emu/events", {{"body", body}});
}

nlohmann::json flussonic_emulator::post_raw(const std::string& raw) const {
  return control("POST", "/_emu/events", {{"raw", raw}});
}

nlohmann::json flussonic_emulator::configure(const nlohmann::json& flags) const {
  return control("POST", "/_emu/config", flags.is_null() ? nlohmann::json::object() : flags);
}

void flussonic_emulator::flush(int timeout_ms) const {
  // The HTTP client gives up after 10 s: stay below it.
  const int t = std::clamp(timeout_ms, 0, 9000);
  const auto out = control("POST", "/_emu/flush", {{"timeout_ms", t}});
  const auto pending = out.value("pending", 0);
  if (pending != 0) {
    throw std::runtime_error("flussonic emulator: " + std::to_string(pending) +
                             " events still pending after " + std::to_string(t) + " ms");
  }
}

nlohmann::json flussonic_emulator::state() const { return control("GET", "/_emu/state"); }

void flussonic_emulator::reset(bool keep_config) const {
  control("POST", "/_emu/reset", {{"keep_config", keep_config}});
}

std::string flussonic_emulator::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace maxsess::test
