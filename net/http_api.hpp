#pragma once
// The HTTP API of PRODUCT.md §4 as a function of the request: parse and
// validate, call the account service / streamer admin, render JSON. No
// sockets here, so every route is tested without a server. Answers may come
// later from an actor thread; they go through the reply callback.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "actors/account_service.hpp"
#include "actors/jobs.hpp"
#include "actors/streamer_registry.hpp"
#include "domain/clock.hpp"
#include "domain/log.hpp"
#include "domain/metrics.hpp"
#include "domain/token.hpp"
#include "net/access.hpp"
#include "net/http_server.hpp"
#include "storage/store.hpp"

namespace maxsess::net {

struct api_options {
  // Used when `tokens` is null (tests): one admin token, fixed client tokens.
  std::string admin_token;
  std::vector<std::string> client_tokens;  // empty: device API open
  // The daemon's tokens, replaced on SIGHUP (several valid at once).
  std::shared_ptr<token_guard> tokens = nullptr;
  std::chrono::milliseconds link_ttl{600000};     // to know when a token was issued
  std::chrono::milliseconds auth_duration{30000};  // X-AuthDuration
};

struct api_deps {
  actors::account_service& accounts;
  actors::streamer_admin& streamers;
  actors::streamer_side& streamer_side;
  const link_signer& signer;
  const clock_source& clock;
  logger& log;
  metric_registry& metrics;
  // Gauges computed at scrape time (sessions by status...), in the text
  // format; called from an I/O thread, answers through the callback.
  std::function<void(std::function<void(std::string)>)> scrape = {};
  // /readyz: besides start-up being over, is the node able to serve now
  // (database reachable; in cluster mode, in the cluster)? Empty: yes.
  std::function<bool()> ready_check = {};
  // GET /api/v1/cluster (admin): the JSON document, through the callback
  // (empty string: no answer in time). Empty function: 404.
  std::function<void(std::function<void(std::string)>)> cluster_status = {};
  // Who may call the auth backend and the webhooks (docs/security.md).
  // Null: anyone, as before (tests of other routes).
  const streamer_access* access = nullptr;
  // GET /api/v1/sessions (admin): one page of session rows read from
  // PostgreSQL off the I/O thread (the daemon: the reader pool); the
  // callback gets nullopt when the read failed. Empty function: 404.
  std::function<void(storage::session_query,
                     std::function<void(std::optional<storage::session_page>)>)>
      list_sessions = {};
  // GET /api/v1/accounts/{id}/events and /api/v1/events: reads the audit
  // trail on the reader pool (never on an I/O thread or an actor); the
  // callback gets nullopt when the database did not answer. Empty: 503.
  using events_cb = std::function<void(std::optional<storage::event_page>)>;
  std::function<void(storage::event_query, events_cb)> read_events = {};
  // GET / : the status page (docs/status-page.md), static HTML that holds
  // no data and no secret; empty: 404.
  std::string status_page = {};
  // GET /api/v1/status (admin): the page's summary as JSON, through the
  // callback (empty string: the database did not answer). Empty function: 404.
  std::function<void(std::function<void(std::string)>)> status = {};
};


class http_api {
 public:
  http_api(api_options opts, api_deps deps);

  // The server's handler. Never throws; every answer is JSON.
  void handle(request req, std::string remote, reply_fn reply);

  // /readyz answers 200 only after set_ready(true) (end of start-up) and
  // 503 again once shutdown began.
  void set_ready(bool ready) { ready_ = ready; }

 private:
  struct call;
  void route(call& c);
  void post_link(call& c);
  void delete_session(call& c, const std::string& account, const std::string& device);
  void account_admin(call& c, const std::string& account);
  void sessions_admin(call& c);
  void streamer_admin_one(call& c, const std::string& id);
  void streamer_admin_list(call& c);
  void flussonic_auth(call& c);
  void webhook(call& c, const std::string& host);
  void job(call& c, const std::string& kind);
  // account empty: every account's events.
  void events(call& c, const std::string& account);
  void metrics(call& c);
  void cluster(call& c);
  void status_page(call& c);
  void status(call& c);
  // Refuses (answers, returns false) a streamer-side call that the access
  // rules do not let through; `auth` selects the auth backend's answer form.
  bool streamer_call_allowed(call& c, bool auth, const std::optional<std::string>& host,
                             const std::optional<std::string>& secret);

  api_options opts_;
  api_deps deps_;
  std::shared_ptr<token_guard> tokens_;
  log_gate refused_log_{std::chrono::seconds(10)};
  std::atomic<bool> ready_{false};
  std::string status_page_csp_;  // computed once from deps_.status_page
  // The series every request updates, resolved once (domain/metrics.hpp).
  struct request_metrics;
  std::shared_ptr<request_metrics> request_metrics_;
};

// JSON error body of PRODUCT.md §4: {"error":{"code","message"[,"field"]}}.
response error_response(http::status status, const std::string& code, const std::string& message,
                        const std::string& field = {});

}  // namespace maxsess::net
