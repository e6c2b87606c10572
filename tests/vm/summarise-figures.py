"""Limit vs measured from the VM's GAOL-FIG lines (tests/vm/figures.sh): mean and worst error."""
import json
import statistics
import sys

runs = {}
for line in sys.stdin:
    _, kind, text = line.rstrip("\n").split(" ", 2)
    runs.setdefault(kind, []).append(json.loads(text))

MIB = 1024 * 1024
rows = {
    "memory_64m": ("peak_memory_bytes vs 64 MiB", lambda r: r["peak_memory_bytes"] / MIB, 64.0, "MiB"),
    "pids_16": ("pids_peak vs 16", lambda r: r["pids_peak"], 16.0, "pids"),
    "cpus_0.5": ("CPU share vs 0.5", lambda r: r["cpu_time_seconds"] / r["wall_time_seconds"], 0.5, "CPU"),
    "time_1s": ("CPU time at the kill vs 1 s", lambda r: r["cpu_time_seconds"], 1.0, "s"),
    "io_write_1mb": ("direct writes vs 1 MiB/s", lambda r: 4.0 / r["wall_time_seconds"], 1.0, "MiB/s"),
}
print(f"{'limit':<32} {'runs':>4} {'verdicts':<24} {'mean':>9} {'worst error':>12}")
for kind, (label, measure, limit, unit) in rows.items():
    rs = runs.get(kind, [])
    if not rs:
        print(f"{label:<32} no runs")
        continue
    values = [measure(r) for r in rs]
    verdicts = ",".join(sorted({r["status"] for r in rs}))
    worst = max(values, key=lambda v: abs(v - limit))
    print(f"{label:<32} {len(rs):>4} {verdicts:<24} {statistics.mean(values):>8.3f}{unit[0]} "
          f"{worst - limit:>+11.3f}{unit[0]}")
