#!/bin/sh
# test_hostile.sh — the hostile-input corpus (tests/hostile/): every case
# runs the nabla command its manifest gives, under a time limit, in an empty
# folder of its own, and must
#   - end by itself (no hang: the limit is HOSTILE_TIMEOUT seconds, 60);
#   - exit with the status the case names (1 unless it says otherwise),
#     never by a signal and never 0;
#   - print each message the case names on stderr, and no sanitizer report;
#   - leave its folder as it found it: no output file, whole or half-written,
#     no temporary file, and every file the case put there unchanged.
#
# The corpus is copied to WORKDIR (in the build folder), then
# tests/hostile/gen.py (with /usr/bin/python3 and h5py) writes the binary
# cases beside the text ones, so WORKDIR holds every file a case reads.
#
# A manifest is tests/hostile/<class>/cases, one stanza per case:
#
#   case NAME           starts a case
#   run ARGS...         the nabla arguments (shell words; $C is the class's
#                       folder, $R the corpus root)
#   stdin FILE          the case's standard input (default /dev/null)
#   pipe COMMAND        the case's standard input: COMMAND's output, piped
#   pre COMMAND         a shell command run in the case's folder first
#   exit N              the exit status expected (default 1)
#   err TEXT            text stderr must contain (any number of lines; $R
#                       stands for the corpus root, as in the paths printed)
#
# HOSTILE_SKIP names classes this nabla cannot run (built without the
# library they need), skipped with a line saying so.
#
# usage: test_hostile.sh NABLA SOURCE_CORPUS WORKDIR [CLASS[/CASE]...]
set -u

. "$(dirname "$0")/lib.sh"
nabla=$(abs "$1")
src=$(abs "$2")
work=$(abs "$3")
shift 3
limit=${HOSTILE_TIMEOUT:-60}
# Under AddressSanitizer an allocation beyond its limit (a file claiming
# 2^40 examples) returns NULL, as malloc does, instead of aborting: the case
# checks nabla's answer to a failed allocation.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1
export ASAN_OPTIONS

rm -rf "$work"
mkdir -p "$work" || exit 1
cp -R "$src/." "$work/corpus" || exit 1
R=$work/corpus
python=/usr/bin/python3
if ! "$python" "$R/gen.py" "$R" "$nabla" > "$work/gen.log" 2>&1; then
    echo "not ok - gen.py could not write the binary cases:"
    sed 's/^/    | /' "$work/gen.log" | tail -20
    echo "hostile: 0 passed, 1 failed"
    exit 1
fi

# snapshot: every file under the current folder with its checksum.
snapshot() { find . -type f -exec cksum {} + | sort; }

# fail REASON: the current case failed; show its output.
case_fail() { fail "$class/$name: $1"; }

# run_case: runs the case gathered in name, args, input, pre, want, errs.
run_case() {
    dir=$work/run/$class/$name
    last_out=$dir/.stdout last_err=$dir/.stderr
    mkdir -p "$dir"
    if [ -n "$pre" ] && ! (cd "$dir" && C=$C R=$R sh -c "$pre") > "$dir/.pre" 2>&1; then
        case_fail "its 'pre' command failed: $(head -3 "$dir/.pre")"
        return
    fi
    (cd "$dir" && snapshot) > "$work/before"
    if [ -n "$pipe" ]; then
        (cd "$dir" && C=$C R=$R sh -c "$pipe") < /dev/null 2> /dev/null |
            (cd "$dir" && eval "set -- $args" && exec timeout -k 5 "$limit" "$nabla" "$@") \
            > "$work/stdout" 2> "$work/stderr"
    else
        (cd "$dir" && eval "set -- $args" && exec timeout -k 5 "$limit" "$nabla" "$@") \
            < "$input" > "$work/stdout" 2> "$work/stderr"
    fi
    rc=$?
    (cd "$dir" && snapshot) > "$work/after"
    mv "$work/stdout" "$dir/.stdout"
    mv "$work/stderr" "$dir/.stderr"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        case_fail "no end after ${limit}s (a hang)"
    elif [ "$rc" -gt 128 ]; then
        case_fail "killed by signal $((rc - 128))"
    elif grep -qE 'ERROR: [A-Za-z]+Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$dir/.stderr"; then
        case_fail "a sanitizer report"
    elif [ "$rc" != "$want" ]; then
        case_fail "exit status $rc, expected $want"
    elif ! cmp -s "$work/before" "$work/after"; then
        case_fail "files changed in its folder: $(diff "$work/before" "$work/after" | grep '^[<>]' | tr '\n' ' ')"
    else
        missing=$(printf '%s\n' "$errs" | while IFS= read -r e; do
            [ -z "$e" ] && continue
            e=$(printf '%s\n' "$e" | sed "s#\\\$R#$R#g")
            grep -qF -- "$e" "$dir/.stderr" || printf '"%s" ' "$e"
        done)
        if [ -n "$missing" ]; then
            case_fail "stderr lacks $missing"
        elif [ -z "$errs" ]; then
            case_fail "the case names no message"
        else
            passed=$((passed + 1))
            echo "ok - $class/$name"
        fi
    fi
}

# selected CLASS NAME: whether the command line picks this case.
selected() {
    [ $# -eq 2 ] || return 0
    [ -z "$picks" ] && return 0
    for p in $picks; do
        [ "$p" = "$1" ] || [ "$p" = "$1/$2" ] && return 0
    done
    return 1
}
picks=$*

flush() {
    if [ -n "$name" ] && selected "$class" "$name"; then
        run_case
    fi
    name= args= input=/dev/null pre= pipe= want=1 errs=
}

for manifest in "$R"/*/cases; do
    class=$(basename "$(dirname "$manifest")")
    C=$R/$class
    case " ${HOSTILE_SKIP:-} " in *" $class "*)
        echo "skip - $class: nabla is built without what it needs"
        continue ;;
    esac
    name=
    flush
    while IFS= read -r line || [ -n "$line" ]; do
        line=$(printf '%s' "$line" | sed 's/^[[:space:]]*//')
        case $line in '' | '#'*) continue ;; esac
        key=${line%% *}
        val=${line#"$key"}
        val=${val# }
        case $key in
            case) flush; name=$val ;;
            run) args=$val ;;
            stdin) input=$(C=$C R=$R eval "echo $val") ;;
            pre) pre=$val ;;
            pipe) pipe=$val ;;
            exit) want=$val ;;
            err) errs="$errs$val
" ;;
            *) echo "not ok - $manifest: unknown line '$line'"; failed=$((failed + 1)) ;;
        esac
    done < "$manifest"
    flush
done

echo "hostile: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
