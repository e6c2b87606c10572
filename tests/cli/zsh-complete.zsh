# Drives zsh's completion system on a pseudo-terminal: types $2 and a tab into an interactive zsh
# whose fpath starts with $1, then runs the line; prints what the terminal showed once the next
# prompt is there (at most 20 s: a loaded machine is slow, never wrong).
# Usage: zsh -f zsh-complete.zsh COMPLETION_DIR 'gaol run --wall-t'
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='zsh-test> '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D; gaol() { :; }"
zpty -w z "$2"$'\t'
out=""
for i in {1..200}; do
  while zpty -r -t z chunk; do out+=$chunk; done
  # The completed line was run: the prompt came back after it (the first one came after the
  # line that set it).
  [[ $out == *"zsh-test> "*"zsh-test> "* ]] && break
  sleep 0.1
done
zpty -d z
print -r -- "${out//$'\r'/}"
