#pragma once
// Multi-process cluster tests (PRODUCT.md §6): N `maxsessd serve` processes
// on one PostgreSQL database, each configured the way an operator would
// (config/example.yaml plus environment overrides), and a load driver whose
// every operation goes into a tests/support/history.hpp `history`.
//
// Everything waits by polling with a deadline, never by sleeping a fixed
// time. A node keeps its id, its HTTP port and its cluster.listen port for
// the whole test (chosen free when the node is added), so it can be
// restarted under the same identity.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/history.hpp"
#include "tests/support/http_client.hpp"

namespace maxsess::test {

using std::chrono::milliseconds;

struct cluster_options {
  int nodes = 3;                 // nodes created up front (started by start_all())
  int shards = 32;               // cluster.shards
  std::string lease_ttl = "2s";  // cluster.lease_ttl
  std::string admin_token = "test-admin-token";
  std::string token_secret = "t1:cluster-test-secret";
  std::string log_level = "info";
  // Extra environment for every node (MAXSESS_* overrides), then for one
  // node (by index).
  std::map<std::string, std::string> env;
  std::map<int, std::map<std::string, std::string>> node_env;
};

class cluster {
 public:
  // Creates a fresh database and migrates it with `maxsessd migrate`.
  // Nodes are created (ids n1..nN, ports chosen) but not started.
  explicit cluster(cluster_options opts = {});
  ~cluster();  // SIGKILL (and SIGCONT) whatever still runs
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  // --- nodes --------------------------------------------------------------
  int size() const { return static_cast<int>(nodes_.size()); }
  // A new node (id n<size+1>, free ports); not started. Returns its index.
  int add_node();
  void spawn(int i);                               // start the process, no wait
  void wait_ready(int i, milliseconds limit = milliseconds(30000));  // /readyz 200
  void start(int i);                               // spawn + wait_ready
  void start_all();                                // spawn every node, then wait for each
  void kill9(int i);                               // SIGKILL, reaped
  void freeze(int i);                              // SIGSTOP
  void thaw(int i);                                // SIGCONT
  // SIGTERM, wait; SIGKILL after `grace`. The exit code (137 when it had
  // to be killed; -1: not running).
  int stop(int i, milliseconds grace = milliseconds(40000));
  int restart(int i);                              // stop (its exit code is returned), start
  bool running(int i) const;
  bool frozen(int i) const;
  // Running and not frozen: answers HTTP.
  bool serving(int i) const { return running(i) && !frozen(i); }
  std::vector<int> serving_nodes() const;

  std::string node_id(int i) const;
  int index_of(const std::string& node_id) const;  // -1 when unknown
  uint16_t http_port(int i) const;
  uint16_t cluster_port(int i) const;
  std::string log(int i) const;
  // The last `lines` lines of every node's log, for failure messages.
  std::string log_tails(std::size_t lines = 40) const;

  const std::string& dsn() const { return dsn_; }
  int shard_count() const { return opts_.shards; }
  const std::string& admin_token() const { return opts_.admin_token; }
  std::map<std::string, std::string> admin() const;
  // The complete environment node i runs with.
  std::map<std::string, std::string> env_of(int i) const;

  // Runs `maxsessd <args> --config config/example.yaml` to completion (at
  // most `limit`, then it is killed: exit 124) with exactly `env` added to
  // this process's environment (MAXSESS_* variables of this process that
  // are not in `env` are removed). Returns the exit code; `output` gets
  // stdout+stderr.
  int run_command(const std::string& args, const std::map<std::string, std::string>& env,
                  std::string& output, std::chrono::seconds limit = std::chrono::seconds(60)) const;

  // --- reading ------------------------------------------------------------
  // One HTTP request on a fresh connection to node i (throws on transport
  // errors, like http_client).
  http_reply request(int i, const std::string& method, const std::string& target,
                     const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {}) const;
  // GET /api/v1/cluster on node i; throws std::runtime_error unless 200.
  nlohmann::json status(int i) const;
  // GET /metrics on node i: "name{labels}" (or "name") -> value.
  std::map<std::string, double> metrics(int i) const;
  // One metric summed over all its label sets (0 when absent).
  double metric(int i, const std::string& name) const;

  int shard_of(const std::string& account) const;
  // Owner of each shard in node `via`'s view ("" when none or expired).
  std::vector<std::string> owners(int via) const;
  // The index of the node owning `account`'s shard in node `via`'s view, -1 if none.
  int owner_of(const std::string& account, int via) const;
  // The first name prefix0, prefix1, ... whose shard node `owner` holds in
  // node `via`'s view. Throws when none is found among 10000 names.
  std::string account_owned_by(int owner, const std::string& prefix, int via) const;

  // --- waiting ------------------------------------------------------------
  // Polls `cond` every 50 ms; false when `limit` passed first.
  static bool eventually(const std::function<bool()>& cond, milliseconds limit);
  // Every serving node is in the cluster, sees every other serving node
  // alive and connected, and sees every shard held (unexpired) by a serving
  // node. Returns a description of what is missing ("" when it all holds).
  std::string not_settled() const;
  // not_settled() plus: every serving node holds between (1-tolerance)·S/N
  // and (1+tolerance)·S/N shards, or with tolerance 0 exactly its fair
  // share (floor or ceil of S/N).
  std::string not_balanced(double tolerance = 0) const;
  // Waits for the above; throws std::runtime_error (with what is missing
  // and the node logs) after `limit`.
  void wait_settled(milliseconds limit = milliseconds(30000));
  void wait_balanced(milliseconds limit = milliseconds(30000), double tolerance = 0);

  // PUT /api/v1/streamers/<id> through node `via`, then waits until every
  // serving node knows it (streamers are re-read every lease round).
  void put_streamer(int id, const nlohmann::json& body, int via = 0,
                    milliseconds limit = milliseconds(15000));
  // PUT /api/v1/accounts/<account> {"max_sessions": n} through node `via`
  // (retried while the owner answers 503).
  void put_account(const std::string& account, int64_t max_sessions, int via = 0);

 private:
  struct node;
  node& at(int i) const;
  std::string describe_views() const;

  cluster_options opts_;
  std::string dsn_;
  std::string config_path_;
  std::vector<std::unique_ptr<node>> nodes_;
};

// --- client operations recorded in a history ---------------------------------

struct op_result {
  int status = 0;          // HTTP status, 0 on a transport error
  bool retry_after = false;  // the answer carried Retry-After
  std::string code;        // error.code of the JSON answer, if any
  std::string error;       // transport error text
  std::string token;       // link token of an approval
  time_ns sent = 0;
  time_ns received = 0;
  // 503 with Retry-After: the cluster said "try again" (owner moving).
  bool retryable() const { return status == 503 && retry_after; }
};

// POST /api/v1/links for (account, device) on `client`; recorded in `h`:
// 200 approved, 403 max_sessions_reached denied, anything else indeterminate.
op_result recorded_link(history& h, http_client& client, const std::string& account,
                        const std::string& device, const std::string& stream = "news");
// DELETE /api/v1/accounts/<account>/devices/<device>/session; recorded in
// `h`: acknowledged on 204 or 404, otherwise not (it may still land).
op_result recorded_end(history& h, http_client& client, const std::string& account,
                       const std::string& device);

// Devices of `holders` without a pending or active row in the database.
std::vector<device_ref> without_live_row(const std::string& dsn, const std::vector<device_ref>& holders);

// --- load driver ----------------------------------------------------------------

struct load_options {
  std::vector<std::string> accounts;  // their limits must be in the history
  int devices = 8;                    // per account
  int threads = 6;
  double end_share = 0.25;            // share of operations that end a session
  unsigned seed = 12345;
};

// K client threads: each picks a random account and device, asks for a
// link (or ends the device's session), sending to the nodes marked up,
// round-robin. A 503 with Retry-After is retried as a new operation. An
// end that got no acknowledgement is retried until one comes, and the
// device slot continues under a new device name meanwhile (an end in doubt
// makes every later approval of its device unprovable for the checker).
// Everything else that is not 200/403 (links) or 204/404 (ends) is
// recorded as an error, except transport errors on a node marked
// `excused` (killed or frozen on purpose).
class load_driver {
 public:
  load_driver(cluster& c, history& h, load_options opts);
  ~load_driver();  // stop()

  void start();
  void stop();  // stops the threads and joins them (each finishes its operation)

  // Whether clients send new requests to node i.
  void set_up(int i, bool up);
  // Waits until no request to node i is in flight; false after `limit`.
  bool wait_idle(int i, milliseconds limit = milliseconds(15000));
  // Transport errors on node i are expected from now on (kill -9, SIGSTOP)
  // until set_up(i, true). Whether clients still send to it is set_up's.
  void excuse(int i);

  // Runs the load for `d` (a bounded run, not a wait for a condition).
  void run_for(milliseconds d);

  struct counts {
    uint64_t links = 0, approved = 0, denied = 0, retryable = 0, other_links = 0;
    uint64_t ends = 0, ends_acked = 0, ends_retryable = 0, other_ends = 0;
    uint64_t excused = 0;
  };
  counts totals() const;
  // Failures beyond 503 + Retry-After (and excused transport errors).
  std::vector<std::string> errors() const;
  uint64_t error_count() const;
  std::string summary() const;
  // The earliest `received` of a link answered 200/403 for one of
  // `accounts` that was sent at or after `since`; 0 when none.
  time_ns first_decision_after(const std::vector<std::string>& accounts, time_ns since) const;

 private:
  struct slot {
    std::atomic<int> generation{0};
  };
  void worker(int index);
  int pick_node(unsigned& rr);
  std::string device_name(const std::string& account, int k) const;
  void note_error(const std::string& what);
  bool is_excused(int i) const;
  bool up_at(int i) const;

  cluster& c_;
  history& h_;
  load_options opts_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::vector<bool> up_;
  std::vector<bool> excused_;
  std::vector<int> in_flight_;
  std::map<std::string, std::unique_ptr<slot>> slots_;  // "account/k" (fixed at construction)
  counts counts_;
  std::vector<std::string> errors_;
  uint64_t error_count_ = 0;
  std::map<std::string, std::vector<std::pair<time_ns, time_ns>>> decisions_;  // account -> (sent, received)
};

// Tests of known product bugs stay in the suite (a comment at each names
// the bug) but are skipped, so the suite stays green, unless
// MAXSESS_RUN_KNOWN_BUGS=1: then they run, and fail until the bug is fixed.
bool run_known_bugs();
#define MAXSESS_SKIP_KNOWN_BUG(what)                                  \
  do {                                                                \
    if (!::maxsess::test::run_known_bugs())                           \
      GTEST_SKIP() << "known product bug: " << what                   \
                   << " (MAXSESS_RUN_KNOWN_BUGS=1 runs the test)";    \
  } while (false)

// --- fixture ---------------------------------------------------------------------

// Skips without a test PostgreSQL; prints what the nodes logged when a test
// failed; kills what is left.
class cluster_test : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts `o.nodes` nodes, registers streamer 1 (s1.test) everywhere and
  // waits until the shards are spread evenly.
  cluster& boot(cluster_options o = {});
  // One account per serving node (owned by it, in node `via`'s view), then
  // `extra` more owned by the nodes in turn; each gets `max_sessions` and
  // its limit goes into `h`.
  std::vector<std::string> load_accounts(history& h, int64_t max_sessions, int extra = 1,
                                         const std::string& prefix = "acc");
  // The history has no violation and every device that certainly held a
  // slot at the end has a pending/active row in PostgreSQL.
  void expect_safe(const history& h);

  std::unique_ptr<cluster> c;
};

}  // namespace maxsess::test
