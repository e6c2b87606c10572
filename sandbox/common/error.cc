#include "sandbox/common/error.h"

#include <fmt/format.h>

#include <cstring>

namespace gaol {

const char* ErrnoName(int err) {
  // strerrorname_np is glibc 2.32+; Debian 12 has 2.36.
  const char* name = strerrordesc_np(err) != nullptr ? strerrorname_np(err) : nullptr;
  return name != nullptr ? name : "EUNKNOWN";
}

std::string Error::ErrnoName() const { return err == 0 ? std::string() : gaol::ErrnoName(err); }

std::string Error::Message() const {
  std::string out = context;
  if (!out.empty()) out += ": ";
  if (step == Step::kValidate) {
    // Bad input: "<what>: expected <expected>".
    out += fmt::format("{}: expected {}", op, object);
    return out;
  }
  out += op;
  if (!object.empty()) out += fmt::format(" `{}`", object);
  if (err != 0) out += fmt::format(": {}", std::strerror(err));
  return out;
}

Error&& Error::With(std::string more) && {
  context = context.empty() ? std::move(more) : more + ": " + context;
  return std::move(*this);
}

}  // namespace gaol
