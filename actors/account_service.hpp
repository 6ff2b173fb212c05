#pragma once
// The one routing interface through which everything reaches an account
// (PRODUCT.md §6). The HTTP handlers call it with a callback and return at
// once; the callback runs later on an actor thread. Today the owner is a
// local account actor; the cluster work puts the owner on another node
// behind this same interface, without touching the HTTP handlers.
//
// Every call is answered exactly once. `unavailable` (no answer in time,
// storage down, owner moving) is an answer too.
#include <functional>
#include <optional>
#include <string>

#include "actors/account_state.hpp"

namespace maxsess::actors {

class account_service {
 public:
  using link_cb = std::function<void(link_outcome)>;
  using end_cb = std::function<void(end_result)>;
  using view_cb = std::function<void(std::optional<account_view>)>;  // nullopt: unavailable
  using auth_cb = std::function<void(auth_outcome)>;

  virtual ~account_service() = default;
  virtual void request_link(link_request req, link_cb done) = 0;
  virtual void end_session(std::string account_id, std::string device_id, bool kill, end_cb done) = 0;
  virtual void get_account(std::string account_id, view_cb done) = 0;
  virtual void put_account(account_settings settings, view_cb done) = 0;
  // DELETE /api/v1/accounts/{id}: ended = done (live sessions killed,
  // settings deleted), not_found = neither settings nor sessions.
  virtual void delete_account(std::string account_id, end_cb done) = 0;
  // The auth backend's question (GET /flussonic/auth) once the token checked out.
  virtual void authorize(auth_request req, auth_cb done) = 0;
};

}  // namespace maxsess::actors
