#pragma once
// An account's sessions by device id, in device order (account_state.hpp).
//
// A sorted vector of pointers to records, each record in an allocation of
// its own: what std::map<std::string, playback_session> gave (device order,
// references that stay valid while other devices come and go) without the
// map's copy of the device id as the key and its tree node. A held session
// took 368 bytes in the map (mimalloc's 384 class); here 304 (the 320
// class) and a pointer: ≈ 56 bytes less per held session (issue 7's memory
// bar; docs/performance.md, "Twentieth round"). An account holds a handful
// of devices, so an insert's shift of pointers costs nothing measurable.
//
// A record's device_id is its key: it must not change while the record is
// here (account_state's two resets of a record to a new session keep it).
#include <algorithm>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/iterator/indirect_iterator.hpp>

#include "domain/model.hpp"

namespace maxsess::actors {

class session_table {
  using slots = std::vector<std::unique_ptr<playback_session>>;

 public:
  using iterator = boost::indirect_iterator<slots::iterator>;
  using const_iterator = boost::indirect_iterator<slots::const_iterator, const playback_session>;

  iterator begin() { return iterator(slots_.begin()); }
  iterator end() { return iterator(slots_.end()); }
  const_iterator begin() const { return const_iterator(slots_.begin()); }
  const_iterator end() const { return const_iterator(slots_.end()); }
  bool empty() const { return slots_.empty(); }
  std::size_t size() const { return slots_.size(); }
  void clear() { slots_.clear(); }

  iterator find(std::string_view device) {
    auto i = lower(slots_, device);
    return iterator(i != slots_.end() && (*i)->device_id == device ? i : slots_.end());
  }
  const_iterator find(std::string_view device) const {
    auto i = lower(slots_, device);
    return const_iterator(i != slots_.end() && (*i)->device_id == device ? i : slots_.end());
  }
  // The device's session; a new one (its device_id set, the rest as a
  // default playback_session) when the device has none.
  playback_session& operator[](std::string_view device) {
    auto i = lower(slots_, device);
    if (i != slots_.end() && (*i)->device_id == device) return **i;
    auto s = std::make_unique<playback_session>();
    s->device_id = device;
    return **slots_.insert(i, std::move(s));
  }
  playback_session& at(std::string_view device) {
    auto i = find(device);
    if (i == end()) throw std::out_of_range("session_table::at: no session for this device");
    return *i;
  }
  // The next record's iterator, as std::map's erase.
  iterator erase(iterator it) { return iterator(slots_.erase(it.base())); }

 private:
  template <class Slots>
  static auto lower(Slots& slots, std::string_view device) -> decltype(slots.begin()) {
    return std::lower_bound(slots.begin(), slots.end(), device,
                            [](const auto& s, std::string_view d) { return s->device_id < d; });
  }

  slots slots_;
};

}  // namespace maxsess::actors
