// Docker's size and duration syntax, plain integers, and the path helpers.
#include "sandbox/spec/units.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "sandbox/spec/paths.h"

namespace gaol {
namespace {

TEST_CASE("ParseSize takes bytes and k/m/g/t suffixes, with an optional b", "[units]") {
  CHECK(ParseSize("1024") == 1024u);
  CHECK(ParseSize("0") == 0u);
  CHECK(ParseSize("64m") == 64ULL << 20);
  CHECK(ParseSize("64M") == 64ULL << 20);
  CHECK(ParseSize("64mb") == 64ULL << 20);
  CHECK(ParseSize("64MB") == 64ULL << 20);
  CHECK(ParseSize("1g") == 1ULL << 30);
  CHECK(ParseSize("1G") == 1ULL << 30);
  CHECK(ParseSize("512k") == 512ULL << 10);
  CHECK(ParseSize("512K") == 512ULL << 10);
  CHECK(ParseSize("2t") == 2ULL << 40);
  CHECK(ParseSize("1.5g") == 1610612736u);
  CHECK(ParseSize("0.5k") == 512u);
  CHECK(ParseSize(".5k") == 512u);
  CHECK(ParseSize("10b") == 10u);
  CHECK(ParseSize("10B") == 10u);
}

TEST_CASE("ParseSize is exact for large values and refuses what does not fit", "[units]") {
  CHECK(ParseSize("18446744073709551615") == 18446744073709551615ULL);
  CHECK(ParseSize("9007199254740993") == 9007199254740993ULL);  // 2^53 + 1: not a double
  CHECK(ParseSize("10000000t") == 10000000ULL << 40);           // above 2^63
  CHECK(ParseSize("16777215t") == 16777215ULL << 40);
  CHECK_FALSE(ParseSize("16777216t"));  // 2^64
  CHECK_FALSE(ParseSize("18446744073709551616"));
  CHECK_FALSE(ParseSize("99999999999999999999g"));
}

TEST_CASE("ParseSize refuses signs, exponents, empty numbers and junk", "[units]") {
  for (const char* bad : {"-1", "+1", "abc", "", "1e3", "m", "b", "mb", "1x", "1 m", " 1", "1.2.3",
                          ".", "1kk", "1bm", "0x10", "inf", "nan", "1,5g"}) {
    INFO(bad);
    CHECK_FALSE(ParseSize(bad));
  }
}

TEST_CASE("ParseDuration takes s, ms, us, m, h and bare seconds", "[units]") {
  CHECK(ParseDuration("2s") == Approx(2.0));
  CHECK(ParseDuration("500ms") == Approx(0.5));
  CHECK(ParseDuration("1.5") == Approx(1.5));
  CHECK(ParseDuration("2m") == Approx(120.0));
  CHECK(ParseDuration("100us") == Approx(0.0001));
  CHECK(ParseDuration("1h") == Approx(3600.0));
  CHECK(ParseDuration("0.25s") == Approx(0.25));
  CHECK(ParseDuration("0") == Approx(0.0));
}

TEST_CASE("ParseDuration refuses signs, bare units and junk", "[units]") {
  for (const char* bad :
       {"-1s", "-1", "s", "ms", "us", "m", "abc", "", "1e3", "1d", "2 s", "1.5.s", "1sm", "inf"}) {
    INFO(bad);
    CHECK_FALSE(ParseDuration(bad));
  }
}

TEST_CASE("ParseU32 and ParseU64 take plain non-negative integers that fit", "[units]") {
  CHECK(ParseU32("0") == 0u);
  CHECK(ParseU32("4294967295") == 4294967295u);
  CHECK_FALSE(ParseU32("4294967296"));
  CHECK(ParseU64("18446744073709551615") == 18446744073709551615ULL);
  CHECK_FALSE(ParseU64("18446744073709551616"));
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1.0", "1k", "0x1", "abc"}) {
    INFO(bad);
    CHECK_FALSE(ParseU32(bad));
    CHECK_FALSE(ParseU64(bad));
  }
}

TEST_CASE("IsCleanAbsolutePath", "[paths]") {
  for (const char* good : {"/", "/a", "/a/b", "/a.b/..c/...", "/.hidden"}) {
    INFO(good);
    CHECK(IsCleanAbsolutePath(good));
  }
  for (const char* bad : {"", "a", "a/b", "./a", "/a/", "//", "//a", "/a//b", "/.", "/..", "/a/.",
                          "/a/./b", "/a/../b"}) {
    INFO(bad);
    CHECK_FALSE(IsCleanAbsolutePath(bad));
  }
  CHECK_FALSE(IsCleanAbsolutePath(std::string("/a\0b", 4)));
  CHECK_FALSE(IsCleanAbsolutePath("/" + std::string(4100, 'a')));
}

TEST_CASE("PathComponents and ParentPath", "[paths]") {
  CHECK(PathComponents("/") == std::vector<std::string>{});
  CHECK(PathComponents("/a/b/c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(PathComponents("//a//b/") == std::vector<std::string>{"a", "b"});
  CHECK(ParentPath("/a/b/c") == "/a/b");
  CHECK(ParentPath("/a") == "/");
  CHECK(ParentPath("/") == "/");
}

}  // namespace
}  // namespace gaol
