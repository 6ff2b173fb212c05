#pragma once
// A small synchronous HTTP/1.1 client for tests (Beast). Keep-alive on one
// connection; reconnects when the server closed it.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace maxsess::test {

struct http_reply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  bool keep_alive = true;
};

class http_client {
 public:
  http_client(std::string host, uint16_t port);
  ~http_client();
  // Throws std::runtime_error on connection errors (refused, timeout 10 s).
  http_reply request(const std::string& method, const std::string& target,
                     const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {});
  http_reply get(const std::string& target, const std::map<std::string, std::string>& h = {}) {
    return request("GET", target, {}, h);
  }
  http_reply post_json(const std::string& target, const std::string& body,
                       const std::map<std::string, std::string>& h = {});
  http_reply put_json(const std::string& target, const std::string& body,
                      const std::map<std::string, std::string>& h = {});
  http_reply del(const std::string& target, const std::map<std::string, std::string>& h = {}) {
    return request("DELETE", target, {}, h);
  }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Sends raw bytes on a fresh connection and returns everything read until
// the server closes or `timeout_ms` passes (for malformed-request tests).
std::string raw_exchange(const std::string& host, uint16_t port, const std::string& bytes,
                         int timeout_ms = 3000);

// A free TCP port on 127.0.0.1 (bind 0, read, close).
uint16_t free_port();

}  // namespace maxsess::test
