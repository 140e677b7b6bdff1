#!/bin/sh
# test_stream.sh — `nabla train --stream`: a network learns from examples
# piped to it, as they arrive. A 2 → 8 tanh → 2 softmax model learns the
# quadrant XOR (class 1 where x1·x2 > 0) from a CSV stream made with awk,
# and from the same examples as raw float32 records (made with python3's
# standard library): Q falls from the first progress line to the last, the
# weights file is written and readable. The first report appears while the
# producer still holds back the rest (nothing waits for the end of input).
# Malformed input (a short line, a word, a bad class label, a cut-off
# record, no examples at all) is refused with its line or record number,
# exit status 1 and no weights file; misused options are usage errors (2).
#
# usage: test_stream.sh NABLA
set -u

. "$(dirname "$0")/lib.sh"
nabla=$(abs "$1")
test_tmp stream

# stream INPUT ARGS...: nabla train --stream in $tmp reading INPUT; stdout
# and stderr to last.out/last.err (all stderr kept in all.err), status in $rc.
stream() {
    input=$1; shift
    (cd "$tmp" && "$nabla" train "$@" < "$input") > "$tmp/last.out" 2> "$tmp/last.err"
    rc=$?
    cat "$tmp/last.err" >> "$tmp/all.err"
}
# The Q of the first and the last progress line of last.err.
first_q() { awk '$1 == "examples" { for (i = 1; i < NF; i++) if ($i == "Q") { print $(i + 1); exit } }' "$tmp/last.err"; }
last_q() { awk '$1 == "examples" { for (i = 1; i < NF; i++) if ($i == "Q") q = $(i + 1) } END { print q }' "$tmp/last.err"; }
# q_fell: the last Q is below a third of the first.
q_fell() { awk -v a="$(first_q)" -v b="$(last_q)" 'BEGIN { exit !(a != "" && b != "" && b < a / 3) }'; }
# err_is TEXT: stderr is exactly one line, equal to TEXT.
err_is() { [ "$(wc -l < "$tmp/last.err" | tr -d ' ')" = 1 ] && [ "$(cat "$tmp/last.err")" = "$1" ]; }

# ---------------------------------------------------------------- model and data
cat > "$tmp/xor2.yaml" <<'EOF'
nabla: 1
name: xor2
input: {x: [2]}
layers:
  - dense: {units: 8, activation: tanh}
  - dense: {units: 2, name: logits}
loss: softmax_cross_entropy
optimizer: {sgd: {lr: 0.1}}
train: {seed: 1}
EOF
# 4000 points of [-1, 1]², away from the axes; label 1 where x1·x2 > 0.
awk -v n=4000 'BEGIN {
    srand(7)
    for (i = 0; i < n; i++) {
        do { a = 2 * rand() - 1; b = 2 * rand() - 1 } while (a * a < 0.01 || b * b < 0.01)
        printf "%.5f,%.5f,%d\n", a, b, (a * b > 0)
    }
}' > "$tmp/xor.csv"
check "awk made 4000 examples" [ "$(wc -l < "$tmp/xor.csv" | tr -d ' ')" = 4000 ]

# ---------------------------------------------------------------- help
(cd "$tmp" && "$nabla" train --help) > "$tmp/last.out" 2> "$tmp/last.err"
check "train --help documents --stream, --format, --stream-batch, --report" \
    sh -c 'grep -q -- "--stream " "$1" && grep -q -- "--format csv|f32" "$1" &&
           grep -q -- "--stream-batch N" "$1" && grep -q -- "--report N" "$1" &&
           grep -q "little-endian float32" "$1"' _ "$tmp/last.out"

# ---------------------------------------------------------------- CSV, one example per step
stream "$tmp/xor.csv" xor2.yaml --stream --report 500 --out w.h5 --csv log.csv
check "csv stream: exit 0" [ "$rc" = 0 ]
check "csv stream: 8 progress lines on stderr" \
    [ "$(grep -c '^examples [0-9]* *steps' "$tmp/last.err")" = 8 ]
check "csv stream: summary counts 4000 examples in 4000 steps" \
    sh -c 'grep -q "^model=xor2 examples=4000 steps=4000 batch=1 q=" "$1"' _ "$tmp/last.out"
check "csv stream: Q falls below a third (first $(first_q), last $(last_q))" q_fell
check "csv stream: weights file written" [ -s "$tmp/w.h5" ]
(cd "$tmp" && "$nabla" inspect w.h5) > "$tmp/last.out" 2> "$tmp/last.err"
check "csv stream: nabla inspect reads the weights (dense1/w [2,8])" \
    sh -c 'grep -q "dense1/w *\[2,8\]" "$1"' _ "$tmp/last.out"
check "csv stream: --csv log has a header and 8 rows" \
    sh -c 'head -1 "$1" | grep -q "^examples,steps,loss,q,seconds$" && [ "$(wc -l < "$1")" = 9 ]' \
    _ "$tmp/log.csv"

# ---------------------------------------------------------------- CSV, minibatches of 4
stream "$tmp/xor.csv" xor2.yaml --stream --stream-batch 4 --lr 0.3 --report 1000 --out w4.h5
check "csv stream, batch 4: 1000 steps" \
    sh -c 'grep -q "examples=4000 steps=1000 batch=4 " "$1"' _ "$tmp/last.out"
check "csv stream, batch 4: Q falls (first $(first_q), last $(last_q))" q_fell

# A last batch cut short by the end of input is a step of its own.
head -10 "$tmp/xor.csv" > "$tmp/ten.csv"
stream "$tmp/ten.csv" xor2.yaml --stream --stream-batch 4 --out w10.h5
check "10 examples in batches of 4: 3 steps" \
    sh -c '[ '$rc' = 0 ] && grep -q "examples=10 steps=3 " "$1"' _ "$tmp/last.out"

# Blank lines, comments, spaces and CRLF line ends are fine.
printf '# x1, x2, class\n\n 0.5 , 0.5 , 1 \r\n-0.5,0.5,0\r\n' > "$tmp/loose.csv"
stream "$tmp/loose.csv" xor2.yaml --stream --out loose.h5
check "comments, blank lines, spaces and CRLF are read" \
    sh -c '[ '$rc' = 0 ] && grep -q "examples=2 " "$1"' _ "$tmp/last.out"

# --limit stops an endless stream.
yes 0.5,-0.5,0 | (cd "$tmp" && "$nabla" train xor2.yaml --stream --limit 300 --out lim.h5) \
    > "$tmp/last.out" 2> "$tmp/last.err"
check "--limit 300 ends an endless stream after 300 examples" \
    sh -c 'grep -q "examples=300 steps=300 " "$1"' _ "$tmp/last.out"

# ---------------------------------------------------------------- learning as examples arrive
# The producer writes 1000 lines, then waits (up to 60 s) for the report of
# the 1000th example before writing the rest: a reader that waited for the
# end of input would never report, and the check fails.
mkfifo "$tmp/fifo"
(
    head -1000 "$tmp/xor.csv"
    i=0
    while [ $i -lt 600 ] && ! grep -q '^examples 1000 ' "$tmp/live.err" 2>/dev/null; do
        sleep 0.1; i=$((i + 1))
    done
    if grep -q '^examples 1000 ' "$tmp/live.err" 2>/dev/null; then echo seen > "$tmp/live.seen"; fi
    tail -n +1001 "$tmp/xor.csv"
) > "$tmp/fifo" &
producer=$!
(cd "$tmp" && "$nabla" train xor2.yaml --stream --report 1000 --out live.h5 < fifo) \
    > "$tmp/live.out" 2> "$tmp/live.err"
live_rc=$?
wait $producer
check "the first report came while the producer held back the rest" [ -f "$tmp/live.seen" ]
check "the live stream then ran to its end (4000 examples)" \
    sh -c '[ '$live_rc' = 0 ] && grep -q "examples=4000 " "$1"' _ "$tmp/live.out"

# ---------------------------------------------------------------- f32 records
if command -v python3 > /dev/null 2>&1; then
    python3 - "$tmp/xor.csv" "$tmp/xor.f32" <<'EOF'
import struct, sys
with open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst:
    for line in src:
        dst.write(struct.pack("<3f", *map(float, line.split(","))))
EOF
    check "python3 wrote 4000 records of 3 float32" [ "$(wc -c < "$tmp/xor.f32" | tr -d ' ')" = 48000 ]
    stream "$tmp/xor.f32" xor2.yaml --stream --format f32 --report 500 --out wf.h5
    check "f32 stream: exit 0, 4000 examples" \
        sh -c '[ '$rc' = 0 ] && grep -q "examples=4000 steps=4000 " "$1"' _ "$tmp/last.out"
    check "f32 stream: Q falls (first $(first_q), last $(last_q))" q_fell
    check "f32 stream: weights file written" [ -s "$tmp/wf.h5" ]
    # The same examples as CSV and as records: the same run.
    q_f32=$(grep -o 'q=[0-9.]*' "$tmp/last.out")
    q_csv=$( (cd "$tmp" && "$nabla" train xor2.yaml --stream --quiet --out w.h5 < xor.csv) |
             grep -o 'q=[0-9.]*')
    check "f32 and csv streams of the same examples end with the same Q ($q_f32, $q_csv)" \
        [ "${q_f32:-none}" = "$q_csv" ]
    head -c 40 "$tmp/xor.f32" > "$tmp/cut.f32"
    stream "$tmp/cut.f32" xor2.yaml --stream --format f32 --out cut.h5
    check "a record cut short is refused naming it, exit 1, no weights" sh -c \
        '[ '$rc' = 1 ] && [ ! -e "$2" ]' _ "$tmp/last.err" "$tmp/cut.h5"
    check "... with the message 'stdin record 4: the input ends after 4 of its 12 bytes'" \
        err_is "nabla train: stdin record 4: the input ends after 4 of its 12 bytes (3 float32 values per record)"
else
    echo "ok - f32 checks skipped: no python3 # SKIP"
fi

# ---------------------------------------------------------------- a short last batch
# 9 examples in steps of 4 through batch norm: the leftover example cannot
# be trained on alone (one value per channel); it is skipped and said so,
# and the weights of the 8 are written.
cat > "$tmp/bn.yaml" <<'EOF2'
nabla: 1
name: bn
input: {x: [2]}
layers:
  - dense: {units: 8}
  - batchnorm
  - relu
  - dense: {units: 2, name: logits}
loss: softmax_cross_entropy
optimizer: {sgd: {lr: 0.1}}
train: {seed: 1}
EOF2
head -9 "$tmp/xor.csv" > "$tmp/nine.csv"
rm -f "$tmp/bn.h5"
stream "$tmp/nine.csv" bn.yaml --stream --stream-batch 4 --out bn.h5
check "--stream-batch 4 on 9 examples with batch norm: exit 0, 8 trained, weights written" \
    sh -c '[ '$rc' = 0 ] && grep -q "^model=bn examples=8 steps=2 batch=4 " "$1" && [ -s "$2/bn.h5" ]' \
    _ "$tmp/last.out" "$tmp"
check "the skipped last example is said so, with the reason" \
    grep -q "^nabla train: skipped the last 1 example (not trained on): .*more than one value per channel" \
    "$tmp/last.err"

# ---------------------------------------------------------------- malformed input
# Line 17 holds two numbers instead of three.
{ head -16 "$tmp/xor.csv"; echo "0.5,0.25"; tail -n +17 "$tmp/xor.csv"; } > "$tmp/short.csv"
stream "$tmp/short.csv" xor2.yaml --stream --out bad.h5
check "a short line: exit 1" [ "$rc" = 1 ]
check "a short line: 'stdin line 17: expected 3 numbers, found 2'" \
    err_is "nabla train: stdin line 17: expected 3 numbers, found 2 (2 inputs and 1 target per example)"
check "a short line: no weights file" [ ! -e "$tmp/bad.h5" ]

printf '0.5,0.5,1\n0.5,abc,1\n' > "$tmp/word.csv"
stream "$tmp/word.csv" xor2.yaml --stream --out bad.h5
check "a word: exit 1" [ "$rc" = 1 ]
check "... 'stdin line 2: field 2 is not a number'" \
    err_is "nabla train: stdin line 2: field 2 is not a number: 'abc'"

printf '0.5,0.5,1\n0.5,0.5,1\n0.5,-0.5,2\n' > "$tmp/label.csv"
stream "$tmp/label.csv" xor2.yaml --stream --out bad.h5
check "class 2 of a 2-class model: exit 1" [ "$rc" = 1 ]
check "... 'stdin line 3: target 2 is not a class index 0..1'" \
    err_is "nabla train: stdin line 3: target 2 is not a class index 0..1 (the model's loss reads class indices)"

printf '0.5,nan,1\n' > "$tmp/nan.csv"
stream "$tmp/nan.csv" xor2.yaml --stream --out bad.h5
check "nan is refused" sh -c '[ '$rc' = 1 ] && grep -q "line 1: field 2 is not a finite number" "$1"' \
    _ "$tmp/last.err"

: > "$tmp/empty.csv"
stream "$tmp/empty.csv" xor2.yaml --stream --out bad.h5
check "no examples: exit 1" [ "$rc" = 1 ]
check "... 'no examples on stdin'" \
    err_is "nabla train: no examples on stdin (CSV lines: 3 numbers per example)"
check "no weights file after any refused input" [ ! -e "$tmp/bad.h5" ]

# ---------------------------------------------------------------- usage errors
stream "$tmp/xor.csv" xor2.yaml --stream --format xml
check "--format xml: exit 2" sh -c '[ '$rc' = 2 ] && grep -q "wants csv or f32" "$1"' _ "$tmp/last.err"
stream "$tmp/xor.csv" xor2.yaml --report 10
check "--report without --stream: exit 2" \
    sh -c '[ '$rc' = 2 ] && grep -q "applies only with --stream" "$1"' _ "$tmp/last.err"
stream "$tmp/xor.csv" xor2.yaml --stream --epochs 3
check "--epochs with --stream: exit 2" \
    sh -c '[ '$rc' = 2 ] && grep -q "does not apply with --stream" "$1"' _ "$tmp/last.err"
stream "$tmp/xor.csv" xor2.yaml --stream --out /nonexistent-dir/w.h5
check "an unwritable --out is refused before reading: exit 1" \
    sh -c '[ '$rc' = 1 ] && grep -q "does not exist" "$1"' _ "$tmp/last.err"

# ---------------------------------------------------------------- sanitizers
if [ -f "$tmp/all.err" ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/all.err"; then
    fail "sanitizer reports in stderr"
else
    ok "no sanitizer reports"
fi

echo "# $passed passed, $failed failed"
[ "$failed" = 0 ]
