#include "domain/thread_name.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "domain/worker.hpp"

using namespace maxsess;

namespace {

// What `top -H` and perf show: the kernel's name of the calling thread.
std::string kernel_name_of_this_thread() {
  std::ifstream in("/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

TEST(ThreadName, TheKernelShowsTheNameAndALongOneIsCutTo15Characters) {
  std::string shortName, longName;
  std::thread([&] {
    name_this_thread("write-lane-3");
    shortName = kernel_name_of_this_thread();
    name_this_thread("st-a-streamer-with-a-long-id");
    longName = kernel_name_of_this_thread();
  }).join();
  EXPECT_EQ(shortName, "write-lane-3");
  EXPECT_EQ(longName, "st-a-streamer-w");
}

TEST(ThreadName, AWorkerRunsItsJobsOnAThreadOfItsName) {
  worker w("st-edge-1");
  std::promise<std::string> seen;
  w.post([&] { seen.set_value(kernel_name_of_this_thread()); });
  EXPECT_EQ(seen.get_future().get(), "st-edge-1");
}

}  // namespace
