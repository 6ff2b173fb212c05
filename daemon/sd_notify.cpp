#include "daemon/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace maxsess {

std::string sd_notify_to(const char* notify_socket, std::string_view state) {
  if (notify_socket == nullptr || *notify_socket == '\0') return {};
  const std::string_view name(notify_socket);
  if (name[0] != '/' && name[0] != '@')
    return "NOTIFY_SOCKET=" + std::string(name) + " is neither a path nor an abstract socket (@name)";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.size() >= sizeof(addr.sun_path))
    return "NOTIFY_SOCKET=" + std::string(name) + " is longer than a unix socket address";
  std::memcpy(addr.sun_path, name.data(), name.size());
  // An abstract name starts with a NUL byte and is exactly as long as given
  // (no terminating NUL counted); a path is NUL-terminated by addr{}.
  if (name[0] == '@') addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket(AF_UNIX): ") + std::strerror(errno);
  const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&addr), len);
  const int err = errno;
  ::close(fd);
  if (sent < 0) return "sendto " + std::string(name) + ": " + std::strerror(err);
  if (static_cast<std::size_t>(sent) != state.size()) return "sendto " + std::string(name) + ": short write";
  return {};
}

std::string sd_notify(std::string_view state) { return sd_notify_to(std::getenv("NOTIFY_SOCKET"), state); }

}  // namespace maxsess
