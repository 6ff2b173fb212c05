// auth-new and auth-update: GET /flussonic/auth exactly as Flussonic calls
// it (FLUSSONIC.md §1, net/http_api.cpp flussonic_auth), on 2 000 devices
// holding signed links.
//   auth-new     request n: new_session for device n mod 2000 with a new
//                Flussonic session id (the same player address, so it
//                replaces the device's previous Flussonic session: allowed,
//                the row updated)
//   auth-update  the 2 000 sessions opened first (new_session each), then
//                update_session round-robin with growing duration and bytes
// Every answer must be 200 allow; anything else is reported and fails the run.
#include <cstdio>
#include <iostream>

#include "tests/bench/flows.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench::flows {

using maxsess::test::daemon_options;
using maxsess::test::daemon_process;
using maxsess::test::http_client;
using maxsess::test::query_scalar;

namespace {
constexpr int auth_connections = 64;  // issue 7: 64 keep-alive connections
}  // namespace

std::string session_uuid(uint64_t n, int kind) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012llx", kind, static_cast<unsigned long long>(n));
  return buf;
}

std::vector<device> make_links(uint16_t port, const std::string& admin_token, int accounts) {
  put_streamer(port, admin_token, 1, "s1");
  std::vector<device> out(static_cast<std::size_t>(accounts) * 2);
  parallel_for({port}, static_cast<int>(out.size()), 8, [&](http_client& c, int i) {
    auto& d = out[i];
    d.account = "p" + std::to_string(i / 2);
    d.id = "d" + std::to_string(i % 2);
    d.stream = "ch" + std::to_string(i % 50);
    d.ip = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    d.session_id = session_uuid(i, 1);
    auto r = c.post_json("/api/v1/links", link_body(d.account, d.id, d.stream));
    expect(r, 200, "POST /api/v1/links");
    d.token = nlohmann::json::parse(r.body).at("token").get<std::string>();
  });
  return out;
}

std::string auth_target(const device& d, bool fresh, const std::string& session_id,
                        uint64_t request_number, int64_t duration, int64_t bytes) {
  std::string t = "/flussonic/auth?name=" + query_escape(d.stream) + "&proto=hls&ip=" + d.ip +
                  "&request_type=" + (fresh ? "new_session" : "update_session") +
                  "&request_number=" + std::to_string(request_number) +
                  "&session_id=" + session_id + "&token=" + query_escape(d.token) +
                  "&stream_clients=1&total_clients=2000&qs=" + query_escape("token=" + d.token) +
                  "&user_agent=" + query_escape("Mozilla/5.0 (SmartTV) bench");
  if (!fresh) t += "&duration=" + std::to_string(duration) + "&bytes=" + std::to_string(bytes);
  return t;
}

void open_sessions(uint16_t port, const std::vector<device>& devices) {
  parallel_for({port}, static_cast<int>(devices.size()), 8, [&](http_client& c, int i) {
    const auto& d = devices[i];
    auto r = c.get(auth_target(d, true, d.session_id, 1, 0, 0));
    expect(r, 200, "new_session for " + d.account + "/" + d.id);
  });
}

int run_auth(const options& o, const std::string& server, const std::string& scenario, int ncpu) {
  const bool update = scenario == "auth-update";
  const std::string dsn = maxsess::test::create_migrated_database("bench_auth");
  daemon_options opts;
  opts.dsn = dsn;
  opts.env = daemon_env(o);
  daemon_process d(opts);
  d.start();
  track_pid(d.pid());
  const auto devices = make_links(d.port(), d.admin_token(), playing_accounts);
  if (update) open_sessions(d.port(), devices);
  const auto n_dev = devices.size();

  load l;
  l.scenario = scenario;
  l.connections = auth_connections;
  l.seconds = o.seconds;
  l.port = d.port();
  l.daemons = {d.pid()};
  // Request generation (switchable to another load generator): device
  // n mod 2000; auth-update's pass p reports 30 s and 1 MB more per pass.
  l.make = [&devices, n_dev, update](uint64_t n) {
    const auto& dev = devices[n % n_dev];
    const uint64_t pass = n / n_dev + 1;
    request q;
    q.target = update ? auth_target(dev, false, dev.session_id, pass + 1, static_cast<int64_t>(pass * 30),
                                     static_cast<int64_t>(pass * 1000000))
                      : auth_target(dev, true, session_uuid(n, 2), 1, 0, 0);
    return q;
  };
  l.ok = [](uint64_t, int status, const std::string& body) {
    return status == 200 && body.find("allow") != std::string::npos;
  };
  run_result res;
  uint64_t unexpected = 0;
  const long long wal0 = wal_syncs(server);
  run_closed_loop(l, res, unexpected);
  const long long wal1 = wal_syncs(server);
  res.rows_before = res.rows_after = count_rows(dsn);
  const auto active = query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE status = 'active'");
  res.exit_code = d.stop();
  untrack_pid(d.pid());
  print_detail(res, ncpu);
  const bool ok = unexpected == 0 && res.errors == 0 && res.exit_code == 0 && res.requests > 0;
  std::cout << "auth         " << (update ? "update_session" : "new_session") << " on " << n_dev
            << " devices (" << playing_accounts << " accounts x 2), " << auth_connections
            << " connections; answers other than 200 allow: " << unexpected
            << "; rows active after: " << active << "\n"
            << "daemon       " << fmt(res.requests ? res.daemon_cpu_s / res.requests * 1e6 : 0, 1)
            << " us CPU/request; WAL fsyncs in the window "
            << (wal0 >= 0 && wal1 >= 0 ? std::to_string(wal1 - wal0) : "n/a") << "\n"
            << "result       " << (ok ? "ok" : "FAILED") << "\n";
  auto line = json_of(res, "req/s", res.requests / res.elapsed_s, static_cast<double>(res.requests),
                      std::string(update ? "update_session" : "new_session (a new Flussonic session each)") +
                          ", " + std::to_string(n_dev) + " devices, " + std::to_string(auth_connections) +
                          " conns" + (o.fast ? ", NOT durable (--fast)" : ", durable") + "; statuses " +
                          statuses_text(res));
  line["ok"] = ok;
  line["statuses"] = statuses_text(res);
  line["wal_fsyncs"] = wal0 >= 0 && wal1 >= 0 ? nlohmann::ordered_json(wal1 - wal0) : nlohmann::ordered_json();
  emit(line);
  drop_database(server, dsn);
  return ok ? 0 : 1;
}

}  // namespace maxsess::bench::flows
