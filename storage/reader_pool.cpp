#include "storage/store.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "domain/thread_name.hpp"
#include "storage/call_quietly.hpp"

namespace maxsess::storage {

using detail::call_quietly;

struct reader_pool::impl {
  std::string dsn;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::pair<job, failure>> queue;
  bool stopping = false;
  std::vector<std::thread> threads;
  std::mutex stop_mutex;


  void run() {
    std::unique_ptr<session_store> store;  // connected lazily
    for (;;) {
      std::pair<job, failure> item;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty())
          return;  // stopping, and every queued job ran
        item = std::move(queue.front());
        queue.pop_front();
      }
      std::optional<std::string> error;
      try {
        if (!store)
          store = std::make_unique<session_store>(dsn);
        if (item.first)
          item.first(*store);
      } catch (const std::exception& e) {
        error = e.what();
      } catch (...) {
        error = "unknown error in storage job";
      }
      if (error)
        call_quietly(item.second, *error);
      // A dropped connection is reset by the store on its next use.
    }
  }
};

reader_pool::reader_pool(std::string dsn, int connections) : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
  int n = std::max(1, connections);
  for (int i = 0; i < n; ++i)
    impl_->threads.emplace_back([this, i] {
      name_this_thread("reader-" + std::to_string(i));
      impl_->run();
    });
}

reader_pool::~reader_pool() { stop(); }

void reader_pool::post(job j, failure on_error) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!impl_->stopping) {
      impl_->queue.emplace_back(std::move(j), std::move(on_error));
      impl_->wake.notify_one();
      return;
    }
  }
  call_quietly(on_error, "storage reader pool is stopped");
}

void reader_pool::stop() {
  std::lock_guard<std::mutex> stop_lock(impl_->stop_mutex);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.join();
}

}  // namespace maxsess::storage
