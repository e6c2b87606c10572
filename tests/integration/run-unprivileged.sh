#!/usr/bin/env bash
# Runs the integration tests as an unprivileged uid, the way gaol is meant to be used.
# Usage: run-unprivileged.sh BUILD_DIR [catch2 args...]
# As root: stage gaol, the probe and the test binary in a fresh 0755 directory (CI's clone may sit
# where uid 65534 cannot enter) and run as 65534 with setpriv. As any other user: run as is.
set -euo pipefail
build=$1
shift
stage=$(mktemp -d /tmp/gaol-stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT  # as root, replaced by cleanup() below
chmod 0755 "$stage"
mkdir -m 0755 "$stage/probe" "$stage/attack"
install -m 0755 "$build/sandbox/gaol" "$stage/gaol"
install -m 0755 "$build/sandbox/gaol-serve" "$stage/gaol-serve"
install -m 0755 "$build/sandbox/gaol-bench" "$stage/gaol-bench"
# gaol-micro-bench: built unless GAOL_BUILD_BENCH is off; the [bench] tier asks for it.
if [ -x "$build/bench/gaol-micro-bench" ]; then
  install -m 0755 "$build/bench/gaol-micro-bench" "$stage/gaol-micro-bench"
fi
install -m 0644 "$build/sandbox/gaol-metrics.so" "$stage/gaol-metrics.so"
install -m 0755 "$build/tests/probe/gaol-probe" "$stage/probe/gaol-probe"
install -m 0755 "$build/tests/escape/gaol-attack" "$stage/attack/gaol-attack"
install -m 0755 "$build/tests/integration/gaol-integration-tests" "$stage/gaol-integration-tests"
export GAOL_BIN="$stage/gaol" GAOL_PROBE_DIR="$stage/probe" GAOL_ATTACK_DIR="$stage/attack"
cd "$stage"
if [ "$(id -u)" != 0 ]; then
  case "$*" in
    *"[cgroup]"* | *"[bench-cgroup]"*) echo "skipped: the $* tier delegates a cgroup subtree and needs root" >&2; exit 77 ;;
  esac
  exec "$stage/gaol-integration-tests" "$@"
fi

# As root: delegate a cgroup v2 subtree to uid 65534 the kernel's documented way (chown of the
# directory and its cgroup.procs, cgroup.subtree_control, cgroup.threads), and move this shell
# into it, so the tests (its children) may create job leaves there: a process may move another
# only through a cgroup.procs it can write at their common ancestor.
cg_root=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup2") print $5; break } }' /proc/self/mountinfo | head -n 1)
delegated=""
cleanup() {
  if [ -n "$delegated" ]; then
    echo $$ >"$cg_root/cgroup.procs" 2>/dev/null || true
    find "$delegated" -depth -mindepth 1 -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "$delegated" 2>/dev/null || true
  fi
  rm -rf "$stage"
}
trap cleanup EXIT
# Only the [cgroup], [load], [soak] and [bench-cgroup] tiers run delegated: the others test the
# fallback a user without one gets.
if [[ "$*" == *"[cgroup]"* || "$*" == *"[load]"* || "$*" == *"[soak]"* || "$*" == *"[bench-cgroup]"* ]] && [ -n "$cg_root" ] && [ -w "$cg_root/cgroup.procs" ]; then
  delegated="$cg_root/gaol-ci-$$"
  mkdir "$delegated" "$delegated/runner" "$delegated/jobs"
  for dir in "$delegated" "$delegated/runner" "$delegated/jobs"; do
    chown 65534:65534 "$dir" "$dir/cgroup.procs" "$dir/cgroup.subtree_control" "$dir/cgroup.threads"
  done
  echo $$ >"$delegated/runner/cgroup.procs"
  export GAOL_CGROUP_PARENT="$delegated/jobs"
fi
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
  env GAOL_BIN="$GAOL_BIN" GAOL_PROBE_DIR="$GAOL_PROBE_DIR" GAOL_ATTACK_DIR="$GAOL_ATTACK_DIR" \
  HOME=/tmp \
  ${GAOL_CGROUP_PARENT:+GAOL_CGROUP_PARENT="$GAOL_CGROUP_PARENT"} \
  "$stage/gaol-integration-tests" "$@"
