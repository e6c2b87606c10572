// Network namespace set-up over rtnetlink. Runs in the sandbox before exec: allocation-free.
#pragma once

namespace gaol::netns {

// Brings the loopback interface (always index 1 in a new network namespace) up and waits for the
// kernel's acknowledgement. Returns 0, or the errno of the failing call or of the kernel's NACK.
int BringUpLoopbackInChild() noexcept;

}  // namespace gaol::netns
