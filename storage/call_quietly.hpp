#pragma once
// Private to storage/.
#include <utility>

namespace maxsess::storage::detail {

// Runs a caller's callback on a storage thread; an exception from it must
// not end the thread that serves everyone else.
template <class F, class... Ts>
void call_quietly(const F& f, Ts&&... xs) {
  if (!f) return;
  try {
    f(std::forward<Ts>(xs)...);
  } catch (...) {
  }
}

}  // namespace maxsess::storage::detail
