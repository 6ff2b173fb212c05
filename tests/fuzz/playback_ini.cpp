// Fuzz target: the playback_session.ini reader (config/detail.hpp,
// PRODUCT.md §5). Input: the file's bytes.
// Properties: never crashes or throws; every error names its line
// ("line N: ..."); a file that yields a setting and no error yields the
// same setting after a UTF-8 BOM is prepended and with CRLF line ends.
#include <string>

#include "config/detail.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maxsess::config::detail;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto out = parse_playback_ini(text);
  for (auto& e : out.errors) FUZZ_CHECK(e.compare(0, 5, "line ") == 0);
  if (text.compare(0, 3, "\xEF\xBB\xBF") != 0) {
    auto with_bom = parse_playback_ini("\xEF\xBB\xBF" + text);
    FUZZ_CHECK(with_bom.playback_session_enabled == out.playback_session_enabled);
    FUZZ_CHECK(with_bom.errors == out.errors);
  }
  if (text.find('\r') == std::string::npos) {
    std::string crlf;
    for (char c : text) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    auto w = parse_playback_ini(crlf);
    FUZZ_CHECK(w.playback_session_enabled == out.playback_session_enabled);
    FUZZ_CHECK(w.errors.size() == out.errors.size());
  }
  return 0;
}
