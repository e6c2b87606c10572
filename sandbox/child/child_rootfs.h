// Runs in the sandbox's PID 1, after the ID maps are written: builds the new root from the plan's
// mount list and enters it. Allocation-free; failures fill the report and return false.
#pragma once

#include "sandbox/launch/child_report.h"
#include "sandbox/plan/plan.h"

namespace gaol {

struct RootfsState {
  int* source_fds = nullptr;  // one per plan mount, preallocated by the parent; -1 when unused
  // One per plan mount: a source the caller opened (renumbered by ArrangeFds), or -1.
  int* given_fds = nullptr;
  int base_fd = -1;                                      // the new root's mount
  int sealed_fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};  // tmpfs mounts made read-only at the end
  int sealed_count = 0;
};

// Step kMounts: private propagation, open every source, a tmpfs (or the rootfs) as the new root,
// then each mount op in order; read-only where asked.
bool BuildRootInChild(const Plan& plan, RootfsState& state, ChildReport& report) noexcept;
// Step kPivotRoot: pivot_root into it and detach the old root (or chroot), then chdir(workdir).
bool EnterRootInChild(const Plan& plan, RootfsState& state, ChildReport& report) noexcept;

}  // namespace gaol
