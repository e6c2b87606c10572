#!/usr/bin/env bash
# `cmake --install` into a temporary prefix lays out a whole installation, and the installed gaol
# works from it with no path into the build tree: its companions from lib/gaol (serve, bench, the
# metrics module), its profiles in share/gaol, and a job run as an unprivileged user.
# Usage: install-test.sh BUILD_DIR
set -euo pipefail
build=$1
prefix=$(mktemp -d /tmp/gaol-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "install-test: $*" >&2; exit 1; }
cmake --install "$build" --prefix "$prefix" >/dev/null
chmod 0755 "$prefix"
for f in bin/gaol lib/gaol/gaol-serve lib/gaol/gaol-bench lib/gaol/gaol-metrics.so \
         share/gaol/seccomp/default.json share/gaol/seccomp/strict.json \
         share/gaol/apparmor/gaol-job share/gaol/apparmor/gaol-userns \
         share/gaol/apparmor/README.md share/gaol/grafana-dashboard.json; do
  [[ -e $prefix/$f ]] || fail "$f not installed"
done
gaol=$prefix/bin/gaol
"$gaol" --version | grep -q "^gaol " || fail "gaol --version"
# gaol profile names the installed copies, and they are what it runs.
"$gaol" profile list | grep -qF "$prefix/share/gaol/seccomp/" || fail "profile list names no files"
for name in default strict; do
  cmp -s <("$gaol" profile show "$name") "$prefix/share/gaol/seccomp/$name.json" ||
    fail "share/gaol/seccomp/$name.json differs from gaol profile show $name"
done
"$gaol" serve --help | grep -q -- "--listen" || fail "gaol serve does not find lib/gaol/gaol-serve"
"$gaol" bench --help | grep -q "serve" || fail "gaol bench does not find lib/gaol/gaol-bench"
# A job, as the unprivileged user gaol is for, with the metrics module loaded from lib/gaol.
as_user=()
if [[ $(id -u) -eq 0 ]]; then as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
out=$(mktemp -d /tmp/gaol-install-out-XXXXXX)
trap 'rm -rf "$prefix" "$out"' EXIT
chmod 0777 "$out"
(cd "$out" && "${as_user[@]}" env HOME="$out" "$gaol" run --result "$out/result.json" \
   --metrics-textfile "$out/gaol.prom" -- /bin/echo installed) > "$out/stdout" ||
  fail "gaol run failed: $(cat "$out/stdout")"
[[ $(cat "$out/stdout") == installed ]] || fail "the job's output: $(cat "$out/stdout")"
grep -q '"status": *"ok"' "$out/result.json" || fail "result: $(cat "$out/result.json")"
grep -q "^gaol_job" "$out/gaol.prom" || fail "no metrics written: $(cat "$out/gaol.prom")"
echo "install-test: ok"
