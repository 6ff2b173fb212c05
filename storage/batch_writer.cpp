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

#include "storage/call_quietly.hpp"
#include "storage/pq.hpp"
#include "storage/writes.hpp"

namespace maxsess::storage {

using detail::apply_ops;
using detail::call_quietly;
using detail::connection;

struct batch_writer::impl {
  using steady = std::chrono::steady_clock;
  struct pending {
    std::vector<write_op> ops;
    done_fn done;
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
  stats counters;

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
      counters.commits++;
      counters.ops += ops.size();
      return result;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex);
      counters.failures++;
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
    count(outcome);
    for (std::size_t i = from; i < to; ++i)
      call_quietly(batch[i].done, outcome[i - from]);
  }

  void count(const std::vector<write_status>& outcome) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto s : outcome) {
      counters.submits++;
      if (s == write_status::fenced)
        counters.fenced_submits++;
      if (s == write_status::failed)
        counters.failed_submits++;
    }
  }

  void answer_failed(const std::vector<pending>& batch, std::size_t from, std::size_t to) {
    count(std::vector<write_status>(to - from, write_status::failed));
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
};

batch_writer::batch_writer(std::string dsn, int batch_max_rows,
                           std::chrono::milliseconds batch_max_delay,
                           std::chrono::milliseconds idle_in_transaction_timeout)
    : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
  if (idle_in_transaction_timeout.count() > 0)
    impl_->options = "-c idle_in_transaction_session_timeout=" + std::to_string(idle_in_transaction_timeout.count());
  impl_->max_rows = static_cast<std::size_t>(std::max(1, batch_max_rows));
  impl_->max_delay = std::max(std::chrono::milliseconds(0), batch_max_delay);
  impl_->thread = std::thread([this] { impl_->run(); });
}

batch_writer::~batch_writer() {
  flush_and_stop();
  if (impl_->thread.joinable())
    impl_->thread.detach();  // destroyed from its own callback: nothing else to do
}

void batch_writer::submit(std::vector<write_op> ops, done_fn done) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!impl_->stopping) {
      bool was_empty = impl_->queue.empty();
      impl_->queued_ops += ops.size();
      bool full = impl_->queued_ops >= impl_->max_rows;
      impl_->queue.push_back({std::move(ops), std::move(done), impl::steady::now()});
      // Wake the writer only when it has something new to decide.
      if (was_empty || full)
        impl_->wake.notify_one();
      return;
    }
  }
  call_quietly(done, write_status::failed);
}

void batch_writer::flush_and_stop() {
  std::lock_guard<std::mutex> stop_lock(impl_->stop_mutex);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  // From a callback (the writer thread itself): the thread ends on its own
  // after draining; whoever destroys the writer joins it.
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id())
    impl_->thread.join();
}

batch_writer::stats batch_writer::get_stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->counters;
}

}  // namespace maxsess::storage
