#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every verb and option that `mkmachine --help` lists must be documented in the man page and offered
# by the bash and zsh completions. TAP output.
set -uo pipefail

src=${MKMACHINE_SOURCE_ROOT:?}
bin=${MKMACHINE:?}
man=$src/mkmachine/man/mkmachine.1.scd
bash_comp=$src/mkmachine/shell-completion/bash/mkmachine
zsh_comp=$src/mkmachine/shell-completion/zsh/_mkmachine

help=$("$bin" --help) || { echo "1..0 # SKIP mkmachine --help failed"; exit 1; }
mapfile -t verbs < <(printf '%s\n' "$help" | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
mapfile -t options < <(printf '%s\n' "$help" | sed -n '/^Options:/,/^$/p' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)

echo "1..$(( (${#verbs[@]} + ${#options[@]}) * 3 + 1 ))"
n=0
fail=0
result() {  # result OK? DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}

[ "${#verbs[@]}" -gt 3 ]
result $? "help lists the verbs (${#verbs[@]})"

for v in "${verbs[@]}"; do
    grep -q "^\*$v\*" "$man"; result $? "man page documents verb '$v'"
    grep -qE "verbs\+?=\".*\<$v\>" "$bash_comp"; result $? "bash completion offers verb '$v'"
    grep -q "'$v:" "$zsh_comp"; result $? "zsh completion offers verb '$v'"
done
for o in "${options[@]}"; do
    grep -qF -- "*$o" "$man"; result $? "man page documents option '$o'"
    grep -qE -- "options\+?=\".*$o" "$bash_comp"; result $? "bash completion offers option '$o'"
    grep -qF -- "$o" "$zsh_comp"; result $? "zsh completion offers option '$o'"
done
exit $fail
