#pragma once
// systemd's readiness protocol (Type=notify) without libsystemd: one
// datagram "READY=1" / "STOPPING=1" / "STATUS=..." to the AF_UNIX socket that
// systemd names in $NOTIFY_SOCKET (a path, or an abstract name written with
// a leading '@'). See sd_notify(3).
#include <string>
#include <string_view>

namespace maxsess {

// Sends `state` to `notify_socket`. Returns "" when it was sent or when
// there is nothing to send to (notify_socket null or empty: not started by
// systemd, or by a unit that is not Type=notify); otherwise what went wrong,
// for the caller to log. Never throws; the daemon runs on either way.
std::string sd_notify_to(const char* notify_socket, std::string_view state);

// sd_notify_to($NOTIFY_SOCKET, state).
std::string sd_notify(std::string_view state);

}  // namespace maxsess
