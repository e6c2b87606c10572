#!/usr/bin/env bash
# What `cmake --install` lays out beside the binaries, checked from a temporary prefix with the
# installed gaol only: every man page renders without a warning and documents every option its
# command's --help lists; the bash, zsh and fish completions complete gaol's commands and options
# in the real shells; the systemd units pass systemd-analyze and keep their hardening.
# Usage: dist-test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source_dir=$2
prefix=$(mktemp -d /tmp/gaol-dist-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "dist-test: $*" >&2; exit 1; }
cmake --install "$build" --prefix "$prefix" >/dev/null
gaol=$prefix/bin/gaol
man_dir=$prefix/share/man
export LC_ALL=C.UTF-8 MANWIDTH=100

# Long options a --help lists ("  -m,--memory SIZE   ..." gives --memory); never none.
long_options() {
  local help options
  help=$("$gaol" "$@" --help) || fail "gaol $* --help failed"
  options=$(sed -n 's/^ *\(-[a-zA-Z],\)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p' <<<"$help" | sort -u)
  grep -qx -- --help <<<"$options" || fail "gaol $* --help lists no options"
  echo "$options"
}
# Whether TEXT has WORD whole: `--memory` is not found in `--memory-swap`.
has_word() { grep -qE -- "(^|[^a-z0-9_-])$2([^a-z0-9_-]|\$)" <<<"$1"; }

# --- man pages -----------------------------------------------------------------------------
check_page() {  # check_page FILE [COMMAND...]: renders cleanly, and has every option of the help
  local file=$1
  shift
  [[ -f $file ]] || fail "${file#"$prefix"/} not installed"
  local warnings text
  warnings=$(man --warnings -l "$file" 2>&1 >/dev/null) || fail "man -l ${file##*/} failed"
  [[ -z $warnings ]] || fail "man --warnings -l ${file##*/}: $warnings"
  text=$(man -l "$file" 2>/dev/null | col -b)
  [[ $# -eq 0 ]] && { echo "$text"; return; }
  local option options
  options=$(long_options "$@")
  for option in $options; do
    has_word "$text" "$option" || fail "${file##*/} does not document $option of gaol $*"
  done
  echo "$text"
}
m1=$man_dir/man1
check_page "$m1/gaol.1.gz" >/dev/null
run_page=$(check_page "$m1/gaol-run.1.gz" run)
grep -q "^EXIT STATUS" <<<"$run_page" || fail "gaol-run(1) has no EXIT STATUS"
check_page "$m1/gaol-check.1.gz" check >/dev/null
check_page "$m1/gaol-serve.1.gz" serve >/dev/null
check_page "$m1/gaol-profile.1.gz" profile >/dev/null
for sub in start enforce serve compare; do check_page "$m1/gaol-bench.1.gz" bench "$sub" >/dev/null; done
# The formats' pages carry every field docs/FORMATS.md's tables name.
spec_page=$(check_page "$man_dir/man5/gaol.spec.5.gz")
result_page=$(check_page "$man_dir/man5/gaol.result.5.gz")
fields() {  # the first column's `names` of a FORMATS.md section's table
  awk -v h="## $1 " 'index($0, h) == 1 { on = 1; next } /^## / { on = 0 }
    on && /^\| `/ { split($0, c, "|"); print c[2] }' "$source_dir/docs/FORMATS.md" |
    grep -o '`[^`]*`' | tr -d '`'
}
spec_fields=$(fields gaol.spec/v1)
result_fields=$(fields gaol.result/v1)
[[ $(wc -l <<<"$spec_fields") -gt 30 ]] || fail "read too few spec fields from FORMATS.md"
[[ $(wc -l <<<"$result_fields") -gt 20 ]] || fail "read too few result fields from FORMATS.md"
for f in $spec_fields; do has_word "$spec_page" "${f//./\\.}" || fail "gaol.spec(5) lacks $f"; done
for f in $result_fields; do has_word "$result_page" "${f//./\\.}" || fail "gaol.result(5) lacks $f"; done
# Found by name, as `man` finds an installed page.
man -M "$man_dir" -w gaol-run >/dev/null || fail "man -M PREFIX gaol-run finds no page"
man -M "$man_dir" -w 5 gaol.spec >/dev/null || fail "man -M PREFIX 5 gaol.spec finds no page"

# --- completions ---------------------------------------------------------------------------
bash_completion=$prefix/share/bash-completion/completions/gaol
zsh_completion=$prefix/share/zsh/vendor-completions/_gaol
fish_completion=$prefix/share/fish/vendor_completions.d/gaol.fish
for f in "$bash_completion" "$zsh_completion" "$fish_completion"; do
  [[ -f $f ]] || fail "${f#"$prefix"/} not installed"
  text=$(cat "$f")
  options="$(long_options run) $(long_options serve) $(long_options bench start)"
  for option in $options; do
    # fish names a long option without its dashes (-l memory).
    word=$option
    [[ $f == *.fish ]] && word="-l ${option#--}"
    has_word "$text" "$word" || fail "${f##*/} lacks $option"
  done
done
complete_bash() {  # the words bash's completion offers for the command line "$@" (last: the word)
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _gaol
           printf "%s\n" "${COMPREPLY[@]}"' _ "$bash_completion" "$@" | sort -u | tr '\n' ' '
}
expect() {  # expect SHELL GOT WANTED
  [[ $2 == "$3" ]] || fail "$1 completion: got '$2', expected '$3'"
}
expect bash "$(complete_bash gaol r)" "run "
expect bash "$(complete_bash gaol run --memory-)" "--memory-swap "
expect bash "$(complete_bash gaol bench s)" "serve start "
expect bash "$(complete_bash gaol bench start --format '')" "json table "
expect bash "$(complete_bash gaol serve --lis)" "--listen "
expect bash "$(complete_bash gaol run --spec "$source_dir/CMakeLists.tx")" "$source_dir/CMakeLists.txt "
expect bash "$(complete_bash gaol run -m 1g -- /bin/ech)" "/bin/echo "
expect bash "$(complete_bash gaol run -m 1g /bin/ech)" "/bin/echo "
expect bash "$(complete_bash gaol run /bin/echo /etc/hostnam)" "/etc/hostname "
complete_fish() {
  fish --no-config -c "source $fish_completion; complete -C '$1'" | cut -f1 | sort -u | tr '\n' ' '
}
expect fish "$(complete_fish "gaol r")" "run "
expect fish "$(complete_fish "gaol run --memory-")" "--memory-swap "
expect fish "$(complete_fish "gaol bench s")" "serve start "
expect fish "$(complete_fish "gaol serve --lis")" "--listen "
expect fish "$(complete_fish "gaol bench serve --conc")" "--concurrency "
# zsh: its completion system driven on a pseudo-terminal; the line it completed is echoed back.
complete_zsh() {
  zsh -f "$source_dir/tests/cli/zsh-complete.zsh" "$(dirname "$zsh_completion")" "$1" |
    sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | col -bx
}
for pair in "gaol ru:gaol run" "gaol run --wall-t:gaol run --wall-time-limit" \
            "gaol bench sta:gaol bench start" "gaol serve --max-cl:gaol serve --max-client-connections"; do
  got=$(complete_zsh "${pair%%:*}")
  # The line as run: what was typed, completed to the end of the word.
  grep -q -- "zsh-test> ${pair#*:}\$" <<<"$got" || fail "zsh completion of '${pair%%:*}': got '$got'"
done

# --- systemd units -------------------------------------------------------------------------
units=$prefix/lib/systemd/system
for f in gaol-serve.service gaol-serve.socket; do [[ -f $units/$f ]] || fail "$f not installed"; done
service=$units/gaol-serve.service
exec_start=$(sed -n 's/^ExecStart=//p' "$service")
[[ $exec_start == */bin/gaol\ serve\ --listen\ systemd ]] || fail "ExecStart=$exec_start"
for line in DynamicUser=yes Delegate=yes NoNewPrivileges=yes CapabilityBoundingSet= \
            ProtectHome=yes PrivateTmp=yes; do
  grep -qx "$line" "$service" || fail "gaol-serve.service lacks $line"
done
for option in RestrictNamespaces ProtectHostname SystemCallFilter MemoryDenyWriteExecute \
              ProtectKernelTunables ProtectKernelLogs ProtectProc ProcSubset ProtectControlGroups; do
  ! grep -q "^$option=" "$service" || fail "gaol-serve.service sets $option=, which breaks jobs"
done
# systemd-analyze checks the units as systemd would load them, with ExecStart pointing at this
# installation's gaol (the configured path is where a package puts it).
check_units=$(mktemp -d /tmp/gaol-units-XXXXXX)
trap 'rm -rf "$prefix" "$check_units"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$gaol|" "$service" >"$check_units/gaol-serve.service"
cp "$units/gaol-serve.socket" "$check_units/"
verify=$(systemd-analyze verify --man=no "$check_units/gaol-serve.socket" \
         "$check_units/gaol-serve.service" 2>&1) || fail "systemd-analyze verify: $verify"
[[ -z $verify ]] || fail "systemd-analyze verify: $verify"
exposure=$(systemd-analyze security --offline=yes "$check_units/gaol-serve.service" 2>&1 |
           sed -n 's/.*Overall exposure level for gaol-serve.service: \([0-9.]*\).*/\1/p')
[[ -n $exposure ]] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 6.0) }' ||
  fail "gaol-serve.service's exposure level rose to $exposure (was 5.7)"
echo "dist-test: ok (gaol-serve.service exposure $exposure)"
