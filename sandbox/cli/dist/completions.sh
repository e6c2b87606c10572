#!/bin/sh
# Writes bash, zsh and fish completions for gaol from its own --help, so they cannot drift from the
# CLI: every command's options (with their descriptions, whether they take a value, and what kind:
# a file, a directory, one of a list) and subcommands.
# Usage: completions.sh GAOL OUT_DIR   (writes OUT_DIR/gaol.bash, OUT_DIR/_gaol, OUT_DIR/gaol.fish)
set -eu
gaol=$1
out=$2
# The commands, as gaol's arguments; "-" is gaol itself.
commands="- run check serve bench bench/start bench/enforce bench/serve bench/compare profile
profile/list profile/show"

# One record per line, tab-separated:
#   opt  COMMAND  SHORT  LONG  KIND  REPEAT  DESCRIPTION   (KIND: none, file, dir, word, or
#                                                           choice:a b)
#   sub  COMMAND  NAME   DESCRIPTION
table=$(mktemp)
trap 'rm -f "$table"' EXIT
for command in $commands; do
  if [ "$command" = - ]; then args=""; else args=$(echo "$command" | tr / ' '); fi
  # shellcheck disable=SC2086
  "$gaol" $args --help | awk -v cmd="$command" '
    function flush() {
      if (spec == "") return
      names = spec; arg = ""
      if (match(spec, / /)) { names = substr(spec, 1, RSTART - 1); arg = substr(spec, RSTART + 1) }
      short = ""; long = ""
      n = split(names, parts, ",")
      for (i = 1; i <= n; i++) {
        if (parts[i] ~ /^--/) long = substr(parts[i], 3); else short = substr(parts[i], 2)
      }
      repeat = (arg ~ /\.\.\.$/) ? 1 : 0
      kind = "none"
      if (arg != "") {
        kind = "word"
        if (match(arg, /\{[^}]*\}/)) {
          choices = substr(arg, RSTART + 1, RLENGTH - 2); gsub(/,/, " ", choices)
          kind = "choice:" choices
        } else if (arg ~ /^DIR/) kind = "dir"
        else if (arg ~ /^(FILE|SRC|PATH)/) kind = "file"
      }
      gsub(/\t/, " ", desc)
      printf "opt\t%s\t%s\t%s\t%s\t%d\t%s\n", cmd, short, long, kind, repeat, desc
      spec = ""; desc = ""
    }
    /^[A-Za-z][^:]*:$/ { flush(); section = $0; next }
    /^  -/ && section != "Subcommands:" && section != "Positionals:" {
      flush()
      line = $0; sub(/^ +/, "", line)
      if (match(line, /  +/)) {
        spec = substr(line, 1, RSTART - 1); desc = substr(line, RSTART + RLENGTH)
      } else { spec = line; desc = "" }
      next
    }
    /^      +[^ ]/ && spec != "" && desc == "" { desc = $0; sub(/^ +/, "", desc); next }
    /^  [a-z]/ && section == "Subcommands:" {
      flush()
      line = $0; sub(/^ +/, "", line)
      name = line; d = ""
      if (match(line, /  +/)) { name = substr(line, 1, RSTART - 1); d = substr(line, RSTART + RLENGTH) }
      printf "sub\t%s\t%s\t%s\n", cmd, name, d
      next
    }
    { flush() }
    END { flush() }
  ' >> "$table"
done
grep -q "^opt	run	m	memory	" "$table" || { echo "completions.sh: could not read gaol run --help" >&2; exit 1; }

# bash: the command path from the words typed, then options, subcommands, an option's value, or
# (after `gaol run`'s options) the command to run and its files.
awk -F '\t' '
  $1 == "opt" {
    if ($4 != "") opts[$2] = opts[$2] " --" $4
    if ($3 != "") opts[$2] = opts[$2] " -" $3
    if ($5 != "none") {
      if ($4 != "") kinds[$2 " --" $4] = $5
      if ($3 != "") kinds[$2 " -" $3] = $5
    }
  }
  $1 == "sub" { subs[$2] = subs[$2] " " $3 }
  END {
    print "# bash completion for gaol: generated from gaol --help by sandbox/cli/dist/completions.sh"
    print "_gaol_options() {"
    print "  case $1 in"
    for (c in opts) printf "    %s) echo \"%s\" ;;\n", c == "-" ? "-" : c, substr(opts[c], 2)
    print "  esac"
    print "}"
    print "_gaol_subcommands() {"
    print "  case $1 in"
    for (c in subs) printf "    %s) echo \"%s\" ;;\n", c, substr(subs[c], 2)
    print "  esac"
    print "}"
    print "_gaol_value_kind() {"
    print "  case \"$1 $2\" in"
    for (k in kinds) printf "    \"%s\") echo \"%s\" ;;\n", k, kinds[k]
    print "    *) echo none ;;"
    print "  esac"
    print "}"
    print "_gaol() {"
    print "  local cur=${COMP_WORDS[COMP_CWORD]} path=- word kind i subs after_dashes="
    print "  COMPREPLY=()"
    print "  for ((i = 1; i < COMP_CWORD; i++)); do"
    print "    word=${COMP_WORDS[i]}"
    print "    if [[ $path == run && ( $word == -- || -n $after_dashes ) ]]; then after_dashes=$((${after_dashes:-0} + 1)); continue; fi"
    print "    # `gaol run [OPTIONS] COMMAND`: the first word that is neither an option nor its value."
    print "    if [[ $path == run && $word != -* ]]; then after_dashes=2; continue; fi"
    print "    if [[ $word == -* ]]; then"
    print "      kind=$(_gaol_value_kind \"$path\" \"$word\")"
    print "      [[ $kind != none ]] && ((i++))"
    print "      continue"
    print "    fi"
    print "    subs=\" $(_gaol_subcommands \"$path\") \""
    print "    if [[ $subs == *\" $word \"* ]]; then"
    print "      if [[ $path == - ]]; then path=$word; else path=$path/$word; fi"
    print "    fi"
    print "  done"
    print "  if [[ -n $after_dashes ]]; then"
    print "    if [[ $after_dashes == 1 ]]; then COMPREPLY=($(compgen -c -- \"$cur\")); else COMPREPLY=($(compgen -f -- \"$cur\")); fi"
    print "    return"
    print "  fi"
    print "  if ((COMP_CWORD > 1)); then"
    print "    kind=$(_gaol_value_kind \"$path\" \"${COMP_WORDS[COMP_CWORD - 1]}\")"
    print "    case $kind in"
    print "      file) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;"
    print "      dir) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;"
    print "      choice:*) COMPREPLY=($(compgen -W \"${kind#choice:}\" -- \"$cur\")); return ;;"
    print "      word) return ;;"
    print "    esac"
    print "  fi"
    print "  if [[ $cur == -* ]]; then"
    print "    COMPREPLY=($(compgen -W \"$(_gaol_options \"$path\")\" -- \"$cur\"))"
    print "  elif [[ -n $(_gaol_subcommands \"$path\") ]]; then"
    print "    COMPREPLY=($(compgen -W \"$(_gaol_subcommands \"$path\")\" -- \"$cur\"))"
    print "  elif [[ $path == run ]]; then"
    print "    COMPREPLY=($(compgen -c -- \"$cur\") $(compgen -W \"--\" -- \"$cur\"))"
    print "  else"
    print "    COMPREPLY=($(compgen -f -- \"$cur\"))"
    print "  fi"
    print "}"
    print "complete -F _gaol -o filenames gaol"
  }
' "$table" > "$out/gaol.bash"

# zsh: one _arguments function per command; subcommands through _describe.
awk -F '\t' '
  function q(s) { gsub(/'\''/, "'\''\\'\'''\''", s); return s }
  function bracket(s) { gsub(/\\/, "&&", s); gsub(/\[/, "\\[", s); gsub(/\]/, "\\]", s); gsub(/:/, "\\:", s); return q(s) }
  function fname(c) { if (c == "-") return "_gaol"; gsub(/\//, "_", c); return "_gaol_" c }
  function action(kind,   choices) {
    if (kind == "file") return ":file:_files"
    if (kind == "dir") return ":directory:_files -/"
    if (kind ~ /^choice:/) { choices = substr(kind, 8); return ":value:(" choices ")" }
    if (kind == "word") return ":value: "
    return ""
  }
  $1 == "opt" {
    c = $2; star = $6 == 1 ? "*" : ""; d = bracket($7); a = action($5)
    if ($3 != "" && $4 != "") {
      line = "    '\''" (star == "" ? "(-" $3 " --" $4 ")" : "*") "'\''{-" $3 ",--" $4 "}'\''[" d "]" q(a) "'\''"
    } else if ($4 != "") {
      line = "    '\''" star "--" $4 "[" d "]" q(a) "'\''"
    } else {
      line = "    '\''" star "-" $3 "[" d "]" q(a) "'\''"
    }
    specs[c] = specs[c] line " \\\n"
    order[c] = 1
  }
  $1 == "sub" { subs[$2] = subs[$2] "    '\''" q($3) ":" bracket($4) "'\''\n"; order[$2] = 1 }
  END {
    print "#compdef gaol"
    print "# zsh completion for gaol: generated from gaol --help by sandbox/cli/dist/completions.sh"
    for (c in order) {
      if (c == "-") continue
      print fname(c) "() {"
      if (c in subs) {
        print "  local curcontext=$curcontext state line"
        print "  _arguments -C -s \\"
        printf "%s", specs[c]
        print "    '\''1:command:->command'\'' '\''*::argument:->argument'\''"
        print "  case $state in"
        print "    command)"
        print "      local -a commands=("
        printf "%s", subs[c]
        print "      )"
        print "      _describe -t commands command commands ;;"
        print "    argument)"
        print "      (( $+functions[" fname(c) "_$words[1]] )) && " fname(c) "_$words[1] ;;"
        print "  esac"
      } else if (c == "run") {
        print "  _arguments -s -S \\"
        printf "%s", specs[c]
        print "    '\''*::command and its arguments:_normal'\''"
      } else {
        print "  _arguments -s \\"
        printf "%s", specs[c]
        print "    '\''*:file:_files'\''"
      }
      print "}"
    }
    print "_gaol() {"
    print "  local curcontext=$curcontext state line"
    print "  _arguments -C -s \\"
    printf "%s", specs["-"]
    print "    '\''1:command:->command'\'' '\''*::argument:->argument'\''"
    print "  case $state in"
    print "    command)"
    print "      local -a commands=("
    printf "%s", subs["-"]
    print "      )"
    print "      _describe -t commands command commands ;;"
    print "    argument)"
    print "      (( $+functions[_gaol_$words[1]] )) && _gaol_$words[1] ;;"
    print "  esac"
    print "}"
    print "_gaol \"$@\""
  }
' "$table" > "$out/_gaol"

# fish: conditions on the subcommands seen; `gaol serve` and `gaol bench serve` kept apart.
awk -F '\t' '
  function q(s) { gsub(/\\/, "&&", s); gsub(/'\''/, "\\'\''", s); return "'\''" s "'\''" }
  function cond(c,   top, sub_) {
    if (c == "-") return "__fish_use_subcommand"
    split(c, p, "/"); top = p[1]; sub_ = p[2]
    if (sub_ == "") {
      if (top in nested) return "__fish_seen_subcommand_from " top "; and not __fish_seen_subcommand_from " nested[top]
      if (top == "serve") return "__fish_seen_subcommand_from serve; and not __fish_seen_subcommand_from bench"
      return "__fish_seen_subcommand_from " top
    }
    return "__fish_seen_subcommand_from " top "; and __fish_seen_subcommand_from " sub_
  }
  { rows[NR] = $0 }
  $1 == "sub" && $2 != "-" { nested[$2] = nested[$2] (nested[$2] == "" ? "" : " ") $3 }
  END {
    print "# fish completion for gaol: generated from gaol --help by sandbox/cli/dist/completions.sh"
    print "complete -c gaol -f"
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, "\t")
      if (f[1] == "sub") {
        printf "complete -c gaol -n %s -a %s -d %s\n", q(cond(f[2])), f[3], q(f[4])
        continue
      }
      line = "complete -c gaol -n " q(cond(f[2]))
      if (f[3] != "") line = line " -s " f[3]
      if (f[4] != "") line = line " -l " f[4]
      if (f[5] == "file") line = line " -r -F"
      else if (f[5] == "dir") line = line " -x -a " q("(__fish_complete_directories)")
      else if (f[5] ~ /^choice:/) line = line " -x -a " q(substr(f[5], 8))
      else if (f[5] == "word") line = line " -x"
      print line " -d " q(f[7])
    }
    # After `gaol run`s options: the command to run, then its files.
    print "complete -c gaol -n " q("__fish_seen_subcommand_from run; and contains -- -- (commandline -opc)") " -F -a " q("(__fish_complete_command)")
  }
' "$table" > "$out/gaol.fish"
