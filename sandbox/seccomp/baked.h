// The built-in profiles compiled at build time (by gaol-seccomp-bake, with this libseccomp): a
// run with a built-in profile loads these bytes instead of compiling ~300 rules, which costs
// libseccomp several milliseconds.
#pragma once

#include <optional>
#include <string_view>

#include "sandbox/seccomp/compile.h"

namespace gaol::seccomp {

// The filter Compile(builtin, {no caps, any kernel, notify_kills}) gives; none for an unknown
// name.
std::optional<Filter> BakedBuiltin(std::string_view name);

}  // namespace gaol::seccomp
