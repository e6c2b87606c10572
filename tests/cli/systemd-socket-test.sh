#!/usr/bin/env bash
# gaol serve --listen systemd: started by systemd-socket-activate (systemd's own implementation of
# the socket-passing protocol) it serves on the socket it was given; without a proper socket it
# refuses with one line naming the flag, exit 125, and leaves no process behind.
# Usage: systemd-socket-test.sh BUILD_DIR
set -euo pipefail
serve=$1/sandbox/gaol-serve
fail() { echo "systemd-socket-test: $*" >&2; exit 1; }
command -v systemd-socket-activate >/dev/null || fail "systemd-socket-activate missing (ci/install-deps installs systemd)"
as_user=()
if [[ $(id -u) -eq 0 ]]; then as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
dir=$(mktemp -d /tmp/gaol-socket-XXXXXX)
chmod 0777 "$dir"
activator=
cleanup() {
  [[ -n $activator ]] && kill "$activator" 2>/dev/null && wait "$activator" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Without --accept, systemd-socket-activate execs the server (same pid: LISTEN_PID holds) once a
# connection is waiting, with the listening socket as descriptor 3.
"${as_user[@]}" env HOME="$dir" TMPDIR="$dir" systemd-socket-activate -l "127.0.0.1:$port" \
  "$serve" --listen systemd --pool 0 2>"$dir/serve.err" &
activator=$!
answer=$("${as_user[@]}" /usr/bin/python3 - "$port" <<'PY'
import http.client, json, sys, time
for attempt in range(100):
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
        c.request("POST", "/v1/run", json.dumps({"command": ["/bin/echo", "activated"]}))
        r = c.getresponse()
        print(r.status, json.loads(r.read())["stdout"]["content"].strip())
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
PY
)
[[ $answer == "200 activated" ]] || fail "the job through the passed socket: '$answer' ($(cat "$dir/serve.err"))"
grep -q "listening on 127.0.0.1:$port" "$dir/serve.err" || fail "no listening line: $(cat "$dir/serve.err")"
kill -TERM "$activator"
wait "$activator" || fail "the server did not stop cleanly: $(cat "$dir/serve.err")"
activator=
# Refusals: exit 125, one line naming --listen `systemd`.
refused() {
  local want=$1
  shift
  local err status=0
  err=$("${as_user[@]}" env HOME="$dir" TMPDIR="$dir" "$@" 2>&1 >/dev/null) || status=$?
  [[ $status -eq 125 ]] || fail "exit $status, expected 125: $*"
  [[ $(wc -l <<<"$err") -eq 1 && $err == *'--listen `systemd`'*"$want"* ]] ||
    fail "expected one line naming --listen systemd and '$want', got: $err"
}
refused "not set" "$serve" --listen systemd
refused "LISTEN_PID to be this process" env LISTEN_PID=1 LISTEN_FDS=1 "$serve" --listen systemd
refused "exactly one socket" sh -c 'LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" --listen systemd' "$serve"
refused "descriptor 3" sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --listen systemd 3</dev/null' "$serve"
# Nothing left: no server of this test's and no work root in its TMPDIR.
if pgrep -f "$serve --listen systemd" >/dev/null; then fail "a server is still running"; fi
[[ -z $(ls -A "$dir" | grep -v '^serve.err$') ]] || fail "left in TMPDIR: $(ls -A "$dir")"
echo "systemd-socket-test: ok"
