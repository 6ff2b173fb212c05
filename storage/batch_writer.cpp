#include "storage/store.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "domain/model.hpp"
#include "domain/thread_name.hpp"
#include "storage/call_quietly.hpp"
#include "storage/pq.hpp"
#include "storage/writes.hpp"

namespace maxsess::storage {

using detail::apply_ops;
using detail::call_quietly;
using detail::connection;
using detail::write_session_options;

namespace {
const std::string& account_of(const write_op& op) {
  switch (op.what) {
    case write_op::kind::upsert_session: return op.upsert().session.account_id;
    case write_op::kind::delete_session: return op.del().account_id;
    case write_op::kind::upsert_account:
    case write_op::kind::delete_account: return op.account().settings.account_id;
    case write_op::kind::insert_event: return op.event().event.account_id;
    case write_op::kind::journal_progress: return op.progress().account_id;
  }
  return op.upsert().session.account_id;
}
}  // namespace

// One connection and its thread: the whole group-commit machinery. The
// batch_writer runs several side by side (storage.write_connections) so that
// one lane's commit (its fsync wait above all) overlaps another's work.
struct lane {
  using steady = std::chrono::steady_clock;
  struct pending {
    std::vector<write_op> ops;
    batch_writer::done_fn done;
    steady::time_point queued_at;
  };

  std::string dsn;
  std::string options;  // session settings (see the constructor)
  std::size_t max_rows = 1;
  std::chrono::milliseconds max_delay{0};

  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<pending> queue;
  std::size_t queued_ops = 0;
  bool stopping = false;
  batch_writer::stats counters;

  std::mutex stop_mutex;
  std::thread thread;
  std::unique_ptr<connection> conn;  // writer thread only


  void run() {
    for (;;) {
      std::vector<pending> batch;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty())
          return;  // stopping, and everything queued was committed
        // Group commit window: wait for more ops until the oldest queued
        // submit is max_delay old, unless a full batch is already here.
        if (!stopping && queued_ops < max_rows && max_delay.count() > 0) {
          auto deadline = queue.front().queued_at + max_delay;
          wake.wait_until(lock, deadline, [&] { return stopping || queued_ops >= max_rows; });
        }
        std::size_t rows = 0;
        while (!queue.empty()) {
          std::size_t n = queue.front().ops.size();
          if (!batch.empty() && rows + n > max_rows)
            break;
          rows += n;
          queued_ops -= n;
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      run_batch(batch);
    }
  }

  // One transaction over the given submits; nullopt when it failed.
  std::optional<std::vector<write_status>> attempt(const std::vector<const write_op*>& ops) {
    try {
      if (!conn)
        conn = std::make_unique<connection>(dsn, options);
      auto result = apply_ops(*conn, ops);
      std::lock_guard<std::mutex> lock(mutex);
      if (!ops.empty()) counters.commits++;  // a barrier alone (after()) commits nothing
      counters.ops += ops.size();
      return result;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!ops.empty()) counters.failures++;  // a barrier alone wrote nothing
      counters.last_error = e.what();
      return std::nullopt;
    }
  }

  static std::vector<const write_op*> ops_of(const std::vector<pending>& batch, std::size_t from,
                                            std::size_t to) {
    std::vector<const write_op*> out;
    for (std::size_t i = from; i < to; ++i)
      for (const auto& op : batch[i].ops)
        out.push_back(&op);
    return out;
  }

  // Per-submit outcome from the per-op statuses of a committed transaction.
  void answer_committed(const std::vector<pending>& batch, std::size_t from, std::size_t to,
                        const std::vector<write_status>& statuses) {
    std::vector<write_status> outcome;
    std::size_t k = 0;
    for (std::size_t i = from; i < to; ++i) {
      write_status s = write_status::ok;
      for (std::size_t j = 0; j < batch[i].ops.size(); ++j, ++k)
        if (statuses[k] == write_status::fenced)
          s = write_status::fenced;
      outcome.push_back(s);
    }
    count(batch, from, outcome);
    for (std::size_t i = from; i < to; ++i)
      call_quietly(batch[i].done, outcome[i - from]);
  }

  // The statistics count submits of writes; a barrier (after()) is none.
  void count(const std::vector<pending>& batch, std::size_t from, const std::vector<write_status>& outcome) {
    std::lock_guard<std::mutex> lock(mutex);
    for (std::size_t i = 0; i < outcome.size(); ++i) {
      if (batch[from + i].ops.empty()) continue;
      counters.submits++;
      if (outcome[i] == write_status::fenced)
        counters.fenced_submits++;
      if (outcome[i] == write_status::failed)
        counters.failed_submits++;
    }
  }

  void answer_failed(const std::vector<pending>& batch, std::size_t from, std::size_t to) {
    count(batch, from, std::vector<write_status>(to - from, write_status::failed));
    for (std::size_t i = from; i < to; ++i)
      call_quietly(batch[i].done, write_status::failed);
  }

  void run_batch(const std::vector<pending>& batch) {
    auto all = ops_of(batch, 0, batch.size());
    auto result = attempt(all);
    if (!result) {
      // Retry once; attempt() reconnects a dropped connection first.
      if (conn && !conn->ok())
        conn->try_ensure();
      result = attempt(all);
    }
    if (result) {
      answer_committed(batch, 0, batch.size(), *result);
      return;
    }
    if (batch.size() > 1 && conn && conn->ok()) {
      // The data, not the connection, failed: isolate the bad submit(s).
      for (std::size_t i = 0; i < batch.size(); ++i) {
        auto one = attempt(ops_of(batch, i, i + 1));
        if (one)
          answer_committed(batch, i, i + 1, *one);
        else
          answer_failed(batch, i, i + 1);
      }
      return;
    }
    answer_failed(batch, 0, batch.size());
  }

  void submit(std::vector<write_op> ops, batch_writer::done_fn done) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!stopping) {
        bool was_empty = queue.empty();
        queued_ops += ops.size();
        bool full = queued_ops >= max_rows;
        queue.push_back({std::move(ops), std::move(done), steady::now()});
        // Wake the writer only when it has something new to decide.
        if (was_empty || full)
          wake.notify_one();
        return;
      }
    }
    call_quietly(done, write_status::failed);
  }

  void flush_and_stop() {
    std::lock_guard<std::mutex> stop_lock(stop_mutex);
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    // From a callback (the writer thread itself): the thread ends on its own
    // after draining; whoever destroys the writer joins it.
    if (thread.joinable() && thread.get_id() != std::this_thread::get_id())
      thread.join();
  }
};

struct batch_writer::impl {
  std::vector<std::unique_ptr<lane>> lanes;
  std::size_t lane_of(const std::string& account_id) const;
};

batch_writer::batch_writer(std::string dsn, int batch_max_rows,
                           std::chrono::milliseconds batch_max_delay,
                           std::chrono::milliseconds idle_in_transaction_timeout, int connections)
    : impl_(std::make_unique<impl>()) {
  for (int i = 0; i < std::max(1, connections); ++i) {
    auto l = std::make_unique<lane>();
    l->dsn = dsn;
    l->options = write_session_options;
    if (idle_in_transaction_timeout.count() > 0)
      l->options += " -c idle_in_transaction_session_timeout=" + std::to_string(idle_in_transaction_timeout.count());
    l->max_rows = static_cast<std::size_t>(std::max(1, batch_max_rows));
    l->max_delay = std::max(std::chrono::milliseconds(0), batch_max_delay);
    l->thread = std::thread([raw = l.get(), i] {
      name_this_thread("write-lane-" + std::to_string(i));
      raw->run();
    });
    impl_->lanes.push_back(std::move(l));
  }
}

batch_writer::~batch_writer() {
  flush_and_stop();
  for (auto& l : impl_->lanes)
    if (l->thread.joinable())
      l->thread.detach();  // destroyed from its own callback: nothing else to do
}

// One account's writes always take the same lane, so they commit in the
// order they were submitted (a lane is FIFO); different accounts' writes
// never depend on each other's order.
std::size_t batch_writer::impl::lane_of(const std::string& account_id) const {
  return lanes.size() > 1 ? fnv1a64(account_id) % lanes.size() : 0;
}

void batch_writer::submit(std::vector<write_op> ops, done_fn done) {
  const std::size_t i = ops.empty() ? 0 : impl_->lane_of(account_of(ops.front()));
  impl_->lanes[i]->submit(std::move(ops), std::move(done));
}

// An empty submit commits nothing (apply_ops only checks the connection)
// and is answered in its lane's order, after what was queued before it.
void batch_writer::after(const std::string& account_id, done_fn done) {
  impl_->lanes[impl_->lane_of(account_id)]->submit({}, std::move(done));
}

void batch_writer::flush_and_stop() {
  for (auto& l : impl_->lanes) l->flush_and_stop();
}

batch_writer::stats batch_writer::get_stats() const {
  stats total;
  for (auto& l : impl_->lanes) {
    std::lock_guard<std::mutex> lock(l->mutex);
    const auto& c = l->counters;
    total.commits += c.commits;
    total.ops += c.ops;
    total.failures += c.failures;
    total.submits += c.submits;
    total.fenced_submits += c.fenced_submits;
    total.failed_submits += c.failed_submits;
    if (!c.last_error.empty()) total.last_error = c.last_error;
  }
  return total;
}

}  // namespace maxsess::storage
