#!/usr/bin/env bash
# Checks metrics/grafana-dashboard.json: valid JSON, every query parses as PromQL (promtool, with
# Grafana's variables given values), and every gaol_* name it uses is a family gaol exports.
# Usage: metrics/check-dashboard.sh DASHBOARD EXPOSITION (a sample /metrics text)
set -euo pipefail
dashboard=$1
exposition=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$dashboard" "$exposition" "$tmp/rules.yml" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
exported = set(re.findall(r"^# TYPE (\w+) ", open(sys.argv[2]).read(), re.M))
rules, unknown = [], set()
for panel in dash["panels"]:
    for target in panel["targets"]:
        expr = target["expr"].replace("$__rate_interval", "1m").replace("$job", ".*").replace("$instance", ".*")
        rules.append(expr)
        for name in re.findall(r"\b(gaol_\w+)", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in exported and base not in exported:
                unknown.add(name)
if unknown:
    sys.exit("dashboard uses metrics gaol does not export: " + ", ".join(sorted(unknown)))
with open(sys.argv[3], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, expr in enumerate(rules):
        out.write(f"      - record: dashboard:expr{i}\n        expr: {json.dumps(expr)}\n")
print(f"{len(rules)} queries over {len(exported)} exported families")
PY
promtool check rules "$tmp/rules.yml" >/dev/null
