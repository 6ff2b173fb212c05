#pragma once
// Names the calling thread, so that `top -H`, `ps -L`, /proc/PID/task/*/comm
// and perf tell the daemon's threads apart (HTTP I/O, writer lanes, CAF
// workers...) instead of showing every one as "maxsessd". Linux keeps at most
// 15 characters; a longer name is cut, never refused.
#include <pthread.h>

#include <string>

namespace maxsess {

inline void name_this_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// The calling thread's name; a thread nobody named has the program's.
inline std::string this_thread_name() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

}  // namespace maxsess
