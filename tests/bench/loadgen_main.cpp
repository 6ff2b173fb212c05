// maxsess_loadgen: the load generator (loadgen.hpp) from the command line,
// for the anchors `make bench` measures beside maxsess (nginx, the bare
// Beast server): one request shape, closed or open loop, and the CPU and
// RSS of the server's processes (--pids) over the window. Prints a line for
// people and, with --json, appends one JSON line of the bench's contract.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/loadgen.hpp"

namespace {

const char* const usage =
    "usage: maxsess_loadgen --port P [options]\n"
    "  --port P[,P...]     server ports on 127.0.0.1 (connection i uses port i mod n)\n"
    "  --method M          default GET\n"
    "  --target T          default /\n"
    "  --body-file F       request body (default none)\n"
    "  --header 'N: V'     extra request header, repeatable\n"
    "  --connections C     keep-alive connections (default 64)\n"
    "  --threads N         load threads (default 1)\n"
    "  --seconds D         measured window (default 5)\n"
    "  --warmup S          seconds before the window, not recorded (default 1)\n"
    "  --rate R            open loop at R requests/s in all (default: closed loop)\n"
    "  --pids L            comma list of the server's processes: their CPU and RSS\n"
    "  --scenario NAME     name in the JSON line (default loadgen)\n"
    "  --note TEXT         note in the JSON line\n"
    "  --json FILE         append one JSON line\n";

std::atomic<bool> g_interrupted{false};

double proc_cpu_s(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto rp = all.rfind(')');
  if (rp == std::string::npos) return 0;
  std::stringstream ss(all.substr(rp + 2));
  std::vector<std::string> f;
  for (std::string t; ss >> t;) f.push_back(t);
  if (f.size() < 13) return 0;
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double proc_rss_mib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// /proc/stat's first line: busy and total jiffies of all cores.
struct machine_cpu {
  unsigned long long busy = 0, total = 0;
};
machine_cpu machine_now() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  unsigned long long v[10] = {};
  for (auto& x : v) in >> x;
  machine_cpu m;
  for (auto x : v) m.total += x;
  m.total -= v[8] + v[9];          // guest time is already in user/nice
  m.busy = m.total - v[3] - v[4];  // minus idle, iowait
  return m;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string t; std::getline(ss, t, ',');)
    if (!t.empty()) out.push_back(t);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  namespace lg = maxsess::loadgen;
  lg::options o;
  lg::request shape;
  std::vector<int> pids;
  std::string scenario = "loadgen", note, json;
  double seconds = 5, warmup = 1;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "-h" || a == "--help") {
        std::cout << usage;
        return 0;
      } else if (a == "--port") {
        for (auto& p : split(value())) o.ports.push_back(static_cast<uint16_t>(std::stoi(p)));
      } else if (a == "--method") {
        shape.method = value();
      } else if (a == "--target") {
        shape.target = value();
      } else if (a == "--body-file") {
        std::ifstream in(value());
        if (!in) throw std::invalid_argument("--body-file: cannot read it");
        shape.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      } else if (a == "--header") {
        auto h = value();
        auto c = h.find(':');
        if (c == std::string::npos) throw std::invalid_argument("--header wants 'Name: value'");
        shape.headers.emplace_back(h.substr(0, c), h.substr(h.find_first_not_of(' ', c + 1)));
      } else if (a == "--connections") {
        o.connections = std::stoi(value());
      } else if (a == "--threads") {
        o.threads = std::stoi(value());
      } else if (a == "--seconds") {
        seconds = std::stod(value());
      } else if (a == "--warmup") {
        warmup = std::stod(value());
      } else if (a == "--rate") {
        o.open_loop = true;
        o.rate = std::stod(value());
      } else if (a == "--pids") {
        for (auto& p : split(value())) pids.push_back(std::stoi(p));
      } else if (a == "--scenario") {
        scenario = value();
      } else if (a == "--note") {
        note = value();
      } else if (a == "--json") {
        json = value();
      } else {
        throw std::invalid_argument("unknown argument '" + a + "'");
      }
    }
    if (o.ports.empty()) throw std::invalid_argument("--port is required");
    if (o.connections < 1 || o.threads < 1 || seconds <= 0 || warmup < 0)
      throw std::invalid_argument("--connections, --threads, --seconds want positive numbers");
  } catch (const std::exception& e) {
    std::cerr << "maxsess_loadgen: " << e.what() << "\n\n" << usage;
    return 2;
  }
  std::signal(SIGINT, [](int) { g_interrupted = true; });
  std::signal(SIGTERM, [](int) { g_interrupted = true; });
  std::signal(SIGPIPE, SIG_IGN);
  o.interrupted = &g_interrupted;
  o.duration = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  o.warmup = std::chrono::milliseconds(static_cast<long>(warmup * 1000));
  o.make_request = [&shape](lg::request& r, const lg::gen_state&) { r = shape; };

  // The server's CPU over the window alone: sampled when the warm-up ends.
  double cpu0 = 0;
  machine_cpu m0;
  std::thread sampler([&] {
    std::this_thread::sleep_for(o.warmup + std::chrono::milliseconds(2));
    for (int p : pids) cpu0 += proc_cpu_s(p);
    m0 = machine_now();
  });
  lg::result r;
  try {
    r = lg::run(o);
  } catch (const std::exception& e) {
    sampler.join();
    std::cerr << "maxsess_loadgen: " << e.what() << "\n";
    return 1;
  }
  sampler.join();
  double cpu1 = 0, rss = 0;
  for (int p : pids) {
    cpu1 += proc_cpu_s(p);
    rss += proc_rss_mib(p);
  }
  // Everything else the cores did meanwhile (other people's work on a
  // shared machine), as a share of all cores.
  const machine_cpu m1 = machine_now();
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double all_s = (m1.total - m0.total) / tck, busy_s = (m1.busy - m0.busy) / tck;
  const double others = all_s > 0 ? std::max(0.0, busy_s - r.cpu_s - (cpu1 - cpu0)) / all_s : 0;
  // The drain after the window adds a little server CPU in the open loop;
  // the closed loop stops at the window's end.
  const double server_us = r.requests && !pids.empty() ? (cpu1 - cpu0) * 1e6 / r.requests : -1;
  std::string statuses;
  for (auto& [s, n] : r.statuses) statuses += (statuses.empty() ? "" : " ") + std::to_string(s) + ":" + std::to_string(n);
  std::cout << std::setprecision(4) << scenario << ": " << static_cast<long long>(r.rate()) << " req/s (" << r.requests << " in "
            << r.elapsed_s << " s, " << o.connections << " conns, " << (o.open_loop ? "open loop" : "closed loop")
            << "), statuses " << statuses << ", errors " << r.errors << ", late " << r.late << ", p50 "
            << r.quantile_ms(0.5) << " ms, p90 " << r.quantile_ms(0.9) << " ms, p99 " << r.quantile_ms(0.99)
            << " ms, max " << r.latency.max_ns() / 1e6 << " ms; client CPU " << r.cpu_us_per_request()
            << " us/req";
  if (!pids.empty()) std::cout << "; server CPU " << server_us << " us/req, RSS " << rss << " MiB";
  std::cout << "\n";
  if (!r.first_error.empty()) std::cout << "first error: " << r.first_error << "\n";
  if (!r.first_unexpected.empty()) std::cout << "first unexpected: " << r.first_unexpected << "\n";
  lg::figure f;
  f.scenario = scenario;
  f.value = r.rate();
  f.p50_ms = r.quantile_ms(0.5);
  f.p99_ms = r.quantile_ms(0.99);
  f.cpu_us_per_op = server_us;
  f.rss_mib = pids.empty() ? -1 : rss;
  std::ostringstream n;
  n << std::fixed << std::setprecision(1) << note << (note.empty() ? "" : "; ") << "loadgen " << o.connections << " conns "
    << (o.open_loop ? "open" : "closed") << " loop, client " << r.cpu_us_per_request() << " us/req";
  if (r.errors) n << ", " << r.errors << " transport errors";
  n << std::setprecision(0) << "; others " << others * 100 << "% of the cores";
  f.note = n.str();
  try {
    lg::append_json(json, f);
  } catch (const std::exception& e) {
    std::cerr << "maxsess_loadgen: " << e.what() << "\n";
    return 1;
  }
  return r.requests > 0 && r.errors == 0 ? 0 : 1;
}
