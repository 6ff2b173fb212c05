#pragma once
// Shared parts of the fault tests (tests/fault, ctest label `fault`): a
// PostgreSQL private to one test, so it can be stopped without disturbing
// any other test, and a link + webhook load that keeps a ledger of what the
// daemon acknowledged, checked afterwards against the database by SQL.
//
// What counts as acknowledged (the daemon's promise, docs/http_api.md): a
// link answered 200 has its session row durable; a webhook batch answered
// 2xx has every event in it durable. Anything else (503 + Retry-After, a
// reset connection, a daemon killed mid-request) promised nothing.
#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"

namespace maxsess::test::fault {

using std::chrono::milliseconds;

// scripts/pg.sh start DIR PORT on a folder of its own. Started durable, then
// `fsync = off` (the OS page cache stands in for the disk, as with --fast)
// but `synchronous_commit` stays on: a commit is in the WAL before it is
// acknowledged, so a server crash (halt --immediate) loses no acknowledged
// write. With --fast (synchronous_commit=off) an immediate stop may drop
// the last commits, and the test would blame the daemon for it.
class private_pg {
 public:
  private_pg();   // starts it; throws std::runtime_error with pg.sh's output
  ~private_pg();  // pg.sh stop DIR: server gone, data deleted
  private_pg(const private_pg&) = delete;
  private_pg& operator=(const private_pg&) = delete;

  const std::string& dsn() const { return dsn_; }  // the maintenance database `maxsess`
  uint16_t port() const { return port_; }
  // pg.sh halt DIR [--immediate]: the server goes, its data stays.
  void halt(bool immediate);
  // pg.sh start DIR PORT: the same data on the same port.
  void start();
  bool running() const;
  // SIGSTOP / SIGCONT of the postmaster and every backend: a server that
  // hangs (accepts TCP, never answers) instead of one that is gone.
  void freeze();
  void thaw();

 private:
  int pg(const std::string& args, std::string& output) const;
  std::vector<int> processes() const;  // the postmaster, then its children
  child_process scratch_;  // owns the temporary folder
  std::string dir_;
  std::string dsn_;
  uint16_t port_ = 0;
};

// Polls `cond` every 50 ms; false when `limit` passed first.
bool eventually(const std::function<bool()>& cond, milliseconds limit);

// One approval or webhook event the daemon acknowledged.
struct approval {
  std::string account, device, token;
};

struct load_options {
  uint16_t port = 0;                  // the daemon's HTTP port
  std::string host = "s1.test";       // streamer host in the webhook path
  std::vector<std::string> accounts;  // links go to these at random
  int threads = 2;          // asking links
  int webhook_threads = 2;  // posting the approved devices' events
  std::string prefix = "d";           // device names: <prefix><thread>-<n>, never reused
  unsigned seed = 7;
};

// Link threads, each in a loop: a link for a new device. Webhook threads
// take the approved devices in turn: a play_opened batch for each (resent,
// as Flussonic does, until a 2xx or the load stops), then for every other
// device a play_closed batch the same way. (Apart, so that links keep
// coming while batches are being resent through an outage.)
// Every answer is classified: 200 (and 403 for links) is an answer, 503
// must carry Retry-After, a transport error is allowed only while
// `expect_down` is set (the daemon killed or stopping on purpose).
// Anything else is recorded as an error.
class link_webhook_load {
 public:
  explicit link_webhook_load(load_options opts);
  ~link_webhook_load();  // stop()
  link_webhook_load(const link_webhook_load&) = delete;
  link_webhook_load& operator=(const link_webhook_load&) = delete;

  void start();
  void stop();  // each thread finishes its request, then they are joined

  // Transport errors (refused, reset, no answer) are expected from now on.
  void expect_down(bool on) { down_ = on; }

  struct counts {
    uint64_t links = 0, approved = 0, denied = 0, links_503 = 0;
    uint64_t batches = 0, opened_acked = 0, closed_acked = 0, events_503 = 0;
    uint64_t transport = 0;  // excused transport errors
  };
  counts totals() const;
  std::vector<std::string> errors() const;  // the first 20, with the count
  uint64_t error_count() const;
  std::string summary() const;

  // Waits until `n` more links were approved than when it was called.
  bool wait_approvals(uint64_t n, milliseconds limit);
  // Waits until `n` more links were answered 503 (with Retry-After).
  bool wait_503s(uint64_t n, milliseconds limit);

  // Every acknowledged approval and event, checked against the database
  // at `dsn`: an approval's row exists with its token and (unless a close
  // was sent for it) is pending or active; an acknowledged play_opened's
  // Flussonic session id is in the row; an acknowledged play_closed left
  // the row ended. One line per discrepancy; empty when none.
  std::vector<std::string> missing_in(const std::string& dsn) const;

 private:
  void worker(int index);
  void webhook_worker();
  // Posts one webhook batch until it is acknowledged (true) or the load
  // stops (false).
  bool deliver(http_client& c, const std::string& body, bool closing);
  void error(const std::string& what);
  bool transport_excused();

  load_options opts_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> down_{false};
  std::vector<std::thread> threads_;
  std::atomic<int64_t> next_event_id_;
  mutable std::mutex mutex_;
  counts counts_;
  std::vector<std::string> errors_;
  uint64_t error_count_ = 0;
  std::vector<approval> approvals_;
  std::size_t next_to_post_ = 0;  // approvals_[next_to_post_] is the next webhook device
  std::set<std::pair<std::string, std::string>> close_sent_;
  std::vector<approval> opened_;  // token field holds the Flussonic session id
  std::vector<approval> closed_;
};

}  // namespace maxsess::test::fault
