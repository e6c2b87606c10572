#!/usr/bin/env python3
"""Start latency of gaol, bwrap and plain /bin/true measured interleaved (A B C A B C ...).

Sequential runs (hyperfine's order) are biased here: every run leaves a network namespace that
the kernel tears down later, in the background, so whatever is measured later pays for what ran
before. Interleaving spreads that drift evenly. Each sample is fork+exec+wait from Python
(os.posix_spawn), so the same constant overhead is in every row.

Usage: bench/scripts/interleaved.py GAOL_BINARY [ROUNDS]   (run it as the unprivileged user)
"""
import os
import statistics
import sys
import time

gaol = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 300
commands = {
    "gaol run -- /bin/true": [gaol, "run", "--", "/bin/true"],
    "gaol run --security-opt seccomp=unconfined --landlock off -- /bin/true":
        [gaol, "run", "--security-opt", "seccomp=unconfined", "--landlock", "off", "--",
         "/bin/true"],
    "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev /bin/true":
        ["/usr/bin/bwrap", "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev",
         "/dev", "/bin/true"],
    "/bin/true": ["/bin/true"],
}
devnull = os.open(os.devnull, os.O_RDWR)
actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]


def once(argv):
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, {"PATH": "/usr/bin:/bin"}, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{argv} failed with status {status}")
    return elapsed


times = {name: [] for name in commands}
for _ in range(20):  # warm-up
    for argv in commands.values():
        once(argv)
for _ in range(rounds):
    for name, argv in commands.items():
        times[name].append(once(argv))
for name, t in times.items():
    t.sort()
    print(f"{name:<72} mean {statistics.mean(t)*1e3:5.2f} ms  median {statistics.median(t)*1e3:5.2f} ms"
          f"  p90 {t[int(len(t)*0.9)]*1e3:5.2f} ms")
# Every ratio names both of its rows: the reference is looked up by name, never by position (an
# earlier version divided by the second row, gaol without seccomp and Landlock, and called it bwrap).
BWRAP = "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev /bin/true"
FLOOR = "/bin/true"
for name, t in times.items():
    if name in (BWRAP, FLOOR):
        continue
    for ref in (BWRAP, FLOOR):
        r = times[ref]
        print(f"{name} / {ref}: median {statistics.median(t) / statistics.median(r):.2f}, "
              f"mean {statistics.mean(t) / statistics.mean(r):.2f}")
print(f"({rounds} interleaved rounds)")
