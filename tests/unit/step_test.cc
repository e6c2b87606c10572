// The launch's step table (STYLE.md: the order lives in the table, a test asserts the
// constraints) and the Error message formats.
#include "sandbox/common/step.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <span>
#include <string>

#include "sandbox/child/child_init.h"
#include "sandbox/common/error.h"

namespace gaol {
namespace {

std::ptrdiff_t Position(std::span<const Step> order, Step step) {
  auto it = std::find(order.begin(), order.end(), step);
  return it == order.end() ? -1 : it - order.begin();
}

TEST_CASE("PID 1 runs its steps in an order that keeps the constraints", "[step]") {
  auto order = InitStepOrder();
  REQUIRE_FALSE(order.empty());
  CHECK(order.front() == Step::kFds);
  for (Step s : {Step::kFds, Step::kMounts, Step::kPivotRoot, Step::kNetwork, Step::kHostname,
                 Step::kNoNewPrivs, Step::kInit}) {
    INFO(StepName(s));
    CHECK(Position(order, s) >= 0);
  }
  CHECK(Position(order, Step::kMounts) < Position(order, Step::kPivotRoot));
  // The network namespace gaol makes beside PID 1 is joined before pivot_root, whose detach of the
  // old root waits for an RCU grace period that the namespace's creation on another CPU delays.
  CHECK(Position(order, Step::kNetwork) < Position(order, Step::kPivotRoot));
  CHECK(Position(order, Step::kPivotRoot) < Position(order, Step::kHostname));
  CHECK(Position(order, Step::kNoNewPrivs) < Position(order, Step::kInit));
  CHECK(order.back() == Step::kInit);
  // Each step once.
  CHECK(std::set<Step>(order.begin(), order.end()).size() == order.size());
  // Steps of the parent and of the job are not PID 1's.
  for (Step s : {Step::kValidate, Step::kPlan, Step::kClone, Step::kIdMap, Step::kExec,
                 Step::kSupervise, Step::kCollect, Step::kCleanup}) {
    INFO(StepName(s));
    CHECK(Position(order, s) == -1);
  }
}

TEST_CASE("The job's steps end with exec", "[step]") {
  auto order = JobStepOrder();
  REQUIRE_FALSE(order.empty());
  CHECK(order.back() == Step::kExec);
  CHECK(Position(order, Step::kExec) == static_cast<std::ptrdiff_t>(order.size()) - 1);
  // The job is forked by PID 1: its steps come after PID 1's in the enum's order too.
  auto by_index = [](Step a, Step b) { return StepIndex(a) < StepIndex(b); };
  CHECK(std::is_sorted(order.begin(), order.end(), by_index));
  CHECK(StepIndex(InitStepOrder().back()) < StepIndex(order.front()));
  for (Step s : order) CHECK(Position(InitStepOrder(), s) == -1);
}

TEST_CASE("The Step enum runs in order: id maps before anything privileged", "[step]") {
  CHECK(StepIndex(Step::kClone) < StepIndex(Step::kIdMap));
  CHECK(StepIndex(Step::kIdMap) < StepIndex(Step::kFds));
  CHECK(StepIndex(Step::kIdMap) < StepIndex(Step::kMounts));
  CHECK(StepIndex(Step::kMounts) < StepIndex(Step::kPivotRoot));
  CHECK(StepIndex(Step::kNoNewPrivs) < StepIndex(Step::kExec));
  CHECK(StepIndex(Step::kExec) < StepIndex(Step::kSupervise));
  // The init table agrees with the enum's order.
  auto order = InitStepOrder();
  CHECK(std::is_sorted(order.begin(), order.end(),
                       [](Step a, Step b) { return StepIndex(a) < StepIndex(b); }));
}

TEST_CASE("Every step has a unique, non-empty name", "[step]") {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kStepCount; ++i) {
    std::string_view name = StepName(static_cast<Step>(i));
    INFO(i);
    CHECK_FALSE(name.empty());
    CHECK(name != "unknown");
    CHECK(names.insert(name).second);
  }
  CHECK(names.size() == kStepCount);
  CHECK(StepName(Step::kIdMap) == "id_map");
  CHECK(StepName(Step::kPivotRoot) == "pivot_root");
  CHECK(StepName(Step::kCount) == "unknown");
}

TEST_CASE("Error::Message formats", "[error]") {
  Error bad{Step::kValidate, 0, "--network `bridge`", "none or host", {}};
  CHECK(bad.Message() == "--network `bridge`: expected none or host");
  CHECK(bad.ErrnoName().empty());
  Error sys{Step::kMounts, ENOENT, "open bind source", "/srv/x", {}};
  CHECK(sys.Message() == "open bind source `/srv/x`: No such file or directory");
  CHECK(sys.ErrnoName() == "ENOENT");
  Error no_object{Step::kClone, EPERM, "clone3", "", {}};
  CHECK(no_object.Message() == "clone3: Operation not permitted");
  Error no_errno{Step::kMounts, 0, "attach", "/tmp", {}};
  CHECK(no_errno.Message() == "attach `/tmp`");
  Error wrapped = std::move(sys).With("inner").With("outer");
  CHECK(wrapped.Message() == "outer: inner: open bind source `/srv/x`: No such file or directory");
  Error bad_wrapped = std::move(bad).With("--spec `job.json`");
  CHECK(bad_wrapped.Message() == "--spec `job.json`: --network `bridge`: expected none or host");
  CHECK(std::string(ErrnoName(EINVAL)) == "EINVAL");
  CHECK(std::string(ErrnoName(99999)) == "EUNKNOWN");
}

TEST_CASE("Fail captures errno, Invalid makes a validate error", "[error]") {
  errno = EACCES;
  auto f = Fail(Step::kOpenIo, "open", "/out");
  CHECK(f.value().err == EACCES);
  CHECK(f.value().step == Step::kOpenIo);
  auto i = Invalid("--uid `x`", "an ID");
  CHECK(i.value().step == Step::kValidate);
  CHECK(i.value().err == 0);
  CHECK(i.value().Message() == "--uid `x`: expected an ID");
}

}  // namespace
}  // namespace gaol
