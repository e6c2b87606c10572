#!/usr/bin/env bash
# `gaol --version` names the revision the binary was built from and the libraries built in, with
# the versions this machine's development packages have (what the build linked).
# Usage: version-test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
out=$("$build/sandbox/gaol" --version)
fail() { echo "version-test: $*" >&2; echo "$out" >&2; exit 1; }
first=$(head -n1 <<<"$out")
[[ $first =~ ^gaol\ [0-9]+\.[0-9]+\.[0-9]+\ \(revision\ ([^\)]+)\)$ ]] || fail "first line: $first"
revision=${BASH_REMATCH[1]}
if expected=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null); then
  [[ $revision == "$expected" || $revision == "$expected-dirty" ]] ||
    fail "revision $revision, expected $expected (git rev-parse HEAD)"
else
  [[ $revision == unknown ]] || fail "revision $revision outside a git tree"
fi
grep -q "^built with .*, " <<<"$out" || fail "no 'built with' line"
features=$(grep "^features: " <<<"$out") || fail "no features line"
for want in "io_uring (liburing $(pkg-config --modversion liburing))" \
            "seccomp (libseccomp $(pkg-config --modversion libseccomp))" \
            "capabilities (libcap $(pkg-config --modversion libcap))" \
            "landlock (ABI 1-" apparmor systemd-scope "cgroup v2" metrics; do
  [[ $features == *"$want"* ]] || fail "features lack '$want'"
done
[[ $(wc -l <<<"$out") -eq 3 ]] || fail "expected three lines"
echo "version-test: ok ($revision)"
