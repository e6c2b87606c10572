#!/usr/bin/env bash
# Runs the integration tests as an unprivileged uid, the way gaol is meant to be used.
# Usage: run-unprivileged.sh BUILD_DIR [catch2 args...]
# As root: stage gaol, the probe and the test binary in a fresh 0755 directory (CI's clone may sit
# where uid 65534 cannot enter) and run as 65534 with setpriv. As any other user: run as is.
set -euo pipefail
build=$1
shift
stage=$(mktemp -d /tmp/gaol-stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
mkdir -m 0755 "$stage/probe"
install -m 0755 "$build/sandbox/gaol" "$stage/gaol"
install -m 0755 "$build/tests/probe/gaol-probe" "$stage/probe/gaol-probe"
install -m 0755 "$build/tests/integration/gaol-integration-tests" "$stage/gaol-integration-tests"
export GAOL_BIN="$stage/gaol" GAOL_PROBE_DIR="$stage/probe"
cd "$stage"
if [ "$(id -u)" = 0 ]; then
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    env GAOL_BIN="$GAOL_BIN" GAOL_PROBE_DIR="$GAOL_PROBE_DIR" HOME=/tmp \
    "$stage/gaol-integration-tests" "$@"
else
  "$stage/gaol-integration-tests" "$@"
fi
