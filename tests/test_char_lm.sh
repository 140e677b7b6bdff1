#!/bin/sh
# test_char_lm.sh EXE FIXTURES — examples/char_lm on a few KB of text with a
# tiny model (tests/fixtures/char_lm_tiny.yaml): 300 steps of truncated BPTT
# bring the held-out bits per character below a unigram model of the
# training text and below log2 of the vocabulary (--check; 2 steps do not,
# so the check can fail); sampling from the saved weights is the same for a
# seed and differs across seeds; a temperature near 0 draws the argmax
# path (--greedy); bad temperatures, prompts and files are refused, named.
. "$(dirname "$0")/lib.sh"
nabla=$(abs "$1")
fixtures=$(abs "$2")
test_tmp char_lm
tiny="--model $fixtures/char_lm_tiny.yaml --data $fixtures/char_lm.txt --quiet"

run $tiny --steps 300 --check --save w.h5 --length 40
check "300 steps: trained, checked and sampled" [ "$rc" = 0 ]
check "held-out bits/char below the unigram's" has "is below the unigram" "$tmp/last.out"
check "the weights file is written" [ -s "$tmp/w.h5" ]

run $tiny --steps 2 --check --save w2.h5 --length 0
check "2 steps do not pass the check" [ "$rc" = 1 ]
check "... and say so" has "is NOT below" "$tmp/last.out"

run --load w.h5 --seed 5 --length 80 --temperature 1; cp "$tmp/last.out" "$tmp/s5a"
run --load w.h5 --seed 5 --length 80 --temperature 1; cp "$tmp/last.out" "$tmp/s5b"
run --load w.h5 --seed 6 --length 80 --temperature 1; cp "$tmp/last.out" "$tmp/s6"
check "the same seed draws the same text" cmp -s "$tmp/s5a" "$tmp/s5b"
check "another seed draws another text" sh -c "! cmp -s '$tmp/s5a' '$tmp/s6'"
check "the sample starts with the prompt" [ "$(head -c 4 "$tmp/s5a")" = "The " ]
check "... and has its length (prompt, 80, newline)" [ "$(wc -c < "$tmp/s5a")" = 85 ]

run --load w.h5 --greedy --length 60 --prompt "a"; cp "$tmp/last.out" "$tmp/greedy"
run --load w.h5 --temperature 0.001 --seed 9 --length 60 --prompt "a"
check "temperature 0.001 draws the argmax path" cmp -s "$tmp/greedy" "$tmp/last.out"

run --load w.h5 --temperature 0
check "temperature 0 is refused" [ "$rc" = 2 ]
check "... saying to use --greedy" has "temperature 0 must be > 0 (use --greedy" "$tmp/last.err"
run --load w.h5 --temperature -1
check "a negative temperature is refused" has "temperature -1 must be > 0" "$tmp/last.err"
run --load w.h5 --prompt "$(printf 'ab\001')"
check "a prompt byte outside the vocabulary is refused" \
    has "the prompt's byte 0x01 (at 2) is not in the vocabulary" "$tmp/last.err"
run --load w.h5 --prompt ""
check "an empty prompt is refused" has "prompt must have at least one character" "$tmp/last.err"
run --load missing.h5
check "a missing weights file is refused, named" has "missing.h5" "$tmp/last.err"
check "... and nothing is sampled" [ ! -s "$tmp/last.out" ]
run $tiny --data "$tmp/nowhere"
check "missing text is refused, named" has "nowhere does not exist" "$tmp/last.err"
printf 'short text' > "$tmp/short.txt"
run --model "$fixtures/char_lm_tiny.yaml" --data "$tmp/short.txt"
check "too little text for the streams is refused" has "too few for 8 streams" "$tmp/last.err"

echo "char_lm: $passed passed, $failed failed"
[ "$failed" = 0 ]
