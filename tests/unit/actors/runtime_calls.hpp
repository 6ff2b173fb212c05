#pragma once
// What the tests of a whole actor_runtime (memory store, cluster mode with
// shards owned by hand) do again and again: one streamer to place sessions
// on, a link request waited for, a shard handed off as the lease keeper
// does it.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <stdexcept>

#include "actors/runtime.hpp"
#include "actors/runtime_hooks.hpp"

namespace maxsess::actors::test {

// Streamer 1, "s1".
inline streamer one_streamer() {
  streamer s;
  s.id = 1;
  s.host = "s1";
  s.url = "http://s1";
  return s;
}

// A link request for `stream` on its way through the runtime, waited for
// (10 s at most: a test that hangs names the request).
inline link_outcome link_and_wait(actor_runtime& rt, const std::string& account, const std::string& device,
                                  const std::string& stream = "news") {
  // Shared: an answer after the timeout must not reach a promise gone with this frame.
  auto p = std::make_shared<std::promise<link_outcome>>();
  link_request r;
  r.account_id = account;
  r.device_id = device;
  r.content.stream = stream;
  rt.accounts().request_link(r, [p](link_outcome o) { p->set_value(std::move(o)); });
  auto f = p->get_future();
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    throw std::runtime_error("no answer in 10 s to the link of " + account + "/" + device);
  return f.get();
}

// Hands `shard` off the way the lease keeper does: nobody serves it, the
// old owner drains. Fails the test when there is no owner or it does not
// drain (call it in ASSERT_NO_FATAL_FAILURE: the assertions return from here only).
inline void hand_off(actor_runtime& rt, int shard) {
  auto old = rt.hooks().disown(shard);
  ASSERT_TRUE(old);
  caf::scoped_actor self{rt.hooks().system};
  bool drained = false;
  self->request(old, std::chrono::seconds(10), drain_atom_v)
      .receive([&](bool ok) { drained = ok; }, [](caf::error&) {});
  ASSERT_TRUE(drained);
}

}  // namespace maxsess::actors::test
