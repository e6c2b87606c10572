// Flag values: the first byte picks the parser, the rest is the value (sizes, durations, ulimits,
// ID maps, volumes, tmpfs specs, device rates, env files).
#include "sandbox/cli/run_flags.h"
#include "sandbox/spec/units.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string value = gaol::fuzz::Text(data + 1, size - 1);
  switch (data[0] % 9) {
    case 0:
      if (auto bytes = gaol::ParseSize(value); bytes) {
        gaol::fuzz::Require(gaol::ParseSize(std::to_string(*bytes)) == bytes,
                            "a size's digits parse to the same size");
      }
      break;
    case 1:
      if (auto seconds = gaol::ParseDuration(value); seconds) {
        gaol::fuzz::Require(*seconds >= 0, "a duration is never negative");
      }
      break;
    case 2:
      (void)gaol::cli::ParseUlimit(value);
      break;
    case 3:
      (void)gaol::cli::ParseIdMap("--map-users", value);
      break;
    case 4:
      (void)gaol::cli::ParseVolume(value);
      break;
    case 5:
      (void)gaol::cli::ParseTmpfs(value);
      break;
    case 6:
      (void)gaol::cli::ParseDeviceRate("--device-read-bps", value, true);
      break;
    case 7:
      (void)gaol::cli::ParseDeviceRate("--device-read-iops", value, false);
      break;
    default:
      (void)gaol::cli::ParseEnvFile(value, "fuzz.env");
      break;
  }
  return 0;
}
