#!/usr/bin/env bash
# gaol serve under load, against the same job launched one by one with `gaol run`: requests per
# second and p50/p99 latency of POST /v1/run for /bin/true with 1 and 16 clients (wrk, Debian's
# package), and the server's RSS idle and under load. Run as root: everything runs as uid 65534.
# Usage: bench/scripts/serve-load.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-20}
user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
stage=$(mktemp -d /tmp/gaol-serve-bench.XXXXXX)
chmod 0755 "$stage"
install -m 0755 "$build/sandbox/gaol" "$build/sandbox/gaol-serve" "$stage/"
install -m 0644 "$build/sandbox/gaol-metrics.so" "$stage/"
cat >"$stage/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"command": ["/bin/true"]}'
wrk.headers["Content-Type"] = "application/json"
LUA
"${user[@]}" "$stage/gaol" serve --listen 127.0.0.1:0 2>"$stage/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$stage"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$stage/serve.log" && break; sleep 0.1; done
addr=$(grep -o '127.0.0.1:[0-9]*' "$stage/serve.log")
rss() { awk '/VmRSS/ { print $2 }' /proc/$server/status; }
echo "host: $(nproc) CPUs, $(uname -r), load tool: wrk $(dpkg-query -W -f='${Version}' wrk)"
echo "server idle RSS: $(rss) kB"
peak=0
for clients in 1 16; do
  threads=$([ "$clients" = 1 ] && echo 1 || echo 4)
  ( while kill -0 $server 2>/dev/null; do rss; sleep 0.2; done ) >"$stage/rss.$clients" &
  sampler=$!
  wrk -t"$threads" -c"$clients" -d"${seconds}s" --latency -s "$stage/post.lua" "http://$addr/v1/run" \
    >"$stage/wrk.$clients"
  kill $sampler
  echo "POST /v1/run, $clients client(s): $(awk '/Requests\/sec/ { print $2 }' "$stage/wrk.$clients") req/s," \
    "p50 $(awk '$1 == "50%" { print $2 }' "$stage/wrk.$clients")," \
    "p99 $(awk '$1 == "99%" { print $2 }' "$stage/wrk.$clients")," \
    "errors: $(grep -E 'Non-2xx|Socket errors' "$stage/wrk.$clients" | tr -s ' ' | tr '\n' ' ' || true)"
  echo "  server RSS under load: max $(sort -n "$stage/rss.$clients" | tail -1) kB"
done
echo "server RSS after: $(rss) kB"
# The same job one by one with gaol run, for $seconds seconds: the reference in the same run.
"${user[@]}" /usr/bin/python3 - "$stage/gaol" "$seconds" <<'PY'
import subprocess, sys, time
gaol, seconds = sys.argv[1], float(sys.argv[2])
times, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    t = time.perf_counter()
    subprocess.run([gaol, "run", "-q", "--", "/bin/true"], check=True)
    times.append(time.perf_counter() - t)
times.sort()
pct = lambda p: times[min(len(times) - 1, int(p / 100 * len(times)))] * 1000
print(f"gaol run one by one: {len(times) / sum(times):.1f} runs/s, p50 {pct(50):.2f}ms, p99 {pct(99):.2f}ms")
PY
