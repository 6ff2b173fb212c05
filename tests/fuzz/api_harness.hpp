#pragma once
// The real HTTP API (net::http_api) with fake services that answer at once,
// for the fuzz targets that go through it: the request is parsed and
// validated by the code the daemon runs, and whatever reaches a fake is
// checked against what validation promises. No socket, no actor, no
// database: one input is one synchronous call.
#include <chrono>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "net/http_api.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace maxsess::fuzz {

// 2026-01-01T00:00:00Z: the seeds' tokens (tests/fuzz/auth_query/) were
// signed with api_harness::secret to expire 10 minutes after it.
constexpr int64_t fixed_now_s = 1767225600;

struct fake_accounts : actors::account_service {
  std::optional<actors::link_request> last_link;
  std::optional<actors::auth_request> last_auth;
  void request_link(actors::link_request req, link_cb done) override {
    last_link = req;
    actors::link_outcome o;
    o.result = actors::link_result::approved;
    o.session.account_id = req.account_id;
    o.session.device_id = req.device_id;
    o.session.content = req.content;
    o.url = "http://s.test/" + req.content.stream + "/index.m3u8?token=t";
    o.token = "t";
    done(o);
  }
  void end_session(std::string, std::string, bool, end_cb done) override { done(actors::end_result::ended); }
  void get_account(std::string, view_cb done) override { done(std::nullopt); }
  void authorize(actors::auth_request req, auth_cb done) override {
    last_auth = req;
    done(actors::auth_outcome{actors::auth_result::allow});
  }
  void put_account(account_settings, view_cb done) override { done(std::nullopt); }
  void delete_account(std::string, end_cb done) override { done(actors::end_result::ended); }
};

struct fake_streamers : actors::streamer_admin {
  std::vector<streamer> list() override { return {}; }
  std::optional<streamer> get(int64_t) override { return std::nullopt; }
  void put(streamer, done_fn done) override { done(actors::admin_status::ok, {}); }
  void remove(int64_t, done_fn done) override { done(actors::admin_status::not_found, {}); }
};

struct fake_streamer_side : actors::streamer_side {
  void post_events(std::string, std::string, webhook_cb done) override { done(actors::webhook_result{}); }
  void run_job(actors::job_request req, job_cb done) override {
    actors::job_report rep;
    rep.what = req.what;
    done(rep);
  }
  void streamers_changed() override {}
};

using namespace maxsess::net;

struct api_harness {
  static constexpr const char* secret = "k1:fuzz-secret";

  fake_accounts accounts;
  fake_streamers streamers;
  fake_streamer_side side;
  manual_clock clock{sys_time{std::chrono::seconds(fixed_now_s)}};
  std::ostream null_out{nullptr};  // the log goes nowhere: millions of inputs
  logger log{null_out, log_level::debug, false, clock};
  metric_registry metrics;
  link_signer signer = *link_signer::from_spec(secret);
  http_api api{{"admin-secret", {}}, {accounts, streamers, side, signer, clock, log, metrics}};

  // One request, answered exactly once and synchronously (the fakes answer
  // at once), never with a 5xx, always with a JSON body.
  response call(request req) {
    accounts.last_link.reset();
    accounts.last_auth.reset();
    int answers = 0;
    std::optional<response> out;
    api.handle(std::move(req), "127.0.0.1", [&](response r) {
      ++answers;
      out = std::move(r);
    });
    FUZZ_CHECK(answers == 1);
    FUZZ_CHECK(out->result_int() < 500);
    FUZZ_CHECK(nlohmann::json::accept(out->body()));
    return std::move(*out);
  }

  static api_harness& get() {
    static api_harness h;
    return h;
  }
};

}  // namespace maxsess::fuzz
