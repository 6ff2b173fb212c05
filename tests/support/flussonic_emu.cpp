#include "tests/support/flussonic_emu.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"

namespace maxsess::test {

namespace {

std::string source_dir() {
  if (const char* p = std::getenv("MAXSESS_SOURCE_DIR"); p && *p) return p;
  return MAXSESS_SOURCE_DIR;
}

}  // namespace

bool python3_available() {
  static const bool available =
      std::system("python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' "
                  ">/dev/null 2>&1") == 0;
  return available;
}

flussonic_emulator::flussonic_emulator(options opts)
    : opts_(std::move(opts)), child_("flussonic-emu") {
  if (opts_.port == 0) opts_.port = free_port();
  if (!opts_.tls_cert.empty() && opts_.tls_port == 0) opts_.tls_port = free_port();
}

flussonic_emulator::~flussonic_emulator() { stop(); }

void flussonic_emulator::start() {
  if (child_.running()) throw std::runtime_error("flussonic_emulator: already started");
  std::vector<std::string> argv{
      "python3", source_dir() + "/tests/flussonic/flussonic_emu.py",
      "--port", std::to_string(opts_.port), "--host", "127.0.0.1",
      "--auth-url", opts_.auth_url, "--webhook-url", opts_.webhook_url,
      "--api-user", opts_.api_user, "--api-password", opts_.api_password,
      "--resend-timeout-ms", std::to_string(opts_.resend_timeout_ms),
      "--throttle-ms", std::to_string(opts_.throttle_ms), "--exit-with-parent"};
  if (!opts_.tls_cert.empty())
    argv.insert(argv.end(), {"--tls-port", std::to_string(opts_.tls_port), "--tls-cert", opts_.tls_cert,
                             "--tls-key", opts_.tls_key});
  child_.spawn(argv, {{"PYTHONUNBUFFERED", "1"}, {"PYTHONDONTWRITEBYTECODE", "1"}});
  child_.wait_ready(
      [this] { return http_client("127.0.0.1", opts_.port).get("/_emu/state").status == 200; },
      std::chrono::seconds(15), "flussonic emulator");
}

int flussonic_emulator::stop() { return child_.stop(std::chrono::seconds(5)); }

std::string flussonic_emulator::tls_api_url() const {
  return "https://127.0.0.1:" + std::to_string(opts_.tls_port);
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

}  // namespace maxsess::test
