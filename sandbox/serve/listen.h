// The server's listening socket, bound or adopted (descriptors with FD_CLOEXEC, listening with a
// backlog of 512); errors name the --listen value and what was expected.
#pragma once

#include <string>
#include <utility>

#include "sandbox/common/error.h"

namespace gaol::serve {

// --listen unix:PATH (a stale socket at PATH is replaced).
Result<int> ListenUnix(const std::string& path);
// --listen HOST:PORT: the descriptor and the port bound (PORT 0: any free one).
Result<std::pair<int, int>> ListenTcp(const std::string& host, int port);
// --listen systemd: the descriptor systemd passed, checked, and the address it listens on.
Result<std::pair<int, std::string>> AdoptSystemdSocket();

}  // namespace gaol::serve
