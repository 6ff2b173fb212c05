// Loading the configuration (PRODUCT.md §5): YAML file -> environment
// overrides -> playback_session.ini -> validation. Every problem is collected
// with its key path (or the variable / file it came from) and the fix;
// nothing here throws out of the public functions.
#include "config/config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <variant>

#include "config/detail.hpp"

extern char** environ;  // POSIX

namespace maxsess::config {

namespace {

// Parses a document and keeps nothing (read_yaml counts the documents).
struct document_counter final : YAML::EventHandler {
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// ---------------------------------------------------------------------------
// The key table: one place that names every section and key, and where its
// value lives in daemon_config. YAML, the generic environment form and
// to_yaml() all walk it, so a key added to the struct and here is known
// everywhere.

using target = std::variant<std::string*, bool*, int*, int64_t*, std::size_t*, duration*,
                            std::vector<std::string>*>;

struct field {
  std::string_view key;
  target where;
};

struct section {
  std::string_view name;
  std::vector<field> fields;
};

std::vector<section> layout(daemon_config& c) {
  auto& n = c.node;
  auto& st = c.storage;
  auto& se = c.security;
  auto& p = c.playback_session;
  auto& cl = c.cluster;
  return {
      {"node",
       {{"id", &n.id},
        {"http_listen", &n.http_listen},
        {"http_threads", &n.http_threads},
        {"scheduler_policy", &n.scheduler_policy},
        {"http_body_limit", &n.http_body_limit},
        {"http_read_timeout", &n.http_read_timeout},
        {"request_timeout", &n.request_timeout}}},
      {"storage",
       {{"dsn", &st.dsn},
        {"batch_max_rows", &st.batch_max_rows},
        {"batch_max_delay", &st.batch_max_delay},
        {"read_connections", &st.read_connections},
        {"write_connections", &st.write_connections},
        {"startup_wait", &st.startup_wait}}},
      {"security",
       {{"admin_token", &se.admin_token},
        {"admin_token_file", &se.admin_token_file},
        {"client_tokens", &se.client_tokens},
        {"client_tokens_file", &se.client_tokens_file},
        {"token_secret", &se.token_secret},
        {"token_secret_file", &se.token_secret_file},
        {"streamer_calls", &se.streamer_calls}}},
      {"playback_session",
       {{"enabled", &p.enabled},
        {"mode", &p.mode},
        {"ini", &p.ini},
        {"default_max_sessions", &p.default_max_sessions},
        {"pending_ttl", &p.pending_ttl},
        {"stale_after", &p.stale_after},
        {"progress_write_delay", &p.progress_write_delay},
        {"link_ttl", &p.link_ttl},
        {"auth_duration", &p.auth_duration},
        {"webhooks", &p.webhooks},
        {"sync_interval", &p.sync_interval},
        {"batch_size", &p.batch_size},
        {"sync_max_sessions", &p.sync_max_sessions},
        {"sync_timeout", &p.sync_timeout},
        {"kill_interval", &p.kill_interval},
        {"clear_interval", &p.clear_interval},
        {"clear_timeout", &p.clear_timeout},
        {"events_keep", &p.events_keep},
        {"idle_passivate", &p.idle_passivate}}},
      {"cluster",
       {{"enabled", &cl.enabled},
        {"listen", &cl.listen},
        {"seeds", &cl.seeds},
        {"shards", &cl.shards},
        {"lease_ttl", &cl.lease_ttl}}},
      {"log", {{"level", &c.log.level}, {"format", &c.log.format}}},
  };
}

// The variables PRODUCT.md §5 names; they win over the generic form.
struct named_variable {
  std::string_view name;
  std::string_view section;
  std::string_view key;
};
constexpr named_variable named_variables[] = {
    {"MAXSESS_PG_DSN", "storage", "dsn"},
    {"MAXSESS_HTTP_LISTEN", "node", "http_listen"},
    {"MAXSESS_ADMIN_TOKEN", "security", "admin_token"},
    {"MAXSESS_ADMIN_TOKEN_FILE", "security", "admin_token_file"},
    {"MAXSESS_CLIENT_TOKENS_FILE", "security", "client_tokens_file"},
    {"MAXSESS_TOKEN_SECRET", "security", "token_secret"},
    {"MAXSESS_TOKEN_SECRET_FILE", "security", "token_secret_file"},
    {"MAXSESS_NODE_ID", "node", "id"},
    {"MAXSESS_CLUSTER_LISTEN", "cluster", "listen"},
    {"MAXSESS_CLUSTER_ENABLED", "cluster", "enabled"},
    {"MAXSESS_CLUSTER_SEEDS", "cluster", "seeds"},
};
constexpr std::string_view generic_prefix = "MAXSESS__";

std::string generic_name(std::string_view section, std::string_view key) {
  std::string out(generic_prefix);
  for (char c : std::string(section) + "__" + std::string(key))
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string env_help(std::string_view section, std::string_view key) {
  for (const auto& v : named_variables)
    if (v.section == section && v.key == key) return std::string(v.name);
  return generic_name(section, key);
}

bool is_list(const target& t) { return std::holds_alternative<std::vector<std::string>*>(t); }

std::string_view kind_hint(const target& t) {
  struct visitor {
    std::string_view operator()(std::string*) const { return "a string"; }
    std::string_view operator()(bool*) const { return "true or false"; }
    std::string_view operator()(int*) const { return "a whole number"; }
    std::string_view operator()(int64_t*) const { return "a whole number"; }
    std::string_view operator()(std::size_t*) const { return "a whole number"; }
    std::string_view operator()(duration*) const { return "a duration like 30s, 5m, 24h"; }
    std::string_view operator()(std::vector<std::string>*) const { return "a list"; }
  };
  return std::visit(visitor{}, t);
}

// Short, printable rendering of a user's value for a message.
std::string shown(std::string_view value) {
  std::string out = "'";
  for (char c : value.substr(0, 60))
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (value.size() > 60) out += "...";
  return out + "'";
}

template <class Int>
std::string assign_integer(Int* where, const std::string& text) {
  const std::string s = detail::trim(text);
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  const bool ok = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  if (!ok) return "expected a whole number, got " + shown(text);
  if (negative && std::is_unsigned_v<Int>) return "must not be negative, got " + shown(text);
  // Accumulate as a negative number so INT64_MIN fits too.
  int64_t value = 0;
  for (char c : digits) {
    if (__builtin_mul_overflow(value, int64_t{10}, &value) ||
        __builtin_sub_overflow(value, int64_t{c - '0'}, &value))
      return shown(text) + " is too large";
  }
  if (!negative) {
    if (value == std::numeric_limits<int64_t>::min()) return shown(text) + " is too large";
    value = -value;
  }
  if constexpr (std::is_unsigned_v<Int>) {
    if (static_cast<uint64_t>(value) > std::numeric_limits<Int>::max())
      return shown(text) + " is too large";
  } else {
    if (value < std::numeric_limits<Int>::min() || value > std::numeric_limits<Int>::max())
      return shown(text) + " is out of range";
  }
  *where = static_cast<Int>(value);
  return {};
}

// Sets a scalar field from text. Returns "" on success, else what is wrong
// and how to write it.
std::string assign(const target& t, const std::string& text) {
  struct visitor {
    const std::string& text;
    std::string operator()(std::string* w) const {
      *w = text;
      return {};
    }
    std::string operator()(bool* w) const {
      if (auto b = detail::parse_bool(text)) {
        *w = *b;
        return {};
      }
      return "expected true or false, got " + shown(text);
    }
    std::string operator()(int* w) const { return assign_integer(w, text); }
    std::string operator()(int64_t* w) const { return assign_integer(w, text); }
    std::string operator()(std::size_t* w) const { return assign_integer(w, text); }
    std::string operator()(duration* w) const {
      if (parse_duration(text, *w)) return {};
      return shown(text) +
             " is not a duration; write a duration like 30s, 5m, 24h (also 250ms, 1h30m; a bare "
             "number means seconds), at most 876000h (100 years)";
    }
    std::string operator()(std::vector<std::string>* w) const {
      *w = detail::split_list(text);
      return {};
    }
  };
  return std::visit(visitor{text}, t);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// "unknown key; known keys are: a, b, c" plus a "did you mean" when close.
std::string unknown_key_message(std::string_view key, const std::vector<std::string>& known) {
  const std::string lowered = detail::lower(key);
  std::string best;
  std::size_t best_distance = 3;  // suggest only near misses
  for (const auto& k : known) {
    const std::size_t d = edit_distance(lowered, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  std::string msg = "unknown key";
  if (!best.empty()) msg += " (did you mean '" + best + "'?)";
  return msg + "; known keys are: " + join(known, ", ");
}

std::vector<std::string> key_names(const section& s) {
  std::vector<std::string> out;
  for (const auto& f : s.fields) out.emplace_back(f.key);
  return out;
}

std::vector<std::string> section_names(const std::vector<section>& sections) {
  std::vector<std::string> out;
  for (const auto& s : sections) out.emplace_back(s.name);
  return out;
}

std::string at_line(const YAML::Node& n) {
  const auto mark = n.Mark();
  if (mark.line < 0) return {};
  return " (line " + std::to_string(mark.line + 1) + ")";
}


bool has_blank(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}

// Defined with read_bearer_tokens (below); the loader reads
// security.token_secret_file with it too.
void read_token_file(const std::string& key_path, const std::string& path,
                     std::vector<std::string>& out, std::vector<problem>* problems);

// ---------------------------------------------------------------------------

class loader {
 public:
  // `source` names the text in messages ("<file>" or the file's path);
  // `base_dir` resolves a relative playback_session.ini written in the file.
  loader(std::string source, std::filesystem::path base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)), sections_(layout(config_)) {}

  load_result run(const std::string& yaml_text, const environment& env,
                  const std::string& ini_override) {
    if (read_yaml(yaml_text)) {
      apply_environment(env);
      resolve_file_key("security.admin_token_file", config_.security.admin_token_file);
      resolve_file_key("security.client_tokens_file", config_.security.client_tokens_file);
      resolve_file_key("security.token_secret_file", config_.security.token_secret_file);
      read_token_secret_file();
      apply_ini(ini_override);
      validate();
    }
    return load_result{std::move(config_), std::move(problems_)};
  }

 private:
  void add(std::string path, std::string message) {
    problems_.push_back(problem{std::move(path), std::move(message)});
  }

  field* find(std::string_view section_name, std::string_view key) {
    for (auto& s : sections_)
      if (s.name == section_name)
        for (auto& f : s.fields)
          if (f.key == key) return &f;
    return nullptr;
  }

  // --- the file ------------------------------------------------------------

  // False when nothing past the parse can be trusted (then one problem).
  bool read_yaml(const std::string& text) {
    YAML::Node root;
    try {
      // Not YAML::LoadAll: on some invalid text ("'a',", found by the
      // config_load fuzz target) yaml-cpp 0.7's parser reports an empty
      // document again and again without reading on, and LoadAll collects
      // them until memory runs out. One document is all a file may hold, so
      // counting stops at the second; then the one is loaded.
      std::istringstream in(text);
      YAML::Parser parser(in);
      document_counter counter;
      int documents = 0;
      while (documents < 2 && parser.HandleNextDocument(counter)) ++documents;
      if (documents > 1) {
        add(source_, "holds more than one YAML document (separated by ---), or text after the "
                     "first that is not YAML; write exactly one");
        return false;
      }
      root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      add(source_, "not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) +
                       ", column " + std::to_string(e.mark.column + 1) + ")");
      return false;
    }
    if (root.IsNull()) return true;  // empty file: all defaults
    if (!root.IsMap()) {
      add(source_, "the top level must be a mapping of sections (" +
                       join(section_names(sections_), ", ") + ")" + at_line(root));
      return false;
    }
    std::set<std::string> seen;
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (!it->first.IsScalar()) {
        add(source_, "a section name must be a plain word" + at_line(it->first));
        continue;
      }
      const std::string name = it->first.Scalar();
      if (name.empty()) {  // '': a problem needs a path (found by the config_load fuzz target)
        add(source_, "a section name must not be empty" + at_line(it->first));
        continue;
      }
      if (!seen.insert(name).second) {
        add(name, "section given twice; merge the two into one" + at_line(it->first));
        continue;
      }
      auto s = std::find_if(sections_.begin(), sections_.end(),
                            [&](const section& x) { return x.name == name; });
      if (s == sections_.end()) {
        add(name, unknown_key_message(name, section_names(sections_)) + at_line(it->first));
        continue;
      }
      read_section(*s, it->second);
    }
    return true;
  }

  void read_section(section& s, const YAML::Node& node) {
    const std::string prefix(s.name);
    if (node.IsNull()) return;  // "node:" with nothing under it: defaults
    if (!node.IsMap()) {
      add(prefix, "expected a mapping of keys (" + join(key_names(s), ", ") + ")" + at_line(node));
      return;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        add(prefix, "a key must be a plain word" + at_line(it->first));
        continue;
      }
      const std::string key = it->first.Scalar();
      const std::string path = prefix + "." + key;
      if (!seen.insert(key).second) {
        add(path, "key given twice; keep one" + at_line(it->first));
        continue;
      }
      auto f = std::find_if(s.fields.begin(), s.fields.end(),
                            [&](const field& x) { return x.key == key; });
      if (f == s.fields.end()) {
        add(path, unknown_key_message(key, key_names(s)) + at_line(it->first));
        continue;
      }
      read_value(*f, it->second, path);
    }
  }

  void read_value(field& f, const YAML::Node& n, const std::string& path) {
    if (is_list(f.where)) {
      auto* list = std::get<std::vector<std::string>*>(f.where);
      if (n.IsNull()) {
        list->clear();
        return;
      }
      if (!n.IsSequence()) {
        add(path, "expected a list; write [\"a\", \"b\"] (or [] for none), or one \"- item\" per "
                  "line" + at_line(n));
        return;
      }
      std::vector<std::string> items;
      bool ok = true;
      for (std::size_t i = 0; i < n.size(); ++i) {
        const YAML::Node item = n[i];
        if (!item.IsScalar()) {
          add(path + "[" + std::to_string(i) + "]",
              std::string(item.IsNull() ? "empty entry; remove it or write a value"
                                        : "expected a plain value, not a nested list or mapping") +
                  at_line(item));
          ok = false;
          continue;
        }
        items.push_back(item.Scalar());
      }
      if (ok) *list = std::move(items);
      return;
    }
    if (n.IsNull()) {
      if (std::holds_alternative<std::string*>(f.where)) {
        std::get<std::string*>(f.where)->clear();
        return;
      }
      add(path, "has no value; write " + std::string(kind_hint(f.where)) + " or remove the key" +
                    at_line(n));
      return;
    }
    if (!n.IsScalar()) {
      add(path, "expected " + std::string(kind_hint(f.where)) + ", got a " +
                    (n.IsMap() ? "mapping" : "list") + at_line(n));
      return;
    }
    const std::string error = assign(f.where, n.Scalar());
    if (!error.empty()) add(path, error + at_line(n));
  }

  // --- the environment -----------------------------------------------------

  void set_from_environment(field& f, const std::string& path, const std::string& variable,
                            const std::string& value) {
    const std::string error = assign(f.where, value);
    if (!error.empty()) {
      add(variable, error + " (this variable sets " + path + ")");
      return;
    }
    origin_[path] = variable;
  }

  void apply_environment(const environment& env) {
    for (const auto& [name, value] : env) {
      if (name.compare(0, generic_prefix.size(), generic_prefix) != 0) continue;
      const std::string rest = name.substr(generic_prefix.size());
      const auto split = rest.find("__");
      if (split == std::string::npos || split == 0 || split + 2 >= rest.size() ||
          rest.find("__", split + 2) != std::string::npos) {
        add(name, "not a configuration variable; the generic form is MAXSESS__SECTION__KEY, "
                  "e.g. MAXSESS__LOG__LEVEL=debug");
        continue;
      }
      const std::string section_name = detail::lower(std::string_view(rest).substr(0, split));
      const std::string key = detail::lower(std::string_view(rest).substr(split + 2));
      auto s = std::find_if(sections_.begin(), sections_.end(),
                            [&](const section& x) { return x.name == section_name; });
      if (s == sections_.end()) {
        add(name, "unknown section '" + section_name + "'; known sections are: " +
                      join(section_names(sections_), ", ") +
                      " (the generic form is MAXSESS__SECTION__KEY)");
        continue;
      }
      field* f = find(section_name, key);
      if (f == nullptr) {
        add(name, "unknown key " + section_name + "." + key + "; known keys of " + section_name +
                      " are: " + join(key_names(*s), ", "));
        continue;
      }
      set_from_environment(*f, section_name + "." + key, name, value);
    }
    for (const auto& v : named_variables) {
      auto it = env.find(std::string(v.name));
      if (it == env.end()) continue;
      field* f = find(v.section, v.key);
      set_from_environment(*f, std::string(v.section) + "." + std::string(v.key),
                           std::string(v.name), it->second);
    }
  }

  // A relative path written in the file is relative to the file's folder
  // (as playback_session.ini); one from the environment, to the working
  // directory. Afterwards the key holds the path that is read.
  void resolve_file_key(const std::string& key_path, std::string& value) {
    namespace fs = std::filesystem;
    if (value.empty() || origin_.count(key_path) || base_dir_.empty() || !fs::path(value).is_relative())
      return;
    value = (base_dir_ / value).lexically_normal().string();
  }

  // security.token_secret_file: the link signing keys in a file of their
  // own (one "kid:secret" per line, the signing key first), so that they can
  // live beside the admin token file, readable by the daemon's group only,
  // and every command (serve, migrate, the cron jobs) finds them through the
  // configuration alone. Its keys become security.token_secret.
  void read_token_secret_file() {
    auto& se = config_.security;
    if (se.token_secret_file.empty()) return;
    const std::string key_path = "security.token_secret_file";
    std::vector<std::string> keys;
    std::vector<problem> file_problems;
    read_token_file(key_path, se.token_secret_file, keys, &file_problems);
    for (auto& p : file_problems) invalid(p.path, p.message);
    if (!file_problems.empty()) return;
    std::string joined;
    for (auto& k : keys) joined += (joined.empty() ? "" : ",") + k;
    auto errors = detail::check_token_secret(joined);
    for (const auto& e : errors)
      invalid(key_path, "'" + se.token_secret_file + "': " + e +
                            "; write one \"kid:secret\" per line, the signing key first");
    if (!errors.empty()) return;
    // Given twice, the same keys are no ambiguity (to_yaml's output reads
    // back); different ones are.
    if (!se.token_secret.empty() && detail::trim(se.token_secret) != joined) {
      invalid(key_path,
              "security.token_secret gives other keys (in the file or by MAXSESS_TOKEN_SECRET); give the "
              "link keys in one place: remove one of them");
      return;
    }
    se.token_secret = joined;
    secret_from_file_ = true;
  }

  // --- playback_session.ini ------------------------------------------------

  void apply_ini(const std::string& ini_override) {
    namespace fs = std::filesystem;
    const std::string key_path = "playback_session.ini";
    std::string path = ini_override;
    std::string given_by = "--ini";
    if (path.empty()) {
      path = config_.playback_session.ini;
      auto o = origin_.find(key_path);
      given_by = o == origin_.end() ? key_path : o->second;
      // Relative paths written in the file are relative to the file.
      if (!path.empty() && o == origin_.end() && !base_dir_.empty() &&
          fs::path(path).is_relative())
        path = (base_dir_ / path).lexically_normal().string();
    }
    if (path.empty()) return;
    config_.playback_session.ini = path;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      add(key_path, "'" + path + "' (given by " + given_by + ") is a directory; give the ini file");
      return;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      add(key_path, "cannot read '" + path + "' (given by " + given_by +
                        "): " + std::strerror(errno) + "; fix the path or remove the setting");
      return;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
      add(key_path, "cannot read '" + path + "' (given by " + given_by + ")");
      return;
    }
    const auto outcome = detail::parse_playback_ini(text.str());
    for (const auto& e : outcome.errors) add(key_path, path + " " + e);
    if (outcome.playback_session_enabled) {
      config_.playback_session.enabled = *outcome.playback_session_enabled;
      origin_["playback_session.enabled"] = key_path;
    }
  }

  // --- validation ----------------------------------------------------------

  // A problem with a value: named by the variable that set it, if one did.
  void invalid(const std::string& path, const std::string& message) {
    auto o = origin_.find(path);
    if (o != origin_.end() && o->second.compare(0, 7, "MAXSESS") == 0)
      add(o->second, message + " (this variable sets " + path + ")");
    else
      add(path, message);
  }

  void require(const std::string& section_name, const std::string& key, const std::string& value,
               const std::string& what) {
    if (!value.empty()) return;
    const std::string path = section_name + "." + key;
    auto o = origin_.find(path);
    if (o != origin_.end() && o->second.compare(0, 7, "MAXSESS") == 0) {
      add(o->second, "is set but empty, and " + path + " is required: " + what);
      return;
    }
    invalid(path, "is required: " + what + "; set it in the file or with " +
                                          env_help(section_name, key));
  }

  void check_listen(const std::string& path, const std::string& value) {
    std::string host;
    uint16_t port = 0;
    if (split_host_port(value, host, port)) return;
    invalid(path, (value.empty() ? std::string("is empty") : shown(value) + " is not host:port") +
                      "; write e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080 (port 1-65535)");
  }

  template <class Int>
  void check_range(const std::string& path, Int value, Int min, Int max, const std::string& why) {
    if (value >= min && value <= max) return;
    std::string range = max == std::numeric_limits<Int>::max()
                            ? "at least " + std::to_string(min)
                            : "from " + std::to_string(min) + " to " + std::to_string(max);
    invalid(path, "is " + std::to_string(value) + "; write a number " + range + why);
  }

  void check_positive(const std::string& path, duration d) {
    if (d.count() > 0) return;
    invalid(path, "must be more than 0; write a duration like 30s, 5m, 24h");
  }

  void validate() {
    const auto& c = config_;
    // node
    if (c.node.id.empty() || c.node.id.size() > 64 ||
        !std::all_of(c.node.id.begin(), c.node.id.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' ||
                 ch == '-';
        }))
      invalid("node.id", "write 1-64 of A-Z a-z 0-9 . _ - (unique per node), e.g. node-1");
    check_listen("node.http_listen", c.node.http_listen);
    check_range("node.http_threads", c.node.http_threads, 0, 64, " (0 = one per two cores)");
    if (c.node.scheduler_policy != "stealing" && c.node.scheduler_policy != "sharing")
      invalid("node.scheduler_policy",
              shown(c.node.scheduler_policy) +
                  " is not a policy; write stealing (a queue per worker) or sharing (one queue)");
    check_range<std::size_t>("node.http_body_limit", c.node.http_body_limit, 1,
                             std::numeric_limits<std::size_t>::max(), " (bytes)");
    check_positive("node.http_read_timeout", c.node.http_read_timeout);
    check_positive("node.request_timeout", c.node.request_timeout);

    // storage
    require("storage", "dsn", c.storage.dsn,
            "the libpq connection string, e.g. \"host=127.0.0.1 port=5432 dbname=maxsess "
            "user=maxsess\"");
    check_range("storage.batch_max_rows", c.storage.batch_max_rows, 1,
                std::numeric_limits<int>::max(), "");
    check_range("storage.read_connections", c.storage.read_connections, 1, 256, "");
    check_range("storage.write_connections", c.storage.write_connections, 0, 64, " (0 = one per two cores, 2 to 8)");

    // security
    if (c.security.admin_token_file.empty())
      require("security", "admin_token", c.security.admin_token,
              "the bearer token of the admin API (several comma-separated while one rotates), "
              "or set security.admin_token_file");
    if (!c.security.admin_token.empty())
      for (const auto& t : detail::split_list(c.security.admin_token))
        if (has_blank(t)) {
          invalid("security.admin_token",
                  "must not contain blanks (it is sent as a bearer token; commas separate several)");
          break;
        }
    for (std::size_t i = 0; i < c.security.client_tokens.size(); ++i) {
      const auto& t = c.security.client_tokens[i];
      if (t.empty() || has_blank(t))
        invalid(origin_.count("security.client_tokens") ? "security.client_tokens"
                                                        : "security.client_tokens[" + std::to_string(i) + "]",
                "a client token must be non-empty with no blanks (it is sent as a bearer token)");
    }
    // The files: readable, not empty, no token with blanks.
    {
      std::vector<problem> file_problems;
      security_section files_only;
      files_only.admin_token_file = c.security.admin_token_file;
      files_only.client_tokens_file = c.security.client_tokens_file;
      read_bearer_tokens(files_only, &file_problems);
      for (auto& p : file_problems) invalid(p.path, p.message);
    }
    if (c.security.streamer_calls != "open" && c.security.streamer_calls != "registered")
      invalid("security.streamer_calls",
              shown(c.security.streamer_calls) +
                  " is not a policy; write open (streamer-side calls that name no registered "
                  "streamer are served) or registered (they are refused); see docs/security.md");
    if (c.security.token_secret.empty()) {
      if (c.security.token_secret_file.empty())  // else the file's problem says why
        require("security", "token_secret", c.security.token_secret,
                "the link signing key(s), \"kid:secret\" or \"kid1:new,kid2:old\" (the first "
                "signs, all verify), or set security.token_secret_file");
    } else if (!secret_from_file_) {
      for (const auto& e : detail::check_token_secret(c.security.token_secret))
        invalid("security.token_secret",
                e + "; write \"kid:secret\" or \"kid1:secret1,kid2:secret2\" (the first signs, "
                    "all verify) or one bare secret");
    }

    // playback_session
    const auto& p = c.playback_session;
    check_range<int64_t>("playback_session.default_max_sessions", p.default_max_sessions, 0,
                         std::numeric_limits<int64_t>::max(), " (0 means unlimited)");
    if (p.mode != "enforce" && p.mode != "shadow")
      invalid("playback_session.mode",
              shown(p.mode) + " is not a mode; write enforce (refuse and kill over the limit) or "
                              "shadow (approve, record what enforce would have done; docs/shadow.md)");
    check_positive("playback_session.pending_ttl", p.pending_ttl);
    check_positive("playback_session.link_ttl", p.link_ttl);
    check_positive("playback_session.auth_duration", p.auth_duration);
    if (p.auth_duration.count() > 0 && p.auth_duration.count() % 1000 != 0)
      invalid("playback_session.auth_duration",
              "is sent to Flussonic as X-AuthDuration in whole seconds; write e.g. 30s");
    check_positive("playback_session.sync_interval", p.sync_interval);
    check_range("playback_session.batch_size", p.batch_size, 1, std::numeric_limits<int>::max(),
                "");
    check_range<int64_t>("playback_session.sync_max_sessions", p.sync_max_sessions, 1,
                         std::numeric_limits<int64_t>::max(), "");
    check_positive("playback_session.sync_timeout", p.sync_timeout);
    check_positive("playback_session.kill_interval", p.kill_interval);
    check_positive("playback_session.clear_interval", p.clear_interval);
    check_positive("playback_session.idle_passivate", p.idle_passivate);
    check_positive("playback_session.stale_after", p.stale_after);
    if (p.stale_after.count() > 0) check_stale_after();
    if (p.progress_write_delay >= p.stale_after && p.stale_after.count() > 0)
      invalid("playback_session.progress_write_delay",
              "is " + format_duration(p.progress_write_delay) + " but must be less than stale_after (" +
                  format_duration(p.stale_after) +
                  "): a node taking the shard over would find the session's last update too old");

    // cluster
    if (c.cluster.enabled) {
      if (c.cluster.listen.empty())
        invalid("cluster.listen", "is required when cluster.enabled is true: the host:port this "
                                  "node listens on for other nodes (e.g. 10.0.0.5:4242); set it "
                                  "in the file or with MAXSESS_CLUSTER_LISTEN");
      else
        check_listen("cluster.listen", c.cluster.listen);
      for (std::size_t i = 0; i < c.cluster.seeds.size(); ++i) {
        std::string host;
        uint16_t port = 0;
        if (!split_host_port(c.cluster.seeds[i], host, port))
          invalid(origin_.count("cluster.seeds") ? "cluster.seeds"
                                                 : "cluster.seeds[" + std::to_string(i) + "]",
                  shown(c.cluster.seeds[i]) +
                      " is not host:port; write another node's cluster.listen, e.g. "
                      "10.0.0.6:4242");
      }
    }
    check_range("cluster.shards", c.cluster.shards, 1, 65536,
                " (the same on every node; fixed once the cluster has run)");
    check_positive("cluster.lease_ttl", c.cluster.lease_ttl);
    if (c.cluster.lease_ttl.count() > 0 && c.cluster.lease_ttl < std::chrono::seconds(1))
      invalid("cluster.lease_ttl",
              "is " + format_duration(c.cluster.lease_ttl) +
                  "; write at least 1s (leases are renewed every lease_ttl/4 over the "
                  "database; shorter ones would expire under ordinary load)");

    // log
    std::string level = detail::lower(c.log.level);
    if (level == "warning") level = "warn";
    if (level == "debug" || level == "info" || level == "warn" || level == "error")
      config_.log.level = level;
    else
      invalid("log.level", shown(c.log.level) + " is not a level; write debug, info, warn or error");
    const std::string format = detail::lower(c.log.format);
    if (format == "text" || format == "json")
      config_.log.format = format;
    else
      invalid("log.format", shown(c.log.format) + " is not a format; write text or json");
  }

  // PRODUCT.md §3: an active session must not be declared stale between two
  // regular updates, so stale_after covers three of them.
  void check_stale_after() {
    const auto& p = config_.playback_session;
    const std::string path = "playback_session.stale_after";
    if (p.auth_duration.count() > 0 && p.stale_after < 3 * p.auth_duration)
      invalid(path, "is " + format_duration(p.stale_after) + " but must be at least 3 × "
                    "auth_duration (3 × " + format_duration(p.auth_duration) + " = " +
                    format_duration(3 * p.auth_duration) +
                    "), or sessions that are still playing end as stale between Flussonic's "
                    "auth checks; raise stale_after to " + format_duration(3 * p.auth_duration) +
                    " or more, or lower auth_duration");
    if (!p.webhooks && p.sync_interval.count() > 0 && p.stale_after < 3 * p.sync_interval)
      invalid(path, "is " + format_duration(p.stale_after) + " but must be at least 3 × "
                    "sync_interval (3 × " + format_duration(p.sync_interval) + " = " +
                    format_duration(3 * p.sync_interval) +
                    ") while webhooks is false (sync is then the only update), or playing "
                    "sessions end as stale between two syncs; raise stale_after to " +
                    format_duration(3 * p.sync_interval) +
                    " or more, lower sync_interval, or set webhooks: true if Flussonic posts "
                    "events");
  }

  std::string source_;
  std::filesystem::path base_dir_;
  daemon_config config_;
  std::vector<section> sections_;  // points into config_
  std::map<std::string, std::string> origin_;  // key path -> variable / file that set it last
  bool secret_from_file_ = false;  // token_secret came from token_secret_file (checked there)
  std::vector<problem> problems_;
};

// --- to_yaml ----------------------------------------------------------------

std::string yaml_quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char hex[] = "0123456789abcdef";
          out += "\\x";
          out += hex[(c >> 4) & 0xf];
          out += hex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Hides the password of a libpq DSN, key=value or URI form.
std::string redact_dsn(const std::string& dsn) {
  std::string out = dsn;
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const auto at = out.find('@', scheme + 3);
    const auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at)
      out.replace(colon + 1, at - colon - 1, "REDACTED");
    return out;
  }
  std::size_t pos = 0;
  while ((pos = out.find("password", pos)) != std::string::npos) {
    if (pos > 0 && !std::isspace(static_cast<unsigned char>(out[pos - 1]))) {
      pos += 8;
      continue;
    }
    std::size_t v = pos + 8;
    while (v < out.size() && std::isspace(static_cast<unsigned char>(out[v]))) ++v;
    if (v >= out.size() || out[v] != '=') {
      pos += 8;
      continue;
    }
    ++v;
    while (v < out.size() && std::isspace(static_cast<unsigned char>(out[v]))) ++v;
    std::size_t end = v;
    if (end < out.size() && out[end] == '\'') {
      ++end;
      while (end < out.size() && out[end] != '\'') end += out[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, out.size());
    } else {
      while (end < out.size() && !std::isspace(static_cast<unsigned char>(out[end]))) ++end;
    }
    out.replace(v, end - v, "REDACTED");
    pos = v + 8;
  }
  return out;
}

load_result load_named(const std::string& yaml_text, const std::string& source,
                       const std::string& base_dir, const environment& env,
                       const std::string& ini_override) {
  try {
    return loader(source, base_dir).run(yaml_text, env, ini_override);
  } catch (const std::exception& e) {
    load_result r;
    r.problems.push_back(problem{source, std::string("internal error while loading: ") + e.what()});
    return r;
  } catch (...) {
    load_result r;
    r.problems.push_back(problem{source, "internal error while loading"});
    return r;
  }
}

}  // namespace

// ---------------------------------------------------------------------------

environment process_environment() {
  environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (entry.compare(0, 8, "MAXSESS_") != 0) continue;
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

load_result load_from_string(const std::string& yaml_text, const environment& env,
                             const std::string& ini_override) {
  return load_named(yaml_text, "<file>", {}, env, ini_override);
}

load_result load_from_file(const std::string& path, const environment& env,
                           const std::string& ini_override) {
  try {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      load_result r;
      r.problems.push_back(problem{path, "is a directory; give the YAML configuration file"});
      return r;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      load_result r;
      r.problems.push_back(
          problem{path, std::string("cannot read the configuration file: ") + std::strerror(errno)});
      return r;
    }
    std::ostringstream text;
    text << in.rdbuf();
    const std::string base = std::filesystem::path(path).parent_path().string();
    return load_named(text.str(), path, base.empty() ? "." : base, env, ini_override);
  } catch (const std::exception& e) {
    load_result r;
    r.problems.push_back(problem{path, std::string("cannot read the configuration file: ") + e.what()});
    return r;
  }
}

namespace {
// Appends the tokens of one file (see read_bearer_tokens) to `out`.
void read_token_file(const std::string& key_path, const std::string& path,
                     std::vector<std::string>& out, std::vector<problem>* problems) {
  auto report = [&](std::string message) {
    if (problems) problems->push_back(problem{key_path, std::move(message)});
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    report("'" + path + "' is a directory; give a file with one token per line");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    report("cannot read '" + path + "': " + std::strerror(errno) +
           "; fix the path or the file's permissions, or remove the setting");
    return;
  }
  std::string line;
  std::size_t number = 0, found = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string t = detail::trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (has_blank(t)) {
      // Never quote the line: it is most likely a token.
      report("'" + path + "' line " + std::to_string(number) +
             " holds blanks inside a token; write one token per line");
      continue;
    }
    ++found;
    out.push_back(t);
  }
  if (in.bad()) {
    report("cannot read '" + path + "'");
    return;
  }
  if (found == 0)
    report("'" + path + "' holds no token; write one token per line (blank lines and # comments "
           "are skipped), or remove the setting");
}

void drop_duplicates(std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (auto& t : v)
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
  v = std::move(out);
}
}  // namespace

bearer_tokens read_bearer_tokens(const security_section& security, std::vector<problem>* problems) {
  bearer_tokens out;
  try {
    out.admin = detail::split_list(security.admin_token);
    if (!security.admin_token_file.empty())
      read_token_file("security.admin_token_file", security.admin_token_file, out.admin, problems);
    out.client = security.client_tokens;
    if (!security.client_tokens_file.empty())
      read_token_file("security.client_tokens_file", security.client_tokens_file, out.client, problems);
  } catch (const std::exception& e) {
    if (problems)
      problems->push_back(problem{"security", std::string("cannot read the token files: ") + e.what()});
  }
  drop_duplicates(out.admin);
  drop_duplicates(out.client);
  return out;
}

std::string to_string(const problem& p) { return p.path + ": " + p.message; }

std::string to_yaml(const daemon_config& config, bool redact_secrets) {
  daemon_config copy = config;
  std::string out;
  for (const auto& s : layout(copy)) {
    out += std::string(s.name) + ":\n";
    for (const auto& f : s.fields) {
      const bool secret = redact_secrets && s.name == "security" &&
                          (f.key == "admin_token" || f.key == "client_tokens" || f.key == "token_secret");
      std::string value;
      if (auto* str = std::get_if<std::string*>(&f.where)) {
        std::string v = **str;
        if (secret && !v.empty()) v = "REDACTED";
        if (redact_secrets && s.name == "storage" && f.key == "dsn") v = redact_dsn(v);
        value = yaml_quoted(v);
      } else if (auto* b = std::get_if<bool*>(&f.where)) {
        value = **b ? "true" : "false";
      } else if (auto* i = std::get_if<int*>(&f.where)) {
        value = std::to_string(**i);
      } else if (auto* i64 = std::get_if<int64_t*>(&f.where)) {
        value = std::to_string(**i64);
      } else if (auto* sz = std::get_if<std::size_t*>(&f.where)) {
        value = std::to_string(**sz);
      } else if (auto* d = std::get_if<duration*>(&f.where)) {
        value = format_duration(**d);
      } else if (auto* list = std::get_if<std::vector<std::string>*>(&f.where)) {
        value = "[";
        for (std::size_t k = 0; k < (*list)->size(); ++k) {
          if (k > 0) value += ", ";
          value += yaml_quoted(secret ? "REDACTED" : (**list)[k]);
        }
        value += "]";
      }
      out += "  " + std::string(f.key) + ": " + value + "\n";
    }
  }
  return out;
}

int http_threads_for(const node_section& node, int cores) {
  return node.http_threads > 0 ? node.http_threads : std::max(2, cores / 2);
}

int write_lanes_for(const storage_section& storage, int cores) {
  return storage.write_connections > 0 ? storage.write_connections : std::clamp(cores / 2, 2, 8);
}

}  // namespace maxsess::config
