// Fuzz target: the config loader (config/config.hpp load_from_string): the
// YAML, the MAXSESS_* environment overrides, validation.
// Input: YAML text, then optionally a NUL byte and "NAME=value" lines for
// the environment. playback_session.ini is pinned to /dev/null (an empty
// file) so no input makes the loader read the disk; the ini reader has its
// own target (playback_ini).
// Properties: never throws or crashes; an accepted configuration, written
// back with to_yaml (secrets included), loads again with no problem and
// writes back to the same YAML (what check-config prints is loadable).
#include <string>

#include "config/config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maxsess::config;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string yaml = input.substr(0, nul);
  environment env;
  if (nul != std::string::npos) {
    std::size_t i = nul + 1;
    while (i < input.size()) {
      auto nl = input.find('\n', i);
      if (nl == std::string::npos) nl = input.size();
      auto line = input.substr(i, nl - i);
      auto eq = line.find('=');
      if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
      i = nl + 1;
    }
  }
  load_result r;
  try {
    r = load_from_string(yaml, env, "/dev/null");
  } catch (...) {
    FUZZ_CHECK(!"load_from_string threw");
  }
  for (auto& p : r.problems) {
    if (p.path.empty() || p.message.empty()) std::fprintf(stderr, "problem: %s\n", to_string(p).c_str());
    FUZZ_CHECK(!p.path.empty() && !p.message.empty());
  }
  if (!r.ok()) return 0;
  const auto written = to_yaml(r.config, false);
  auto again = load_from_string(written, {}, "/dev/null");
  if (!again.ok()) {
    std::fprintf(stderr, "to_yaml wrote:\n%s\nwhich loads with: %s\n", written.c_str(),
                 to_string(again.problems.front()).c_str());
  }
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(to_yaml(again.config, false) == written);
  return 0;
}
