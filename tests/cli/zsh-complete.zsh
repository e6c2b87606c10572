# Drives zsh's completion system on a pseudo-terminal: types $2 and a tab into an interactive zsh
# whose fpath starts with $1, then runs the line; prints what the terminal showed.
# Usage: zsh -f zsh-complete.zsh COMPLETION_DIR 'gaol run --wall-t'
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='zsh-test> '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D; gaol() { :; }"
zpty -w z "$2"$'\t'
sleep 2
out=""
while zpty -r -t z chunk; do out+=$chunk; done
zpty -d z
print -r -- "${out//$'\r'/}"
