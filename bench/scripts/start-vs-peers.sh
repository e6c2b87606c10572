#!/usr/bin/env bash
# gaol run -- /bin/true against bwrap and plain /bin/true, in one hyperfine run, as an
# unprivileged user; prints mean, median and p90 of each and the gaol/bwrap ratios.
# Usage: bench/scripts/start-vs-peers.sh [BUILD_DIR] [RUNS]   (as root it runs as uid 65534)
set -euo pipefail
build=${1:-build}
runs=${2:-300}
stage=$(mktemp -d /tmp/gaol-bench.XXXXXX)
trap 'rm -rf "$stage"' EXIT
chmod 0777 "$stage"
install -m 0755 "$build/sandbox/gaol" "$stage/gaol"
as_user=()
[ "$(id -u)" = 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp)
cd "$stage"
"${as_user[@]}" hyperfine -N --warmup 20 --runs "$runs" --export-json "$stage/hf.json" \
  "$stage/gaol run -- /bin/true" \
  'bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev /bin/true' \
  '/bin/true' >/dev/null 2>&1
python3 - "$stage/hf.json" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
for r in results:
    t = sorted(r["times"])
    name = "gaol run -- /bin/true" if r["command"].startswith("/tmp") else r["command"]
    print(f"{name:<72} "
          f"mean {r['mean']*1e3:5.2f} ms  median {statistics.median(t)*1e3:5.2f} ms  "
          f"p90 {t[int(len(t)*0.9)]*1e3:5.2f} ms")
g, b = results[0], results[1]
print(f"gaol/bwrap: mean {g['mean']/b['mean']:.2f}, median "
      f"{statistics.median(g['times'])/statistics.median(b['times']):.2f}")
PY
