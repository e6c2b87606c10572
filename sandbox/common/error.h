// Error model: every fallible call in sandbox/ and netns/ returns Result<T>. An Error carries the
// errno captured at the failing call, the operation, the object it acted on, the pipeline step and
// context added on the way up. Outcomes of the job (a crash, a time-out) are never Errors.
#pragma once

#include <cerrno>
#include <string>
#include <tl/expected.hpp>
#include <utility>

#include "sandbox/common/step.h"

namespace gaol {

struct Error {
  Step step = Step::kValidate;
  int err = 0;          // errno at the failing call; 0 when the failure is not a syscall's
  std::string op;       // what was attempted: "mount", "write uid_map", "field `network`"
  std::string object;   // what it acted on: a path, a value
  std::string context;  // added on the way up, outermost first

  // One line: "<context>: <op> `<object>`: <strerror>". No trailing newline.
  std::string Message() const;
  // "EINVAL", or "" when err is 0.
  std::string ErrnoName() const;

  Error&& With(std::string more) &&;
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> Fail(Step step, std::string op, std::string object, int err = errno) {
  return tl::unexpected(Error{step, err, std::move(op), std::move(object), {}});
}

// A bad flag, spec field or profile: exit 125 before anything is created.
inline tl::unexpected<Error> Invalid(std::string what, std::string expected) {
  return tl::unexpected(Error{Step::kValidate, 0, std::move(what), std::move(expected), {}});
}

const char* ErrnoName(int err);

}  // namespace gaol
