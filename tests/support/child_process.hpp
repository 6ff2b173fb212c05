#pragma once
// A child process for multi-process tests (the daemon, the Flussonic
// emulator, later several cluster nodes): its own temporary folder, its
// output in a log file there, readiness by polling (never by sleeping a
// fixed time), and a stop that escalates from SIGTERM to SIGKILL.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace maxsess::test {

std::string read_file(const std::string& path);

class child_process {
 public:
  // Creates /tmp/<prefix>-XXXXXX (removed by the destructor); the log is
  // <dir>/<prefix>.log.
  explicit child_process(const std::string& prefix);
  ~child_process();  // SIGKILL if still running, then removes the folder
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  const std::string& dir() const { return dir_; }
  std::string log() const { return read_file(log_path_); }

  // Starts argv[0] (looked up in PATH) with stdout and stderr appended to
  // the log and `env` added to its environment.
  void spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

  // Polls `ready` until it holds. Throws std::runtime_error, with the log,
  // when the child exits first or `limit` passes (the child is then stopped).
  void wait_ready(const std::function<bool()>& ready, std::chrono::milliseconds limit,
                  const std::string& what);

  // SIGTERM, then SIGKILL after `grace`; the exit code (128+signal when
  // killed), -1 when not running.
  int stop(std::chrono::milliseconds grace);
  void kill9();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  std::string log_path_;
  pid_t pid_ = -1;
};

}  // namespace maxsess::test
