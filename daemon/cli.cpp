#include "daemon/cli.hpp"

#include <CLI/CLI.hpp>

#include <ostream>

#include "daemon/version.hpp"

namespace maxsess::cli {

namespace {

// CLI11 refuses ':' in subcommand names at creation but not when renamed, and
// matches the renamed name exactly: the middleware's cron lines
// (`playback-session:sync`) keep working unchanged.
CLI::App* job_command(CLI::App& app, const std::string& name, const std::string& description) {
  auto* sub = app.add_subcommand("job", description);
  sub->name(name);
  return sub;
}

void add_config(CLI::App* sub, options& opts) {
  sub->add_option("-c,--config", opts.config_path,
                  std::string("configuration file (default: $MAXSESS_CONFIG, then ") +
                      default_config_path + ")")
      ->type_name("FILE");
}

void add_ini(CLI::App* sub, options& opts) {
  sub->add_option("--ini", opts.ini_path, "playback_session.ini of the middleware (overrides its keys)")
      ->type_name("FILE");
}

}  // namespace

std::optional<int> parse(int argc, const char* const* argv, const char* config_env, options& opts,
                         std::ostream& out, std::ostream& err) {
  CLI::App app("maxsessd: max sessions for IPTV operators", "maxsessd");
  app.require_subcommand(1);
  app.footer(
      "Environment variables override the configuration file (docs/config.md).\n"
      "`maxsessd COMMAND --help` describes a command; exit codes: 0 ok, 1 failed,\n"
      "2 bad command line or configuration, 3 daemon unreachable or refused (docs/cli.md).");
  bool version = false;
  app.add_flag("-V,--version", version, "print the version and the git commit, then exit");

  auto* serve = app.add_subcommand("serve", "run the daemon");
  add_config(serve, opts);
  add_ini(serve, opts);
  auto* migrate = app.add_subcommand("migrate", "create or upgrade the database schema (idempotent)");
  add_config(migrate, opts);
  auto* check = app.add_subcommand("check-config",
                                   "print every configuration problem with its key path (exit 1 if any)");
  add_config(check, opts);
  add_ini(check, opts);

  // Jobs, run by the running daemon through its admin API.
  auto* sync = job_command(app, "playback-session:sync",
                           "ask the running daemon to sync sessions with the streamers' sessions APIs");
  add_config(sync, opts);
  sync->add_option("--batch-size", opts.batch_size, "sessions per page of the Flussonic API")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}));
  auto* kill = job_command(app, "playback-session:kill",
                           "ask the running daemon to close the sessions that must not run");
  add_config(kill, opts);
  for (auto* sub : {sync, kill})
    sub->add_option("--streamer-ids", opts.streamer_ids,
                    "only these streamers (repeatable or comma-separated)")
        ->delimiter(',')
        ->check(CLI::PositiveNumber)
        ->type_name("ID");
  auto* clear = job_command(app, "playback-session:clear",
                            "ask the running daemon to delete ended and killed sessions older than --timeout");
  add_config(clear, opts);
  clear->add_option("--timeout", opts.timeout_s, "age in seconds of the rows to delete")
      ->check(CLI::NonNegativeNumber);

  // CLI11 says only "A subcommand is required" for a mistyped command.
  if (argc >= 2 && argv[1][0] != '-') {
    bool known = false;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      known |= sub->get_name() == argv[1];
    if (!known) {
      err << "maxsessd: unknown command '" << argv[1] << "'\nRun with --help for the commands.\n";
      return exit_code::usage_error;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --version alone needs no command (require_subcommand threw).
    if (version) {
      out << "maxsessd " << build_version() << " (commit " << build_commit() << ")\n";
      return exit_code::ok;
    }
    int rc = app.exit(e, out, err);
    return rc == 0 ? exit_code::ok : exit_code::usage_error;
  }
  if (version) {
    out << "maxsessd " << build_version() << " (commit " << build_commit() << ")\n";
    return exit_code::ok;
  }
  for (auto* sub : app.get_subcommands()) opts.command = sub->get_name();
  if (opts.config_path.empty()) {
    opts.config_from_default = !(config_env && *config_env);
    opts.config_path = opts.config_from_default ? default_config_path : config_env;
  }
  return std::nullopt;
}

std::string config_hint(const options& opts) {
  if (opts.config_from_default)
    return std::string("no --config given and MAXSESS_CONFIG is not set, so maxsessd read ") +
           default_config_path + "; pass --config FILE (e.g. --config config/example.yaml) or set MAXSESS_CONFIG";
  return "check the path given by --config or MAXSESS_CONFIG";
}

}  // namespace maxsess::cli
