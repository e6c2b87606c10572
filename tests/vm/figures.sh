#!/bin/sh
# Runs in the VM as uid 1000 (tests/vm/run-vm-tests.sh BUILD figures): each limit 10 times,
# one "GAOL-FIG <kind> <result JSON>" line per run for the host side to summarise.
P=$GAOL_CGROUP_PARENT
run() {
  kind=$1
  shift
  /gaol/gaol run -q --cgroup-parent $P --ro-bind /gaol/probe /probe --result-fd 3 "$@" \
    3>/tmp/result.json >/dev/null 2>&1
  echo "GAOL-FIG $kind $(cat /tmp/result.json)"
}
for i in 1 2 3 4 5 6 7 8 9 10; do
  run memory_64m --memory 64m -- /probe/gaol-probe hog 200000000
  run pids_16 --pids-limit 16 -- /probe/gaol-probe fork 200
  run cpus_0.5 --cpus 0.5 --wall-time-limit 2s -- /probe/gaol-probe spin 30
  run time_1s --time-limit 1s -- /probe/gaol-probe spin 30
  run io_write_1mb --device-write-bps /dev/vda:1mb -v /data:/data -- /bin/dd if=/dev/zero \
    of=/data/f bs=1M count=4 oflag=direct
done
# gaol bench enforce on the cgroup path: its table, line by line, for the host side to print.
/gaol/gaol bench enforce --repeat 5 --cgroup-parent $P 2>/dev/null | sed 's/^/GAOL-ENFORCE /'
# gaol bench start with a cgroup leaf per gaol row, crun (which needs a unified host) beside bwrap
# and unshare; then the micro-benchmarks that need a delegated cgroup.
/gaol/gaol bench start --rounds 30 --cgroup-parent $P 2>/dev/null | sed 's/^/GAOL-START /'
GAOL_BENCH_CGROUP_PARENT=$P /gaol/gaol-micro-bench --benchmark_filter='^(floor|cgroup|launch)' \
  --benchmark_min_time=0.5 2>/dev/null | sed 's/^/GAOL-MICRO /'
