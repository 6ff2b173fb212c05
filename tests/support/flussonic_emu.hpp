#pragma once
// Runs tests/flussonic/flussonic_emu.py (a Flussonic Media Server emulator,
// see tests/flussonic/README.md) as a child process and drives it through its
// /_emu/ control API. Start-up waits for GET /_emu/state to answer 200, never
// on sleeps.
#include <cstdint>
#include <string>
#include <sys/types.h>

#include <nlohmann/json.hpp>

#include "tests/support/child_process.hpp"

namespace maxsess::test {

// Whether `python3` can be run (cached); tests skip when it cannot.
bool python3_available();

class flussonic_emulator {
 public:
  struct options {
    uint16_t port = 0;  // 0: a free one
    std::string auth_url;     // e.g. http://127.0.0.1:8080/flussonic/auth; empty: no auth
    std::string webhook_url;  // e.g. http://127.0.0.1:8080/webhook/playback-session/flussonic/HOST
    std::string api_user = "flussonic";
    std::string api_password = "secret";
    int resend_timeout_ms = 200;
    int throttle_ms = 50;
    // With a certificate and key (PEM files), the streamer API is also
    // served over https on tls_port (0: a free one); see tls_api_url().
    std::string tls_cert;
    std::string tls_key;
    uint16_t tls_port = 0;
  };

  explicit flussonic_emulator(options opts);
  ~flussonic_emulator();  // SIGTERM, then SIGKILL after 5 s
  flussonic_emulator(const flussonic_emulator&) = delete;
  flussonic_emulator& operator=(const flussonic_emulator&) = delete;

  // Starts the emulator and waits until it answers (throws
  // std::runtime_error with its log after 15 s or when it exits).
  void start();
  // SIGTERM and wait; returns the exit code (128+signal when killed).
  int stop();
  bool running() const { return child_.running(); }
  pid_t pid() const { return child_.pid(); }

  uint16_t port() const { return opts_.port; }
  const options& opts() const { return opts_; }
  std::string api_url() const;      // "http://127.0.0.1:PORT"
  std::string tls_api_url() const;  // "https://127.0.0.1:TLS_PORT"

  // One HTTP call to the emulator; the JSON answer ({} when empty). Throws
  // std::runtime_error on a non-2xx answer, with its body.
  nlohmann::json control(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nullptr) const;

  // Opens a session as a player would: {"id", "allowed", "status",
  // "user_id", "auth_duration"}.
  nlohmann::json play(const std::string& name, const std::string& token,
                      const std::string& ip = "10.0.0.1", bool auth = true) const;
  // Same, with every field of POST /_emu/play (proto, user_agent, id, ...).
  nlohmann::json play(const nlohmann::json& request) const;
  nlohmann::json update(const std::string& id) const;  // {"allowed","status","open"}
  nlohmann::json close(const std::string& id) const;   // {"closed"}
  // Posts a body to the webhook URL now: {"status", "body"}.
  nlohmann::json post_events(const nlohmann::json& body) const;
  nlohmann::json post_raw(const std::string& raw) const;
  nlohmann::json configure(const nlohmann::json& flags) const;  // the merged config
  // Waits until every queued event is delivered; throws if some are still
  // pending after `timeout_ms` (the webhook keeps failing).
  void flush(int timeout_ms = 8000) const;
  nlohmann::json state() const;
  void reset(bool keep_config = false) const;

  std::string log() const { return child_.log(); }  // what the emulator printed so far

 private:
  options opts_;
  child_process child_;
};

}  // namespace maxsess::test
