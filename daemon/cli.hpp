#pragma once
// maxsessd's command line (CLI11): subcommands with their own --help,
// --version, errors that name the option, and the exit codes that cron lines
// and systemd rely on (docs/cli.md).
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace maxsess::cli {

// Exit codes, the same for every command (docs/cli.md).
enum exit_code : int {
  ok = 0,
  failed = 1,       // the work failed: a streamer's job, a migration, a fatal serve error
  usage_error = 2,  // bad command line or configuration: fix it, retrying will not help
  unreachable = 3,  // the daemon could not be reached, refused the token or could not answer
};

struct options {
  std::string command;      // serve, migrate, check-config, playback-session:{sync,kill,clear}
  std::string config_path;  // --config, else $MAXSESS_CONFIG, else default_config_path
  bool config_from_default = false;  // neither --config nor $MAXSESS_CONFIG: say so on errors
  std::string ini_path;
  std::optional<int64_t> batch_size;
  std::vector<int64_t> streamer_ids;
  std::optional<int64_t> timeout_s;
};

inline constexpr const char* default_config_path = "/etc/maxsess/maxsess.yaml";

// Parses argv. Returns the exit code to stop with when there is nothing to
// run (help, version, an error — already printed on out/err), or nullopt
// when `opts` holds a command to run. `config_env` is $MAXSESS_CONFIG.
std::optional<int> parse(int argc, const char* const* argv, const char* config_env, options& opts,
                         std::ostream& out, std::ostream& err);

// The line a command prints when the configuration file cannot be read:
// how to point at one.
std::string config_hint(const options& opts);

}  // namespace maxsess::cli
