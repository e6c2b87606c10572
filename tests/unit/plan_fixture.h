// A fixed host for plan tests: uid/gid 1000, a merged-/usr Debian layout, /etc entries of every
// kind, no subordinate IDs unless a test adds them.
#pragma once

#include <string>
#include <vector>

#include "sandbox/plan/plan.h"
#include "sandbox/spec/job_spec.h"

namespace gaol::testing {

inline HostFacts FixedHostFacts() {
  using K = HostEntry::Kind;
  HostFacts facts;
  facts.uid = 1000;
  facts.gid = 1000;
  facts.entries = {
      {"/usr", K::kDir, ""},
      {"/bin", K::kSymlink, "usr/bin"},
      {"/sbin", K::kSymlink, "usr/sbin"},
      {"/lib", K::kSymlink, "usr/lib"},
      {"/lib32", K::kMissing, ""},
      {"/lib64", K::kSymlink, "usr/lib64"},
      {"/libx32", K::kMissing, ""},
      {"/etc/alternatives", K::kDir, ""},
      {"/etc/ld.so.cache", K::kFile, ""},
      {"/etc/ld.so.conf", K::kFile, ""},
      {"/etc/ld.so.conf.d", K::kDir, ""},
      {"/etc/localtime", K::kSymlink, "/usr/share/zoneinfo/Etc/UTC"},
      {"/etc/ssl", K::kDir, ""},
      {"/etc/services", K::kFile, ""},
      {"/etc/protocols", K::kFile, ""},
      {"/etc/os-release", K::kSymlink, "../usr/lib/os-release"},
      {"/etc/resolv.conf", K::kFile, ""},
      {"/etc/gai.conf", K::kFile, ""},
      {"/etc/host.conf", K::kFile, ""},
      {"/etc/hosts", K::kFile, ""},
  };
  return facts;
}

inline JobSpec SpecOf(std::vector<std::string> command) {
  JobSpec spec;
  spec.command = std::move(command);
  return spec;
}

}  // namespace gaol::testing
