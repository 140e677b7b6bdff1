#!/bin/sh
# test_init_weights.sh — `nabla train` starting from given weights
# (fine-tuning): --init-weights FILE, a model given as its weights file,
# --init-weights none, and the refusals, on the MLP and the fixture images.
#
# A step with a learning rate of 1e-9 moves no weight by more than about
# 1e-9, so a run of one such step scores what its starting weights score:
# the weights it started from are read off its test loss.
#
# usage: test_init_weights.sh NABLA FIXTURES_DIR SOURCE_ROOT
set -u

. "$(dirname "$0")/lib.sh"
nabla=$(abs "$1")
fixtures=$(abs "$2")
src=$(abs "$3")
test_tmp init-weights

fixture_data "$fixtures" "$tmp/data"
sed "s|/usr/share/datasets/fashion-mnist|$tmp/data|" "$src/examples/models/fashion_mlp.yaml" \
    > "$tmp/mlp.yaml"
# the same layers, the last under another name: a file of other parameters
sed 's/name: logits/name: out/' "$tmp/mlp.yaml" > "$tmp/renamed.yaml"
cp "$src/examples/models/xor.yaml" "$src/examples/models/xor.h5" "$src/examples/models/xor.csv" \
    "$tmp/"

# key=value from the closing line of the last run
value() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$tmp/last.out"; }
# same A B: two losses equal to 4 decimals
same() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-4 && d > -1e-4) }'; }
# ran_same A B: the last run succeeded and scored A, equal to B
ran_same() { [ "$rc" = 0 ] && same "$1" "$2"; }
# apart A B: A and B differ
apart() { ! same "$1" "$2"; }

run train mlp.yaml --epochs 2 --out trained.h5 --no-graph -q
check "the MLP trains two epochs" sh -c '[ '$rc' = 0 ] && [ -s "$1" ]' _ "$tmp/trained.h5"
run eval trained.h5 --data "$tmp/data"
trained=$(sed -n 's/.*test_loss=\([^ ]*\).*/\1/p' "$tmp/last.out")
run train mlp.yaml --epochs 1 --limit 1 --batch 1 --lr 1e-9 --out fresh.h5 --no-graph -q
fresh=$(value test_loss)
check "trained ($trained) and initial ($fresh) weights score apart" \
    apart "$trained" "$fresh"

run train mlp.yaml --init-weights trained.h5 --epochs 1 --limit 1 --batch 1 --lr 1e-9 \
    --out tuned.h5 --no-graph
check "--init-weights: training starts from the file's weights (test loss $(value test_loss))" \
    ran_same "$(value test_loss)" "$trained"
check "--init-weights: a line says which weights training starts from" \
    has "starting from the weights in trained.h5" "$tmp/last.err"
check "--init-weights: the run starts at epoch 1" has "epoch 1/1" "$tmp/last.err"

run train trained.h5 --data "$tmp/data" --epochs 1 --limit 1 --batch 1 --lr 1e-9 \
    --out tuned2.h5 --no-graph
check "a model given as its weights file starts from those weights" \
    ran_same "$(value test_loss)" "$trained"
check "... and says how to start from the initialisers instead" \
    has "starting from the weights in trained.h5 (--init-weights none" "$tmp/last.err"

run train trained.h5 --data "$tmp/data" --init-weights none --epochs 1 --limit 1 --batch 1 \
    --lr 1e-9 --out fresh2.h5 --no-graph -q
check "--init-weights none: the model's initialisers, as from its YAML" \
    ran_same "$(value test_loss)" "$fresh"

run train mlp.yaml --init-weights trained.h5 --epochs 1 --out tuned3.h5 --no-graph -q
check "fine-tuning an epoch at the model's learning rate trains" \
    sh -c '[ '$rc' = 0 ] && [ -s "$1" ]' _ "$tmp/tuned3.h5"

# ---------------------------------------------------------------- refusals
run train renamed.yaml --init-weights trained.h5 --epochs 1 --out bad.h5 --no-graph -q
check "--init-weights of another model's parameters: refused, naming one" \
    sh -c '[ '$rc' = 1 ] && grep -q "^nabla train: --init-weights: .*out" "$1" &&
           [ ! -e "$2" ]' _ "$tmp/last.err" "$tmp/bad.h5"
run train mlp.yaml --init-weights missing.h5 --epochs 1 --out bad.h5 --no-graph -q
check "--init-weights of a missing file: refused, naming it" \
    sh -c '[ '$rc' = 1 ] && grep -q "missing.h5" "$1" && [ ! -e "$2" ]' _ "$tmp/last.err" \
    "$tmp/bad.h5"
run train mlp.yaml --init-weights trained.h5 --resume trained.h5
check "--init-weights with --resume: a usage error" sh -c '[ '$rc' = 2 ]'
run train mlp.yaml --init-weights trained.h5 --resume-weights-only trained.h5
check "--init-weights with --resume-weights-only: a usage error" sh -c '[ '$rc' = 2 ]'

# ---------------------------------------------------------------- streaming
# XOR trained to a small loss, then streamed its four examples at lr 1e-9:
# the stream's mean loss is the trained one's, not the initial weights'.
run train xor.yaml --epochs 1000 --out xor_trained.h5 --no-graph -q
check "XOR trains" sh -c '[ '$rc' = 0 ] && awk -v l="$1" "BEGIN { exit !(l < 0.02) }"' \
    _ "$(value loss)"
run train xor.yaml --stream --lr 1e-9 --out xs_fresh.h5 -q < "$tmp/xor.csv"
stream_fresh=$(value mean_loss)
run train xor.yaml --stream --init-weights xor_trained.h5 --lr 1e-9 --out xs_tuned.h5 < "$tmp/xor.csv"
check "--stream starts from --init-weights (mean loss $(value mean_loss), from the initialisers $stream_fresh)" \
    sh -c '[ '$rc' = 0 ] && awk -v a="$1" -v b="$2" "BEGIN { exit !(a < 0.02 && b > 0.1) }"' \
    _ "$(value mean_loss)" "$stream_fresh"
check "--stream says which weights it starts from" \
    has "starting from the weights in xor_trained.h5" "$tmp/last.err"

echo "init_weights: $passed passed, $failed failed"
[ "$failed" = 0 ]
