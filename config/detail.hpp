#pragma once
// Private to config/: small parsers shared by config.cpp and its tests'
// subjects. Not part of the library's interface (nothing outside config/
// includes this).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace maxsess::config::detail {

// true/false/1/0/yes/no/on/off, case-insensitive, surrounding blanks ignored.
std::optional<bool> parse_bool(std::string_view text);

// ASCII lower case (keys, enum values, booleans).
std::string lower(std::string_view text);

// Strips spaces and tabs (and CR/LF) at both ends.
std::string trim(std::string_view text);

// "a, b,,c " -> {"a", "b", "c"}: split on commas, trim, drop empty items.
std::vector<std::string> split_list(std::string_view text);

// Checks a token secret spec ("kid:secret[,kid:secret...]" or one bare
// secret). Returns one message per defect, never quoting a secret.
std::vector<std::string> check_token_secret(std::string_view spec);

// What a MinistraPRO-style playback_session.ini says (PRODUCT.md §5).
struct ini_outcome {
  std::optional<bool> playback_session_enabled;  // absent if the key is absent
  std::vector<std::string> errors;               // "line N: ..."
};
ini_outcome parse_playback_ini(std::string_view text);

}  // namespace maxsess::config::detail
