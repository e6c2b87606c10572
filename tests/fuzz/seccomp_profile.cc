// OCI seccomp profiles (Docker's and Podman's format, `--security-opt seccomp=FILE`).
#include "sandbox/seccomp/profile.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)gaol::seccomp::ParseProfile(gaol::fuzz::Text(data, size), "fuzz.json");
  return 0;
}
