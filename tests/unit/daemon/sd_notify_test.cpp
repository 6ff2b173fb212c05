// sd_notify without libsystemd: the datagram must reach a socket bound the
// way systemd binds $NOTIFY_SOCKET (a path, or an abstract name with '@').
#include "daemon/sd_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// A datagram socket bound to `name` ('/'-path or '@'-abstract), as systemd's.
class listener {
 public:
  explicit listener(const std::string& name) : name_(name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  }
  ~listener() {
    if (fd_ >= 0) ::close(fd_);
    if (name_[0] == '/') ::unlink(name_.c_str());
  }
  bool bound() const { return bound_; }
  // The next datagram, or "<none>" when nothing is queued.
  std::string receive() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n < 0 ? "<none>" : std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

std::string unique(const std::string& stem) { return stem + std::to_string(::getpid()); }

TEST(SdNotify, SendsToAPathSocket) {
  char dir[] = "/tmp/maxsess-notify-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/notify";
  {
    listener l(path);
    ASSERT_TRUE(l.bound());
    EXPECT_EQ(maxsess::sd_notify_to(path.c_str(), "READY=1\nSTATUS=ready"), "");
    EXPECT_EQ(l.receive(), "READY=1\nSTATUS=ready");
    EXPECT_EQ(l.receive(), "<none>");  // exactly one datagram
  }
  ::rmdir(dir);
}

TEST(SdNotify, SendsToAnAbstractSocket) {
  const std::string name = unique("@maxsess-notify-test-");
  listener l(name);
  ASSERT_TRUE(l.bound());
  EXPECT_EQ(maxsess::sd_notify_to(name.c_str(), "STOPPING=1"), "");
  EXPECT_EQ(l.receive(), "STOPPING=1");
}

TEST(SdNotify, ReadsNotifySocketFromTheEnvironment) {
  const std::string name = unique("@maxsess-notify-env-");
  listener l(name);
  ASSERT_TRUE(l.bound());
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  EXPECT_EQ(maxsess::sd_notify("READY=1"), "");
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(l.receive(), "READY=1");
}

TEST(SdNotify, WithoutNotifySocketDoesNothing) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(maxsess::sd_notify("READY=1"), "");
  EXPECT_EQ(maxsess::sd_notify_to("", "READY=1"), "");
  EXPECT_EQ(maxsess::sd_notify_to(nullptr, "READY=1"), "");
}

TEST(SdNotify, ReportsWhatWentWrong) {
  // Nobody listens: the error names the socket (the daemon logs it, runs on).
  const std::string gone = unique("@maxsess-notify-nobody-");
  EXPECT_NE(maxsess::sd_notify_to(gone.c_str(), "READY=1").find(gone), std::string::npos);
  EXPECT_NE(maxsess::sd_notify_to("/nonexistent/dir/notify", "READY=1"), "");
  EXPECT_NE(maxsess::sd_notify_to("relative/notify", "READY=1").find("neither a path"), std::string::npos);
  EXPECT_NE(maxsess::sd_notify_to(("/" + std::string(200, 'x')).c_str(), "READY=1").find("longer"),
            std::string::npos);
}

}  // namespace
