#pragma once
// A small logger: one line per event, "text" or "json" format, level
// filtering. Passed by reference to whoever logs (no global instance);
// thread-safe (one write(2)-sized line at a time under a mutex).
#include <atomic>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/clock.hpp"
#include "domain/log_value.hpp"
#include "domain/repeat_limiter.hpp"

namespace maxsess {

enum class log_level { debug, info, warn, error };
std::optional<log_level> parse_log_level(std::string_view s);

// Whether the descriptor is the stream systemd connected to the journal:
// $JOURNAL_STREAM ("DEVICE:INODE", set by systemd for a unit whose stdout or
// stderr goes to the journal) names this descriptor's device and inode. A
// child that inherited the variable while its stderr went elsewhere (a
// shell in the unit redirecting it) does not match. `journal_stream` is
// the variable's value (nullptr: unset).
bool is_journal_stream(const char* journal_stream, int fd);
// is_journal_stream(getenv("JOURNAL_STREAM"), 2)
bool stderr_is_journal();

class logger {
 public:
  using fields = std::vector<std::pair<std::string, log_value>>;
  // json=false: "2026-11-25T10:24:37.123Z info  component: message k=v k=v"
  // json=true:  {"ts":"...","level":"info","component":"...","msg":"...","k":"v","n":3}
  //   (a field given as an integer is a JSON number, any other a string)
  // repeat_every: the interval of the *_repeated lines (below).
  // journal=true (stderr is the journal: stderr_is_journal()): each line
  // starts with its syslog priority, "<3>" error, "<4>" warn, "<6>" info,
  // "<7>" debug, which journald takes as the line's priority (so
  // `journalctl -p warning` filters), and the text format leaves out its
  // timestamp: journald stamps every line itself. JSON keeps "ts" (its
  // readers parse the object, documented with it).
  static constexpr std::chrono::milliseconds default_repeat_every{10000};
  logger(std::ostream& out, log_level min, bool json, const clock_source& clock,
         std::chrono::milliseconds repeat_every = default_repeat_every, bool journal = false);
  ~logger();  // writes the counts still waiting
  logger(const logger&) = delete;
  logger& operator=(const logger&) = delete;

  bool enabled(log_level l) const { return l >= min_.load(std::memory_order_relaxed); }
  // SIGHUP applies a new log.level while other threads log: the level is
  // the only setting that changes after construction.
  void set_level(log_level l) { min_.store(l, std::memory_order_relaxed); }
  void log(log_level l, std::string_view component, std::string_view msg, const fields& kv = {});
  void debug(std::string_view c, std::string_view m, const fields& kv = {}) { log(log_level::debug, c, m, kv); }
  void info(std::string_view c, std::string_view m, const fields& kv = {}) { log(log_level::info, c, m, kv); }
  void warn(std::string_view c, std::string_view m, const fields& kv = {}) { log(log_level::warn, c, m, kv); }
  void error(std::string_view c, std::string_view m, const fields& kv = {}) { log(log_level::error, c, m, kv); }

  // For lines whose number follows the traffic (one per failed request
  // while the database is down): of each kind (level, component, message)
  // the first is written, the next ones within repeat_every are counted,
  // and one line per interval says "… (repeated N times in the last 10 s)"
  // with the last one's fields and repeated=N (docs/operations.md).
  void log_repeated(log_level l, std::string_view c, std::string_view m, const fields& kv = {});
  void warn_repeated(std::string_view c, std::string_view m, const fields& kv = {}) {
    log_repeated(log_level::warn, c, m, kv);
  }
  void error_repeated(std::string_view c, std::string_view m, const fields& kv = {}) {
    log_repeated(log_level::error, c, m, kv);
  }
  // Writes every count now (an outage ended: its counts come before the line
  // that says so).
  void flush_repeated() { write_due(true); }

 private:
  void write(log_level l, std::string_view component, std::string_view msg, const fields& kv);
  void write_due(bool everything);
  std::ostream& out_;
  std::atomic<log_level> min_;
  bool json_;
  bool journal_;
  const clock_source& clock_;
  std::mutex mutex_;  // the stream and the limiter
  repeat_limiter repeats_;
};

}  // namespace maxsess
