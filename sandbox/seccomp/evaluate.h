// A seccomp filter run in user space, as the kernel runs it: what it answers for one call. The
// pre-built sandbox's job process asks this before it waits behind its filter (child_init.cc).
// Nothing here allocates: the child calls it between clone and exec.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <span>

#include "sandbox/seccomp/compile.h"

namespace gaol::seccomp {

// The SECCOMP_RET_* value `program` returns for `data`. A program the kernel would refuse to load
// (a jump or a scratch word out of range, an unknown instruction, no return at its end) answers
// SECCOMP_RET_KILL_PROCESS; so does a division by zero, as in the kernel (which returns 0).
std::uint32_t Evaluate(std::span<const sock_filter> program, const seccomp_data& data) noexcept;

// Whether every program of `filter` (the overlay, then the main one) lets the call through:
// each answers SECCOMP_RET_ALLOW or SECCOMP_RET_LOG.
bool Allows(const Filter& filter, const seccomp_data& data) noexcept;

}  // namespace gaol::seccomp
