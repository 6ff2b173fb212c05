#pragma once
// One thread running posted jobs in order. A streamer actor owns one, so its
// blocking Flussonic API calls never run on actor threads and a slow
// streamer delays only its own jobs.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "domain/thread_name.hpp"

namespace maxsess {

class worker {
 public:
  // `name`: the thread's name (domain/thread_name.hpp).
  explicit worker(std::string name = "worker")
      : thread_([this, name = std::move(name)] {
          name_this_thread(name);
          loop();
        }) {}
  ~worker() { stop(); }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void post(std::function<void()> job) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }
  // True once asked to stop: long jobs check it between steps.
  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }
  // Runs what is queued, then joins. Idempotent.
  void stop() {
    request_stop(false);
    if (thread_.joinable()) thread_.join();
  }
  // Does not wait: the thread finishes the job at hand (and, unless
  // `drop_queued`, what is queued), then ends; stop() or the destructor
  // joins it later.
  void request_stop(bool drop_queued) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      if (drop_queued) jobs_.clear();
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace maxsess
