#pragma once
// A bounded memory of the webhook events a shard owner made durable, by
// (streamer, event id): a batch Flussonic resends (after a 5xx, or its own
// retry) is recognised. Only applied events are remembered, so an event that
// failed is applied when it comes again. What falls out of the memory is
// covered by the state rules (counters only grow, closed stays closed), so
// the memory is an optimisation: the last `kept` ids of the shard.
//
// Its whole memory is taken at the first id, once, and never changes after:
// a ring of `kept` keys (insertion order) and an open-addressing table of
// 2 x `kept` slots (linear probing, backward-shift deletion, no tombstones),
// 48 bytes per id kept. The std::unordered_set it replaces allocated a node
// per id while it filled up, so a node's memory grew for as long as
// webhooks flowed until every shard held `kept` ids: 256 shards x 4 096 ids
// (~60 MiB) took ~12 min at 1 500 events/s, a growth the soak's leak check
// (RSS flat from minute 5, docs/faults.md "Soak") cannot tell from a leak.
// Plain code (no CAF), unit-tested in tests/unit/actors/recent_events_test.cpp.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace maxsess::actors {

class recent_events {
 public:
  // 256 shards x 2 048 x 48 bytes = 24 MiB per node once webhooks flow:
  // ~150 s of events node-wide at 3 400 events/s, far more than a resend
  // needs (Flussonic resends a failed batch within seconds).
  static constexpr std::size_t default_kept = 2048;

  explicit recent_events(std::size_t kept = default_kept) : kept_(kept < 1 ? 1 : kept) {
    std::size_t slots = 1;
    while (slots < 2 * kept_) slots <<= 1;  // load factor <= 1/2: short probes
    slots_ = slots;
  }

  bool contains(int64_t streamer, int64_t id) const {
    if (table_.empty() || id < 0) return false;
    for (std::size_t i = home(streamer, id);; i = (i + 1) & (slots_ - 1)) {
      const key& k = table_[i];
      if (k.id < 0) return false;
      if (k.id == id && k.streamer == streamer) return true;
    }
  }

  // id < 0 (no event id) is never remembered.
  void add(int64_t streamer, int64_t id) {
    if (id < 0 || contains(streamer, id)) return;
    if (table_.empty()) {
      // value-initialised: every page written now, not as the memory fills
      ring_.assign(kept_, key{});
      table_.assign(slots_, key{});
    }
    if (size_ == kept_) {
      erase(ring_[next_]);
      ring_[next_] = key{streamer, id};
      next_ = (next_ + 1) % kept_;
    } else {
      ring_[size_++] = key{streamer, id};
    }
    insert(key{streamer, id});
  }

  std::size_t size() const { return size_; }
  std::size_t kept() const { return kept_; }
  // What the memory holds on the heap: 0 before the first id, then constant.
  std::size_t heap_bytes() const { return (ring_.capacity() + table_.capacity()) * sizeof(key); }

 private:
  struct key {
    int64_t streamer = 0;
    int64_t id = -1;  // < 0: an empty slot
  };

  std::size_t home(int64_t streamer, int64_t id) const {
    // splitmix64's finaliser over both halves: consecutive ids (Flussonic
    // numbers its events) spread over the whole table.
    uint64_t x = static_cast<uint64_t>(id) * 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(streamer);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return static_cast<std::size_t>(x) & (slots_ - 1);
  }

  void insert(key k) {
    std::size_t i = home(k.streamer, k.id);
    while (table_[i].id >= 0) i = (i + 1) & (slots_ - 1);
    table_[i] = k;
  }

  // Backward-shift deletion: the entries after the hole that would no
  // longer be found from their home slot move into it.
  void erase(key k) {
    const std::size_t mask = slots_ - 1;
    std::size_t i = home(k.streamer, k.id);
    while (!(table_[i].id == k.id && table_[i].streamer == k.streamer)) {
      if (table_[i].id < 0) return;  // not there
      i = (i + 1) & mask;
    }
    for (std::size_t j = (i + 1) & mask; table_[j].id >= 0; j = (j + 1) & mask) {
      const std::size_t h = home(table_[j].streamer, table_[j].id);
      // table_[j] stays when its home lies cyclically in (i, j].
      const bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
      if (stays) continue;
      table_[i] = table_[j];
      i = j;
    }
    table_[i] = key{};
  }

  std::size_t kept_;
  std::size_t slots_ = 1;
  std::vector<key> ring_;   // insertion order; once full, next_ is the oldest
  std::vector<key> table_;  // slots_ entries
  std::size_t size_ = 0;
  std::size_t next_ = 0;
};

}  // namespace maxsess::actors
