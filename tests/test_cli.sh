#!/bin/sh
# test_cli.sh — the `nabla` command end to end, as a user runs it, on the
# 500 + 200 Fashion-MNIST images in tests/fixtures: train (weights, graph,
# CSV, checkpoint, resume, the one-line-per-epoch progress of a pipe), eval,
# inspect, dot, predict and grad (checked with h5py when /usr/bin/python3 has
# it), exit statuses and one-line error messages.
#
# usage: test_cli.sh NABLA FIXTURES_DIR SOURCE_ROOT [CNN_BN_PROG RESIDUAL_PROG]
set -u

. "$(dirname "$0")/lib.sh"
nabla=$(abs "$1")
fixtures=$(abs "$2")
src=$(abs "$3")
test_tmp cli

# check DESCRIPTION COMMAND...: passes when the command succeeds.
# run ARGS...: nabla in $tmp, stdout/stderr to last.out/last.err, status in $rc.
# Every stderr is also kept in all.err, scanned for sanitizer reports at the end.
# one_line CMD: stderr is exactly one line starting "nabla CMD: ".
one_line() { [ "$(lines "$tmp/last.err")" = 1 ] && head -1 "$tmp/last.err" | grep -q "^nabla $1: "; }

# ---------------------------------------------------------------- data and models
fixture_data "$fixtures" "$tmp/data"
for m in lenet5 fashion_mlp fashion_mlp_cg fashion_lstm; do
    sed "s|/usr/share/datasets/fashion-mnist|$tmp/data|" "$src/examples/models/$m.yaml" > "$tmp/$m.yaml"
    check "$m.yaml copy reads the fixture data" grep -q "$tmp/data" "$tmp/$m.yaml"
done

# ---------------------------------------------------------------- help and version
run --help
check "nabla --help exits 0 and lists the commands" \
    sh -c '[ '$rc' = 0 ] && grep -q train "$1" && grep -q inspect "$1"' _ "$tmp/last.out"
run --version
check "nabla --version" sh -c '[ '$rc' = 0 ] && grep -q "^nabla [0-9]" "$1"' _ "$tmp/last.out"
for c in train eval predict grad dot inspect; do
    run "$c" --help
    check "nabla $c --help" sh -c '[ '$rc' = 0 ] && grep -q "^usage: nabla '$c'" "$1"' _ "$tmp/last.out"
done

# ---------------------------------------------------------------- train
run train lenet5.yaml --epochs 1 --limit 200 --batch 50 --out w.h5 --graph g.svg --csv log.csv \
    --checkpoint ck.h5
cp "$tmp/last.out" "$tmp/train1.out"
cp "$tmp/last.err" "$tmp/train1.err"
check "train exits 0" [ "$rc" = 0 ]
check "train writes weights, checkpoint, graph and CSV" \
    sh -c 'cd "$1" && [ -s w.h5 ] && [ -s ck.h5 ] && [ -s g.svg ] && [ -s log.csv ]' _ "$tmp"
check "the graph is SVG" grep -q "<svg" "$tmp/g.svg"
check "CSV: a header and one row per epoch" \
    sh -c '[ "$(wc -l < "$1" | tr -d " ")" = 2 ] &&
           head -1 "$1" | grep -qx "epoch,steps,examples,loss,q,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds"' \
    _ "$tmp/log.csv"
check "CSV: no validation set, val_loss and val_acc are nan" \
    sh -c 'sed -n 2p "$1" | awk -F, "{ exit !(\$7 == \"nan\" && \$8 == \"nan\" && \$10 != \"nan\") }"' \
    _ "$tmp/log.csv"
check "summary line on stdout" \
    sh -c 'grep -q "^model=lenet5 epochs=1 .*test_acc=0\.[0-9]* .*epoch_s=.* weights=w.h5 graph=g.svg" "$1"' \
    _ "$tmp/train1.out"
check "piped progress: one line per epoch" \
    sh -c '[ "$(grep -c "^epoch 1/1  loss .* Q .* train_acc .* test_acc .* s$" "$1")" = 1 ] &&
           [ "$(wc -l < "$1" | tr -d " ")" = 1 ]' _ "$tmp/train1.err"
check "piped progress: no bar, no carriage returns" sh -c '! grep -q "$(printf "\r")" "$1"' _ "$tmp/train1.err"

run train lenet5.yaml --epochs 2 --limit 100 --batch 50 --out w2.h5 --graph g2.dot --quiet
check "--quiet: no progress lines, summary still printed" \
    sh -c '[ '$rc' = 0 ] && [ ! -s "$1" ] && grep -q "epochs=2" "$2"' _ "$tmp/last.err" "$tmp/last.out"

# ---------------------------------------------------------------- resume
run train lenet5.yaml --epochs 2 --limit 200 --batch 50 --resume ck.h5 --checkpoint ck.h5 \
    --out w3.h5 --graph g3.svg --csv log.csv
check "resume exits 0" [ "$rc" = 0 ]
check "resume trains epoch 2 only" \
    sh -c 'grep -q "^epoch 2/2 " "$1" && ! grep -q "^epoch 1/2" "$1"' _ "$tmp/last.err"
check "resume: 2 epochs of lines over both runs" \
    sh -c '[ "$(cat "$1" "$2" | grep -c "^epoch [12]/[12] ")" = 2 ]' _ "$tmp/train1.err" "$tmp/last.err"
check "resume: summary says 2 epochs" grep -q "epochs=2" "$tmp/last.out"
check "resume appends to the CSV log, under its one header" \
    sh -c '[ "$(wc -l < "$1" | tr -d " ")" = 3 ] && [ "$(grep -c "^epoch," "$1")" = 1 ]' _ "$tmp/log.csv"

# ---------------------------------------------------------------- a recurrent model
# fashion_lstm (images read row by row into an LSTM) on the 500 fixture
# images: it trains, well above chance (0.1) after three epochs, and its
# weights file carries PyTorch's parameter names.
run train fashion_lstm.yaml --epochs 3 --out lstm.h5 --no-graph
check "fashion_lstm trains on the fixture above chance" \
    sh -c '[ '$rc' = 0 ] && grep -Eq "^model=fashion_lstm epochs=3 .*test_acc=(0\.[3-9]|1\.)" "$1"' \
    _ "$tmp/last.out"
run inspect lstm.h5
check "its weights are named as PyTorch names them" \
    sh -c '[ '$rc' = 0 ] && grep -q "lstm1/weight_ih_l0" "$1" && grep -q "lstm1/bias_hh_l0" "$1"' \
    _ "$tmp/last.out"

# ---------------------------------------------------------------- validation and early stopping
# fashion_mlp on 200 fixture images, a quarter held out for validation.
run train fashion_mlp.yaml --epochs 3 --limit 200 --validation 0.25 --csv vlog.csv --out v.h5 \
    --graph v.svg
check "--validation: train exits 0" [ "$rc" = 0 ]
check "--validation: says how many examples are held out, and how they were chosen" \
    grep -q "^validation: 50 of the 200 training examples held out (fraction 0.25, chosen by seed 1)$" \
    "$tmp/last.err"
check "--validation: epoch lines show the mean loss beside Q, and val_loss, val_acc" \
    sh -c '[ "$(grep -c "^epoch [123]/3  loss [0-9.]*  Q [0-9.]*  train_acc [0-9.]*  val_loss [0-9.]*  val_acc [0-9.]*.*  test_acc " "$1")" = 3 ]' \
    _ "$tmp/last.err"
check "--validation: the summary trains on 150 and validates on 50" \
    grep -q "^model=fashion_mlp epochs=3 train_n=150 val_n=50 .* val_acc=0\.[0-9]* val_loss=[0-9.]* best_epoch=[123] " \
    "$tmp/last.out"
check "--validation: CSV rows hold val_loss and val_acc, 150 examples an epoch" \
    sh -c '[ "$(wc -l < "$1" | tr -d " ")" = 4 ] && awk -F, "NR > 1 && (\$3 != 150 || \$7 == \"nan\" || \$8 == \"nan\" || \$7 <= 0) { bad = 1 } END { exit bad }" "$1"' \
    _ "$tmp/vlog.csv"

# Early stopping with patience 1 over up to 20 epochs: where it stopped, the
# epoch kept, and the weights saved are all read back from the CSV and eval.
run train fashion_mlp.yaml --epochs 20 --validation 0.2 --patience 1 --csv elog.csv --out e.h5 \
    --graph e.svg --checkpoint eck.h5
cp "$tmp/last.out" "$tmp/early.out"
check "--patience: train exits 0" [ "$rc" = 0 ]
stop=$(($(lines "$tmp/elog.csv") - 1))
best=$(awk -F, 'NR > 1 && (b == "" || $7 < v) { v = $7; b = $1 } END { print b }' "$tmp/elog.csv")
check "--patience 1: stopped early, one epoch after the best ($best, stopped after $stop)" \
    sh -c '[ "$1" -lt 20 ] && [ "$1" = $(($2 + 1)) ]' _ "$stop" "$best"
check "--patience: the message says where it stopped and which epoch's weights were kept" \
    grep -q "^early stopping: stopped after epoch $stop of 20 (val_loss did not improve for 1 epochs); kept the weights of epoch $best, the best (val_loss [0-9.]*)$" \
    "$tmp/last.err"
check "--patience: summary best_epoch=$best, epochs=$stop" \
    grep -q "epochs=$stop .*best_epoch=$best " "$tmp/early.out"
best_acc=$(awk -F, -v b="$best" '$1 == b { printf "%.4f", $10 }' "$tmp/elog.csv")
run eval e.h5
check "--patience: the weights file holds the best epoch's weights (test_acc $best_acc)" \
    grep -Eq "test_acc=$best_acc( |$)" "$tmp/last.out"
check "--patience: the summary's test_acc is theirs too" grep -q "test_acc=$best_acc " "$tmp/early.out"
run train fashion_mlp.yaml --epochs 20 --validation 0.2 --patience 1 --out e2.h5 --graph e.svg \
    --resume eck.h5
check "--patience: resuming a stopped run keeps the same best weights" \
    sh -c '[ '$rc' = 0 ] && grep -q "best_epoch=$1 .*test_acc=$2 " "$3"' _ "$best" "$best_acc" "$tmp/last.out"
# The run checkpointed at the best epoch (before patience ran out), resumed.
run train fashion_mlp.yaml --epochs "$best" --validation 0.2 --patience 1 --out e3.h5 --graph e.svg \
    --checkpoint eck3.h5 --quiet
run train fashion_mlp.yaml --epochs 20 --validation 0.2 --patience 1 --out e3.h5 --graph e.svg \
    --resume eck3.h5
check "--patience: a run resumed from its best epoch stops at the same epoch with the same weights" \
    sh -c '[ '$rc' = 0 ] && grep -q "^model=fashion_mlp epochs=$1 .*best_epoch=$2 .*test_acc=$3 " "$4"' \
    _ "$stop" "$best" "$best_acc" "$tmp/last.out"
run train fashion_mlp.yaml --epochs 20 --validation 0.2 --patience 1 --no-restore-best \
    --csv nlog.csv --out n.h5 --graph n.svg
last_acc=$(awk -F, 'END { printf "%.4f", $10 }' "$tmp/nlog.csv")
check "--no-restore-best: the last epoch's weights are kept and said so" \
    sh -c '[ '$rc' = 0 ] && grep -q "kept the weights of epoch $1, the last (--no-restore-best; the best was epoch $2" "$3" &&
           grep -q "test_acc=$4 " "$5"' _ "$stop" "$best" "$tmp/last.err" "$last_acc" "$tmp/last.out"
sed 's|^train: {\(.*\)}$|train: {\1, validation: 0.2, early_stopping: {patience: 1}}|' \
    "$tmp/fashion_mlp.yaml" > "$tmp/mlp_es.yaml"
run train mlp_es.yaml --epochs 20 --out es.h5 --graph es.svg
check "the model file's validation and early_stopping do the same" \
    sh -c '[ '$rc' = 0 ] && grep -q "^model=fashion_mlp epochs=$1 .*best_epoch=$2 .*test_acc=$3 " "$4"' \
    _ "$stop" "$best" "$best_acc" "$tmp/last.out"

# A checkpoint resumes only the model and optimiser that wrote it: another
# activation or optimiser kind is refused, naming it, with nothing written;
# --resume-weights-only takes the weights and starts the optimiser afresh;
# a run that already finished says so and writes nothing.
sed 's/activation: relu/activation: tanh/' "$tmp/fashion_mlp.yaml" > "$tmp/mlp_tanh.yaml"
sed 's/{sgd: {lr: 0.02, momentum: 0.9}}/{adam: {lr: 0.001}}/' "$tmp/fashion_mlp.yaml" > "$tmp/mlp_adam.yaml"
run train mlp_adam.yaml --epochs 1 --limit 100 --checkpoint ckr.h5 --out wr.h5 --graph gr.svg -q
check "resume checks: an adam checkpoint to start from" sh -c '[ '$rc' = 0 ] && [ -s "$1/ckr.h5" ]' _ "$tmp"
expect_refused_resume() { # MODEL TEXT
    rm -f "$tmp/wr2.h5"
    run train "$1" --epochs 2 --limit 100 --resume ckr.h5 --out wr2.h5 --graph gr.svg -q
    [ "$rc" = 1 ] && one_line train && has "$2" "$tmp/last.err" && [ ! -e "$tmp/wr2.h5" ]
}
expect_refused_resume_of() { # CHECKPOINT TEXT
    rm -f "$tmp/wr2.h5"
    run train mlp_adam.yaml --epochs 2 --limit 100 --resume "$1" --out wr2.h5 --graph gr.svg -q
    [ "$rc" = 1 ] && one_line train && has "$2" "$tmp/last.err" && [ ! -e "$tmp/wr2.h5" ]
}
check "resume refuses adam state for an sgd model, naming both" expect_refused_resume \
    fashion_mlp.yaml "resuming: ckr.h5: checkpoint has adam state (m, v); this model trains with sgd"
sed 's/{sgd: {lr: 0.02, momentum: 0.9}}/{adam: {lr: 0.001}}/' "$tmp/mlp_tanh.yaml" > "$tmp/mlp_adam_tanh.yaml"
check "resume refuses a relu checkpoint for a tanh model, naming the layer" expect_refused_resume \
    mlp_adam_tanh.yaml "different model: in layer 'dense1' its model computes max(dense1/add, 0) \[N,256\]; this model computes tanh(dense1/add) \[N,256\]"
run train fashion_mlp.yaml --epochs 2 --limit 100 --resume-weights-only ckr.h5 --out wr2.h5 --graph gr.svg
check "--resume-weights-only: an sgd model goes on from adam's weights" \
    sh -c '[ '$rc' = 0 ] && grep -q "weights only: the optimiser starts afresh" "$1" &&
           grep -q "^epoch 2/2 " "$1" && ! grep -q "^epoch 1/2" "$1" && [ -s "$2/wr2.h5" ]' \
    _ "$tmp/last.err" "$tmp"
run train mlp_adam_tanh.yaml --epochs 2 --limit 100 --resume-weights-only ckr.h5 --out wr3.h5 -q
check "--resume-weights-only still refuses another architecture" \
    sh -c '[ '$rc' = 1 ] && grep -q "layer .dense1." "$1" && [ ! -e "$2/wr3.h5" ]' _ "$tmp/last.err" "$tmp"
# Every field of a checkpoint's state is checked before the resume: a NaN
# in Adam's m and an optimiser step count above the training steps are
# each refused, naming the field and its value, with nothing written.
if /usr/bin/python3 -c 'import h5py, numpy' 2> /dev/null; then
    /usr/bin/python3 - "$tmp" <<'EOF_PY'
import shutil, sys, h5py, numpy as np
d = sys.argv[1]
shutil.copy(d + "/ckr.h5", d + "/ck_nan.h5")
with h5py.File(d + "/ck_nan.h5", "r+") as f:
    f["optimizer/dense1/w/slot0"][0, 5] = np.nan
shutil.copy(d + "/ckr.h5", d + "/ck_steps.h5")
with h5py.File(d + "/ck_steps.h5", "r+") as f:
    f["train"].attrs["optimizer_steps"] = np.int64(f["train"].attrs["global_step"] + 1)
EOF_PY
    check "resume refuses a NaN in the optimiser state, naming the dataset and element" \
        expect_refused_resume_of ck_nan.h5 \
        "resuming: ck_nan.h5: /optimizer/dense1/w/slot0: the value at \[0, 5\] is nan; an optimiser's state must be finite"
    check "resume refuses more optimiser steps than training steps" expect_refused_resume_of \
        ck_steps.h5 "resuming: ck_steps.h5: /train: attribute 'optimizer_steps' is 3; it must be an integer from 0 to 2"
else
    echo "skip - broken checkpoints: /usr/bin/python3 has no h5py to make them"
fi
run train mlp_adam.yaml --resume ckr.h5 --resume-weights-only ckr.h5
check "--resume and --resume-weights-only together: a usage error" sh -c '[ '$rc' = 2 ]'
cp "$tmp/wr.h5" "$tmp/wr.before"
run train mlp_adam.yaml --epochs 1 --limit 100 --resume ckr.h5 --out wr.h5 --graph gr.svg
check "resuming a finished run says so, exits 0 and leaves the weights alone" \
    sh -c '[ '$rc' = 0 ] && [ "$(wc -l < "$1" | tr -d " ")" = 1 ] &&
           grep -q "^nabla train: ckr.h5 already finished epoch 1 of 1: nothing to train" "$1" &&
           [ ! -s "$2" ] && cmp -s "$3/wr.h5" "$3/wr.before"' _ "$tmp/last.err" "$tmp/last.out" "$tmp"
# It decides before reading the data or writing anything: no CSV log, no
# drawing, no "validation:" line.
run train mlp_adam.yaml --epochs 1 --limit 100 --resume ckr.h5 --out wr.h5 --graph fin.svg \
    --csv fin.csv --validation 0.2
check "resuming a finished run creates no CSV log or drawing and reads no data" \
    sh -c '[ '$rc' = 0 ] && [ "$(wc -l < "$1" | tr -d " ")" = 1 ] && grep -q "already finished" "$1" &&
           [ ! -e "$2/fin.csv" ] && [ ! -e "$2/fin.svg" ]' _ "$tmp/last.err" "$tmp"
# Resuming appends to a CSV log only under its own header and after the
# checkpoint's epoch; anything else is refused before training, the file
# and the weights untouched.
expect_refused_csv() { # CSV TEXT
    cp "$tmp/$1" "$tmp/csv.before"
    rm -f "$tmp/wr4.h5"
    run train mlp_adam.yaml --epochs 3 --limit 100 --resume ckr.h5 --out wr4.h5 --csv "$1" -q
    [ "$rc" = 1 ] && one_line train && has "$2" "$tmp/last.err" && [ ! -e "$tmp/wr4.h5" ] &&
        cmp -s "$tmp/$1" "$tmp/csv.before"
}
printf 'id,label\n1,7\n' > "$tmp/other.csv"
check "resume refuses to append to a CSV of other columns, naming both" expect_refused_csv \
    other.csv "CSV log 'other.csv' starts 'id,label', not nabla train's columns (epoch,steps,examples,loss,q,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds)"
cp "$tmp/log.csv" "$tmp/ahead.csv" # epochs 1 and 2; ckr.h5 is at epoch 1
check "resume refuses a CSV log already past the checkpoint's epoch" expect_refused_csv \
    ahead.csv "CSV log 'ahead.csv' already has rows up to epoch 2 but ckr.h5 is at epoch 1: this run would log epoch 2 again; remove that row or give --csv another file"

# A run killed mid-write leaves its temporary (.<target>.tmp-<pid>) beside
# the target; the next run's saves remove those of processes that are gone
# and keep a live one's. One real SIGKILL during a run that checkpoints
# every epoch (wherever it lands), and one of each target made by hand with
# the pid of a process that has exited, so the test does not rely on timing.
sed 's/{sgd: {lr: 0.02, momentum: 0.9}}/{adam: {lr: 0.001}}/' "$tmp/fashion_mlp.yaml" > "$tmp/mlp_kill.yaml"
(cd "$tmp" && exec "$nabla" train mlp_kill.yaml --epochs 500 --limit 100 --checkpoint kck.h5 \
    --out kw.h5 --graph kg.svg -q >/dev/null 2>&1) &
killed=$!
sleep 1
kill -9 "$killed" 2>/dev/null
wait "$killed" 2>/dev/null
sh -c 'exit 0' & dead=$!
wait "$dead"
for target in kck.h5 kw.h5; do printf 'half an HDF5 file' > "$tmp/.$target.tmp-$dead"; done
: > "$tmp/.kck.h5.tmp-$$"
run train mlp_kill.yaml --epochs 1 --limit 100 --checkpoint kck.h5 --out kw.h5 --graph kg.svg -q
check "after writers were killed mid-write, the next run leaves no temporary of theirs" \
    sh -c '[ '$rc' = 0 ] && [ -s "$1/kck.h5" ] && [ -s "$1/kw.h5" ] &&
           [ -z "$(ls -A "$1" | grep "^\.k.*\.tmp-" | grep -v "^\.kck\.h5\.tmp-$2\$")" ]' _ "$tmp" $$
check "... and keeps the temporary of a live process" [ -e "$tmp/.kck.h5.tmp-$$" ]
rm -f "$tmp/.kck.h5.tmp-$$"

# ---------------------------------------------------------------- conjugate gradients
# optimizer: cg trains by nb_trainer_fit_cg: two epochs over 2 chunks of 100.
sed 's|chunk: 1000, iterations: 10|chunk: 100, iterations: 6|' "$tmp/fashion_mlp_cg.yaml" \
    > "$tmp/mlp_cg.yaml"
run train mlp_cg.yaml --epochs 2 --limit 200 --out wcg.h5 --graph gcg.svg
check "cg: train exits 0 and writes weights" sh -c '[ '$rc' = 0 ] && [ -s "$1/wcg.h5" ]' _ "$tmp"
check "cg: one line per epoch, the summary line" \
    sh -c '[ "$(grep -c "^epoch [12]/2  loss .* Q .* train_acc .* test_acc .* s$" "$1")" = 2 ] &&
           grep -q "^model=fashion_mlp_cg epochs=2 .*test_acc=0\.[0-9]* .*weights=wcg.h5" "$2"' \
    _ "$tmp/last.err" "$tmp/last.out"
check "cg: the loss falls from epoch 1 to 2 and test accuracy beats chance" \
    sh -c 'l1=$(sed -n "s/^epoch 1\/2  loss \([0-9.]*\) .*/\1/p" "$1")
           l2=$(sed -n "s/^epoch 2\/2  loss \([0-9.]*\) .*/\1/p" "$1")
           acc=$(sed -n "s/.*test_acc=\([0-9.]*\).*/\1/p" "$2")
           awk -v a="$l1" -v b="$l2" -v c="$acc" "BEGIN { exit !(b < a && c > 0.3) }"' \
    _ "$tmp/last.err" "$tmp/last.out"
run eval mlp_cg.yaml --weights wcg.h5 --limit 100
check "cg: the weights evaluate" [ "$rc" = 0 ]
# Ten classes of labels for five outputs: refused before a step, naming the
# example of the training set, with one "cg: " and no "train: " inside.
sed 's/units: 10, name: logits/units: 5, name: logits/' "$tmp/mlp_cg.yaml" > "$tmp/mlp_cg5.yaml"
run train mlp_cg5.yaml --epochs 1 --limit 100 --out wcg5.h5 --no-graph
check "cg: labels beyond the output refused once, naming the training example" \
    sh -c '[ '$rc' = 1 ] && [ "$(wc -l < "$1" | tr -d " ")" = 1 ] &&
           grep -q "^nabla train: cg: label [5-9] of training example [0-9]* is outside 0…4 (the output .logits. has 5 units)$" "$1"' \
    _ "$tmp/last.err"
expect_cg_stream() {
    run train mlp_cg.yaml --stream --out s.h5 < /dev/null
    [ "$rc" = 2 ] && one_line train && has "optimizer: cg" "$tmp/last.err"
}
check "cg: --stream is a usage error (exit 2)" expect_cg_stream

# ---------------------------------------------------------------- eval
run eval lenet5.yaml --weights w.h5 --limit 100
check "eval prints test loss and accuracy" \
    sh -c '[ '$rc' = 0 ] && grep -q "n=100 test_loss=[0-9.]* test_acc=0\.[0-9]*" "$1"' _ "$tmp/last.out"
run eval w.h5
check "eval of a weights file alone (its stored model)" \
    sh -c '[ '$rc' = 0 ] && grep -q "n=200 .*test_acc=" "$1"' _ "$tmp/last.out"
# The accuracy train reported is what eval measures on the same weights.
acc_train=$(sed -n 's/.*test_acc=\([0-9.]*\).*/\1/p' "$tmp/train1.out")
acc_eval=$(sed -n 's/.*test_acc=\([0-9.]*\).*/\1/p' "$tmp/last.out")
check "eval agrees with train's test accuracy ($acc_train)" [ "$acc_train" = "$acc_eval" ]

# The report: top-5 accuracy and macro F1 on the key=value line, a 10×10
# confusion matrix whose counts add up to n, one row per class; --json the
# same numbers as one JSON object (json.tool parses it).
run eval w.h5 --limit 60
cp "$tmp/last.out" "$tmp/report.out"
check "eval: top-5 accuracy and macro F1 on the key=value line (10 classes: k = 5 by default)" \
    sh -c '[ '$rc' = 0 ] && grep -q "^model=lenet5 .* n=60 test_loss=[0-9.]* test_acc=[0-9.]* test_top5_acc=[0-9.]* macro_f1=[0-9.]*$" "$1"' \
    _ "$tmp/report.out"
check "eval: a confusion matrix of 10 rows whose counts add up to n" \
    sh -c 'awk "/^confusion matrix/ { m = 1; getline; next } m && NF == 11 { rows++; for (i = 2; i <= 11; i++) s += \$i }
               NF == 0 { m = 0 } END { exit !(rows == 10 && s == 60) }" "$1"' _ "$tmp/report.out"
check "eval: precision, recall, F1 and support per class (supports add up to n)" \
    sh -c 'grep -q "^class  *precision  *recall  *f1  *support$" "$1" &&
           awk "/^class/ { t = 1; next } t && NF == 5 { rows++; s += \$5 } END { exit !(rows == 10 && s == 60) }" "$1"' \
    _ "$tmp/report.out"
top5=$(sed -n 's/.*test_top5_acc=\([0-9.]*\).*/\1/p' "$tmp/report.out")
acc=$(sed -n 's/.*test_acc=\([0-9.]*\) .*/\1/p' "$tmp/report.out")
check "eval: top-5 accuracy ($top5) >= accuracy ($acc)" \
    awk -v a="$acc" -v b="$top5" 'BEGIN { exit !(b + 0 >= a + 0 && a != "") }'
run eval w.h5 --limit 60 --json --top-k 3
cp "$tmp/last.out" "$tmp/report.json"
check "eval --json: one well-formed JSON object (python3 -m json.tool)" \
    sh -c '[ '$rc' = 0 ] && [ "$(wc -l < "$1" | tr -d " ")" = 1 ] && python3 -m json.tool "$1" > /dev/null' \
    _ "$tmp/report.json"
check "eval --json: the report's numbers (k 3, confusion 10x10 adding up to n, accuracy as the text)" \
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
c = r["confusion"]
ok = (r["n"] == 60 and r["top_k"] == 3 and len(c) == 10 and all(len(row) == 10 for row in c) and
      sum(map(sum, c)) == 60 and len(r["classes"]) == 10 and
      abs(sum(c[i][i] for i in range(10)) / 60 - r["accuracy"]) < 1e-9 and
      "%.4f" % r["accuracy"] == sys.argv[2] and r["top_k_accuracy"] >= r["accuracy"] and
      all(row["support"] == sum(c[row["class"]]) for row in r["classes"]))
sys.exit(0 if ok else 1)' "$tmp/report.json" "$acc"
run eval w.h5 --limit 60 --top-k 11
check "eval --top-k past the class count: exit 1, one line naming k and the class count" \
    sh -c '[ '$rc' = 1 ] && [ "$(wc -l < "$1" | tr -d " ")" = 1 ] &&
           grep -q "^nabla eval: top-11 accuracy of 10 classes (k must be 1 to 10" "$1"' _ "$tmp/last.err"

# ---------------------------------------------------------------- inspect
run inspect lenet5.yaml
check "inspect MODEL.yaml: 61706 parameters" \
    sh -c '[ '$rc' = 0 ] && grep -q "total: 61706 parameters" "$1" && grep -q "conv2d" "$1"' _ "$tmp/last.out"
check "inspect shows the batch as N" grep -q "\[N,6,28,28\]" "$tmp/last.out"
check "inspect shows flatten by its name and kind, no internal op" \
    sh -c 'grep -q "^flatten1  *flatten  *\[N,400\]  *0$" "$1" && ! grep -q "#" "$1"' _ "$tmp/last.out"
run inspect w.h5
check "inspect W.h5: 61706 parameters and weight statistics" \
    sh -c '[ '$rc' = 0 ] && grep -q "total: 61706 parameters" "$1" && grep -q "mean" "$1"' _ "$tmp/last.out"
run inspect ck.h5
check "inspect of a checkpoint shows its training state" grep -q "^checkpoint: 2 epoch" "$tmp/last.out"
# A layer a file names is shown as the kind recorded when it was built: a
# local2d layer as local2d (its unfold and matmul are a convolution's too).
cat > "$tmp/named_layers.yaml" <<EOF
nabla: 1
input: {x: [1, 8, 8]}
nodes:
  - {name: lc, op: local2d, inputs: x, filters: 1, kernel: 3}
  - {name: cv, op: conv2d, inputs: x, filters: 1, kernel: 3}
  - {name: bn, op: batchnorm, inputs: cv}
  - {name: mp, op: maxpool2d, inputs: bn, size: 2}
  - {name: f, op: flatten, inputs: mp}
  - {name: d, op: dense, inputs: f, units: 3}
loss: mse
EOF
run inspect named_layers.yaml
check "inspect: named layers by their recorded kinds (local2d, conv2d, batchnorm, maxpool2d, dense)" \
    sh -c '[ "$2" = 0 ] && grep -q "^lc  *local2d " "$1" && grep -q "^cv  *conv2d " "$1" &&
           grep -q "^bn  *batchnorm " "$1" && grep -q "^mp  *maxpool2d " "$1" &&
           grep -q "^d  *dense " "$1"' _ "$tmp/last.out" "$rc"

# ---------------------------------------------------------------- dot
run dot lenet5.yaml -o x.dot
check "dot -o x.dot writes DOT" sh -c '[ '$rc' = 0 ] && grep -q "digraph" "$1"' _ "$tmp/x.dot"
run dot lenet5.yaml --backward -o xb.dot
check "dot --backward draws more nodes" \
    sh -c '[ '$rc' = 0 ] && [ "$(wc -l < "$1")" -gt "$(wc -l < "$2")" ]' _ "$tmp/xb.dot" "$tmp/x.dot"
run dot fashion_mlp.yaml
svg=$(sed -n 's/.*graph=\([^ ]*\).*/\1/p' "$tmp/last.out")
check "dot defaults to <name>.svg ($svg)" \
    sh -c '[ '$rc' = 0 ] && [ "$2" != "${2%.svg}" ] && grep -q "<svg" "$1/$2"' _ "$tmp" "$svg"

# ---------------------------------------------------------------- every example model
# Each model of examples/models (the YAML twins of the C examples among them)
# trains briefly on the fixture and is drawn, by train and by dot.
mkdir "$tmp/twins"
for f in "$src"/examples/models/*.yaml; do
    m=$(basename "$f" .yaml)
    sed "s|/usr/share/datasets/fashion-mnist|$tmp/data|" "$f" > "$tmp/twins/$m.yaml"
    [ -f "$src/examples/models/$m.h5" ] && cp "$src/examples/models/$m.h5" "$tmp/twins/"
    # char_lm's loss and data are its program's (examples/char_lm.c, whose
    # test is test_char_lm.sh): it is only drawn here.
    if [ "$m" != char_lm ]; then
        run train "twins/$m.yaml" --epochs 1 --limit 100 --quiet --out "twins/$m.h5.out" \
            --graph "twins/$m-train.dot"
        check "twin $m: trains one epoch on the fixture" \
            sh -c '[ "$1" = 0 ] && [ -s "$2.h5.out" ] && grep -q "^model=" "$3"' _ "$rc" \
            "$tmp/twins/$m" "$tmp/last.out"
        check "twin $m: train draws it after the run" grep -qs digraph "$tmp/twins/$m-train.dot"
    fi
    run dot "twins/$m.yaml" -o "twins/$m.dot"
    check "twin $m: dot draws it" sh -c '[ "$1" = 0 ] && grep -q digraph "$2"' _ "$rc" "$tmp/twins/$m.dot"
done
# The twins hold the parameters of their C examples (counted from the C code).
for pair in fashion_mlp:203530 lenet5:61706 fashion_cnn_bn:422442 lenet5_local:423038; do
    run inspect "twins/${pair%%:*}.yaml"
    check "twin ${pair%%:*}: ${pair#*:} parameters, as its C example" \
        grep -q "total: ${pair#*:} parameters" "$tmp/last.out"
done
check "the batch-norm twin's drawing shows the training batch" \
    grep -qs "x.*input \[64,1,28,28\]" "$tmp/twins/fashion_cnn_bn.dot"
# 101 examples in batches of 50: the last batch of 1 cannot train the batch
# norm over dense features; it is skipped, and said so, even with --quiet.
run train twins/fashion_cnn_bn.yaml --epochs 2 --limit 101 --batch 50 --quiet --out bnskip.h5
check "a short last batch batch norm cannot train on: skipped, run completes" \
    sh -c '[ "$1" = 0 ] && [ -s "$2/bnskip.h5" ] && grep -q " skipped=2$" "$3"' _ "$rc" "$tmp" \
    "$tmp/last.out"
check "a skipped short batch is said on stderr" \
    grep -q "^nabla train: skipped 2 examples in all, the short last batch of each epoch" \
    "$tmp/last.err"

# Batch norm over dense features trains and draws (it needs more than one
# example per batch; drawing never builds the model at batch 1).
printf 'nabla: 1\nname: bnmin\ninput: {x: [3]}\nlayers: [batchnorm]\nloss: mse\n' > "$tmp/bnmin.yaml"
printf '1,2,3,0,0,0\n2,1,0,1,1,1\n0,0,1,1,0,1\n3,3,3,0,1,0\n1,0,2,0,0,0\n2,2,1,1,1,1\n0,1,1,1,0,1\n3,0,3,0,1,0\n' \
    > "$tmp/bnmin.csv"
run train bnmin.yaml --stream --stream-batch 4 --graph bnmin.dot --out bnmin.h5 --quiet \
    < "$tmp/bnmin.csv"
check "batch norm over features: --stream trains and draws" \
    sh -c '[ "$1" = 0 ] && grep -q "steps=2" "$2" && grep -q digraph "$3"' _ "$rc" "$tmp/last.out" \
    "$tmp/bnmin.dot"
run dot bnmin.yaml -o bnmin2.dot
check "batch norm over features: dot draws it" sh -c '[ "$1" = 0 ] && grep -q digraph "$2"' _ "$rc" \
    "$tmp/bnmin2.dot"

# ---------------------------------------------------------------- the drawing of train
# Written only after a successful run; --graph none and --no-graph write none.
run train fashion_mlp.yaml --epochs 1 --limit 100 --lr 1e30 --out failed.h5 --graph failed.svg
check "a failing run exits 1" [ "$rc" = 1 ]
check "a failing run leaves no drawing and no weights" \
    sh -c '[ ! -e "$1/failed.svg" ] && [ ! -e "$1/failed.h5" ]' _ "$tmp"
rm -f "$tmp/fashion_mlp.svg"
run train fashion_mlp.yaml --epochs 1 --limit 50 --out nograph.h5 --graph none --quiet
check "--graph none: no drawing, graph=none" \
    sh -c '[ "$1" = 0 ] && grep -q "graph=none" "$2" && [ ! -e "$3/none" ] &&
           [ ! -e "$3/fashion_mlp.svg" ]' _ "$rc" "$tmp/last.out" "$tmp"
run train fashion_mlp.yaml --epochs 1 --limit 50 --out nograph.h5 --no-graph --quiet
check "--no-graph: no drawing, graph=none" \
    sh -c '[ "$1" = 0 ] && grep -q "graph=none" "$2" && [ ! -e "$3/fashion_mlp.svg" ]' _ "$rc" \
    "$tmp/last.out" "$tmp"

# ---------------------------------------------------------------- usage and runtime errors
expect() { # expect STATUS CMD DESCRIPTION ARGS...
    want=$1 cmd=$2 desc=$3; shift 3
    run "$@"
    check "$desc: exit $want, one line 'nabla $cmd: '" sh -c '[ "$1" = "$2" ]' _ "$rc" "$want"
    if ! one_line "$cmd"; then fail "$desc: the message is one line starting 'nabla $cmd: '"; fi
}
expect 2 train "unknown option" train lenet5.yaml --bogus
expect 2 train "missing value" train lenet5.yaml --epochs
expect 2 train "bad number" train lenet5.yaml --epochs 3x
expect 2 train "zero batch" train lenet5.yaml --batch 0
expect 2 train "negative learning rate" train lenet5.yaml --lr -1
expect 2 train "two models" train lenet5.yaml fashion_mlp.yaml
expect 2 eval "eval without weights" eval lenet5.yaml
# validation and early stopping options
expect 2 train "--validation 1.5" train fashion_mlp.yaml --validation 1.5
check "--validation 1.5: says a fraction between 0 and 1" \
    grep -q "validation wants a fraction of the training set between 0 and 1 (e.g. 0.1), not 1.5" "$tmp/last.err"
expect 2 train "--validation 0" train fashion_mlp.yaml --validation 0
expect 2 train "--validation abc" train fashion_mlp.yaml --validation abc
expect 2 train "--patience without validation" train fashion_mlp.yaml --patience 3
check "--patience without validation: says to add one" \
    grep -q "patience needs a validation set: add --validation F" "$tmp/last.err"
expect 2 train "--patience 0" train fashion_mlp.yaml --validation 0.1 --patience 0
expect 2 train "--validation and --validation-file" \
    train fashion_mlp.yaml --validation 0.1 --validation-file v.h5
expect 2 train "--min-delta without --patience" train fashion_mlp.yaml --validation 0.1 --min-delta 0.1
expect 2 train "--no-restore-best without --patience" train fashion_mlp.yaml --no-restore-best
expect 2 train "--validation with --stream" train fashion_mlp.yaml --stream --validation 0.1
expect 2 train "--patience with --grow" train fashion_mlp.yaml --validation 0.1 --patience 2 --grow logits:2
expect 1 train "--validation too small to hold out one" \
    train fashion_mlp.yaml --validation 0.001 --limit 100 --out x.h5 --graph x.svg
check "--validation 0.001 of 100: says none would be held out" \
    grep -q "^nabla train: --validation: 0.001 of 100 examples holds out 0, leaving no validation example" \
    "$tmp/last.err"
expect 1 train "--validation-file missing" \
    train fashion_mlp.yaml --validation-file nope.h5 --out x.h5 --graph x.svg
check "--validation-file missing: names the file" grep -q "nope.h5" "$tmp/last.err"
expect 2 predict "predict without input" predict lenet5.yaml --weights w.h5 -o p.h5
expect 1 train "missing model file" train no-such-model.yaml
expect 1 eval "missing weights file" eval lenet5.yaml --weights no-such.h5
expect 1 inspect "a file that is not a model" inspect data/train-labels-idx1-ubyte.gz
printf 'nabla: 1\nname: broken\nlayrs: []\n' > "$tmp/broken.yaml"
expect 1 dot "a bad model file" dot broken.yaml
run
check "nabla with no command: exit 2" [ "$rc" = 2 ]
run bogus
check "unknown command: exit 2, one line" sh -c '[ '$rc' = 2 ] && [ "$(wc -l < "$1")" = 1 ]' _ "$tmp/last.err"

# ---------------------------------------------------------------- shape errors name the layer
cat > "$tmp/big_kernel.yaml" <<EOF
nabla: 1
name: big_kernel
input: {x: [1, 28, 28]}
layers:
  - conv2d: {filters: 6, kernel: 5, activation: relu}
  - maxpool2d: {size: 4}
  - conv2d: {filters: 16, kernel: 7}
  - flatten
  - dense: {units: 10}
loss: softmax_cross_entropy
data: {format: idx, dir: $tmp/data}
EOF
expect 1 train "a kernel larger than its input" train big_kernel.yaml --epochs 1 --limit 100
check "the message names the layer, its input and the batch as N" \
    grep -q "^nabla train: big_kernel.yaml:7:5: layer 3 'conv2d2' (conv2d): kernel 7x7 is larger than the padded input 6x6 of 'maxpool2d1' \[N,6,6,6\]$" \
    "$tmp/last.err"
cat > "$tmp/two_widths.yaml" <<EOF
nabla: 1
name: two_widths
input: {x: [1, 28, 28]}
nodes:
  - {name: flat, op: flatten, inputs: [x]}
  - {name: wide, op: dense, inputs: [flat], units: 32, activation: relu}
  - {name: narrow, op: dense, inputs: [flat], units: 16}
  - {name: sum, op: add, inputs: [wide, narrow]}
loss: mse
EOF
expect 1 dot "nodes of different widths added" dot two_widths.yaml -o tw.dot
check "the message names the node and both inputs by their names, batch N" \
    grep -q "^nabla dot: two_widths.yaml:8:5: node 'sum' (add): shapes do not broadcast: 'wide' \[N,32\] and 'narrow' \[N,16\]$" \
    "$tmp/last.err"

# ---------------------------------------------------------------- typos get a suggestion
expect 2 train "a mistyped option" train lenet5.yaml --epoch 2
check "--epoch: did you mean '--epochs'?" \
    grep -q "^nabla train: unknown option '--epoch'; did you mean '--epochs'? (see 'nabla train --help')$" \
    "$tmp/last.err"
expect 2 eval "a mistyped option with =" eval lenet5.yaml --wieghts=w.h5
check "--wieghts=: did you mean '--weights'?" \
    grep -q "unknown option '--wieghts'; did you mean '--weights'?" "$tmp/last.err"
run train lenet5.yaml --bogus
check "an option close to none gets no suggestion" \
    sh -c '[ '$rc' = 2 ] && grep -q "unknown option .--bogus. (see" "$1" && ! grep -q "did you mean" "$1"' \
    _ "$tmp/last.err"
run trian lenet5.yaml
check "a mistyped command: exit 2, did you mean 'train'?" \
    sh -c '[ '$rc' = 2 ] && [ "$(wc -l < "$1")" = 1 ] &&
           grep -q "^nabla: unknown command .trian.; did you mean .train.? (see .nabla --help.)$" "$1"' \
    _ "$tmp/last.err"
run --epochs 2
check "an option before the command: exit 2, options follow the command" \
    sh -c '[ '$rc' = 2 ] && [ "$(wc -l < "$1")" = 1 ] &&
           grep -q "^nabla: unknown option .--epochs.: options follow the command, as in .nabla train --epochs." "$1"' \
    _ "$tmp/last.err"
run help trian
check "help of a mistyped command: exit 2, did you mean 'train'?" \
    sh -c '[ '$rc' = 2 ] && grep -q "^nabla: unknown command .trian.; did you mean .train.?" "$1"' \
    _ "$tmp/last.err"
run inspcet lenet5.yaml
check "a mistyped command: did you mean 'inspect'?" grep -q "did you mean 'inspect'?" "$tmp/last.err"
expect 2 train "a mistyped choice" train xor.yaml --stream --format cvs
check "--format cvs: did you mean 'csv'?" \
    grep -q "^nabla train: --format wants csv or f32, not 'cvs'; did you mean 'csv'? (see 'nabla train --help')$" \
    "$tmp/last.err"
run train xor.yaml --stream --format F32
check "--format F32: did you mean 'f32'?" \
    sh -c '[ '$rc' = 2 ] && grep -q "not .F32.; did you mean .f32.?" "$1"' _ "$tmp/last.err"
run train xor.yaml --stream --format json
check "a choice close to none gets the choices only" \
    sh -c '[ '$rc' = 2 ] && grep -q "wants csv or f32, not .json. (see" "$1"' _ "$tmp/last.err"

# ---------------------------------------------------------------- --data DIR
# A model whose data section names a folder that does not exist trains and
# evaluates from --data DIR; its weights file (which stores that YAML) too.
sed "s|$tmp/data|$tmp/nowhere|" "$tmp/fashion_mlp.yaml" > "$tmp/moved.yaml"
expect 1 train "train of a model whose data folder is missing" train moved.yaml --epochs 1 \
    --limit 100 --out moved.h5 --graph none
run train moved.yaml --data data --epochs 1 --limit 100 --out moved.h5 --graph moved.svg --quiet
check "train --data DIR reads the data from DIR" \
    sh -c '[ '$rc' = 0 ] && grep -q "train_n=100 .*test_acc=0\.[0-9]*" "$1"' _ "$tmp/last.out"
run eval moved.h5 --data "$tmp/data" --limit 50
check "eval --data DIR of a weights file whose model names another folder" \
    sh -c '[ '$rc' = 0 ] && grep -q "n=50 test_loss=[0-9.]* test_acc=0\.[0-9]*" "$1"' _ "$tmp/last.out"
expect 1 eval "eval without --data reads the missing folder" eval moved.h5 --limit 50
check "... and names it" grep -q "$tmp/nowhere/t10k-images-idx3-ubyte.gz" "$tmp/last.err"
grep -v "^data:" "$tmp/fashion_mlp.yaml" > "$tmp/nodata.yaml"
expect 1 eval "--data for a model without a data section" eval nodata.yaml -w moved.h5 --data data
check "... says so" grep -q "data folder 'data': model 'fashion_mlp' has no data section" \
    "$tmp/last.err"

# ---------------------------------------------------------------- targets checked before training
# A 5-unit output cannot learn Fashion-MNIST's 10 classes: refused before
# the first epoch (it used to train and exit 0), naming the label and where.
sed 's/units: 10, name: logits/units: 5, name: logits/' "$tmp/fashion_mlp.yaml" > "$tmp/five.yaml"
expect 1 train "labels past a 5-unit output" train five.yaml --epochs 1 --limit 100 --out five.h5
check "... 'label 9 of training example 0 is outside 0…4 (the output 'logits' has 5 units)'" \
    grep -qx "nabla train: label 9 of training example 0 is outside 0…4 (the output 'logits' has 5 units)" \
    "$tmp/last.err"
check "... before any epoch, no weights written" \
    sh -c '! grep -q "^epoch" "$1" && [ ! -e "$2/five.h5" ]' _ "$tmp/last.err" "$tmp"
# Squared error against 10 outputs needs 10 targets per example, not a label.
sed 's/^loss: softmax_cross_entropy/loss: mse/' "$tmp/fashion_mlp.yaml" > "$tmp/mse10.yaml"
expect 1 train "mse targets of the wrong width" train mse10.yaml --epochs 1 --limit 100 --out m.h5
check "... names both widths" grep -q "with 1 target(s) each; model 'fashion_mlp' takes .* with 10" \
    "$tmp/last.err"
if /usr/bin/python3 -c 'import h5py, numpy' 2> /dev/null; then
    /usr/bin/python3 - "$tmp" <<'EOF'
import sys, h5py, numpy as np
rng = np.random.default_rng(3)
for name, y in (("bad_labels", [7, 9, -1]), ("half_label", [1, 2.5, 0])):
    with h5py.File(sys.argv[1] + "/" + name + ".h5", "w") as f:
        f["X"] = rng.random((3, 1, 28, 28), dtype=np.float32)
        f["y"] = np.array(y, dtype=np.float32)
EOF
    # grad used to give loss -0 and all-zero gradients for these labels
    expect 1 grad "grad with labels past a 5-unit output" grad five.yaml -i bad_labels.h5 -o gb.h5
    check "... 'softmax_cross_entropy1: label 7 of example 0 is outside 0…4', no file" \
        sh -c 'grep -qx "nabla grad: softmax_cross_entropy1: label 7 of example 0 is outside 0…4 (the output .logits. has 5 units)" "$1" &&
               [ ! -e "$2/gb.h5" ]' _ "$tmp/last.err" "$tmp"
    expect 1 grad "grad with a non-integer label" grad five.yaml -i half_label.h5 -o gh.h5
    check "... 'label 2.5 of example 1 is not a class index'" \
        grep -q "label 2.5 of example 1 is not a class index (an integer in 0…4)" "$tmp/last.err"
else
    echo "skip - grad with bad labels: /usr/bin/python3 has no h5py to make an input file"
fi

# ---------------------------------------------------------------- predict and grad
if /usr/bin/python3 -c 'import h5py, numpy' 2> /dev/null; then
    /usr/bin/python3 - "$tmp/X.h5" <<'EOF'
import sys, h5py, numpy as np
rng = np.random.default_rng(7)
with h5py.File(sys.argv[1], "w") as f:
    f["X"] = rng.random((20, 1, 28, 28), dtype=np.float32)
    f["y"] = rng.integers(0, 10, size=20).astype(np.float32)
with h5py.File(sys.argv[1].replace("X.h5", "Xbad.h5"), "w") as f:
    f["X"] = rng.random((5, 3, 8, 8), dtype=np.float32)
    f["y"] = np.zeros(5, dtype=np.float32)
EOF
    run train fashion_mlp.yaml --epochs 1 --limit 100 --validation-file X.h5 --out vf.h5 --graph vf.svg
    check "--validation-file: validates on the file's 20 examples, trains on all 100" \
        sh -c '[ '$rc' = 0 ] && grep -q "train_n=100 val_n=20 .*val_acc=" "$1"' _ "$tmp/last.out"
    sed -e 's|^data: .*$|data: {format: hdf5, train: X.h5, validation: X.h5}|' \
        -e 's|^train: {\(.*\)}$|train: {\1, early_stopping: {patience: 2}}|' \
        "$tmp/fashion_mlp.yaml" > "$tmp/mlp_h5.yaml"
    run train mlp_h5.yaml --epochs 2 --out vh.h5 --graph vh.svg
    check "data validation: FILE is the validation set, early stopping uses it" \
        sh -c '[ '$rc' = 0 ] && grep -q "train_n=20 val_n=20 .*best_epoch=[12] " "$1"' _ "$tmp/last.out"
    run predict lenet5.yaml --weights w.h5 --input X.h5 --output p.h5 --batch 8
    check "predict exits 0 (20 examples in batches of 8)" [ "$rc" = 0 ]
    run grad lenet5.yaml --weights w.h5 --input X.h5 --output g.h5
    check "grad exits 0" [ "$rc" = 0 ]
    [ -s "$tmp/p.h5" ] && [ -s "$tmp/g.h5" ] && /usr/bin/python3 - "$tmp" <<'EOF'
import sys, h5py, numpy as np
d = sys.argv[1]
fails = 0
def check(desc, cond):
    global fails
    print(("ok - " if cond else "not ok - ") + desc)
    fails += not cond
with h5py.File(d + "/p.h5") as p, h5py.File(d + "/g.h5") as g, h5py.File(d + "/w.h5") as w, \
        h5py.File(d + "/X.h5") as x:
    out = p["output"][()]
    check("predict: output [20, 10], finite", out.shape == (20, 10) and np.isfinite(out).all())
    check("grad: loss [1], output [20, 10]", g["loss"].shape == (1,) and g["output"].shape == (20, 10))
    # inference and training mode agree for LeNet-5 (no dropout, no batch norm)
    check("grad output equals predict output", np.allclose(g["output"][()], out, rtol=1e-4, atol=1e-5))
    z = out.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    y = x["y"][()].astype(int)
    ce = -logp[np.arange(20), y].mean()
    check("grad: loss is the mean cross-entropy of the outputs (%.6f vs %.6f)" % (g["loss"][0], ce),
          abs(g["loss"][0] - ce) <= 1e-4 * max(1.0, abs(ce)))
    names = []
    g["grad"].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    check("grad: 10 parameter gradients", len(names) == 10)
    check("grad: each matches its parameter's shape",
          all("params/" + n in w and w["params/" + n].shape == g["grad/" + n].shape for n in names))
    check("grad: gradients finite and not all zero",
          all(np.isfinite(g["grad/" + n][()]).all() for n in names) and
          any(np.abs(g["grad/" + n][()]).max() > 0 for n in names))
sys.exit(1 if fails else 0)
EOF
    check "predict and grad files read back with h5py" [ $? = 0 ]
    expect 1 predict "input of the wrong shape" predict lenet5.yaml --weights w.h5 --input Xbad.h5 \
        -o q.h5
    # raw bytes (no y) and the same bytes / 255 as floats: the model's x_div
    # (255: lenet5.yaml is silent) scales the bytes exactly as training did
    /usr/bin/python3 - "$tmp" <<'EOF'
import sys, h5py, numpy as np
u8 = np.random.default_rng(3).integers(0, 256, size=(12, 1, 28, 28), dtype=np.uint8)
with h5py.File(sys.argv[1] + "/Xu8.h5", "w") as f:
    f["X"] = u8
with h5py.File(sys.argv[1] + "/Xs.h5", "w") as f:
    f["X"] = u8.astype(np.float32) / np.float32(255)
EOF
    run predict lenet5.yaml --weights w.h5 --input Xu8.h5 --output pu8.h5 --batch 5 --probs --argmax
    check "predict on uint8 examples without a y dataset exits 0" [ "$rc" = 0 ]
    check "predict --probs --argmax names what it wrote" \
        grep -q "shape=\[12,10\] probs class$" "$tmp/last.out"
    run predict lenet5.yaml --weights w.h5 --input Xs.h5 --output ps.h5 --batch 5
    check "predict on the float-scaled examples exits 0" [ "$rc" = 0 ]
    [ -s "$tmp/pu8.h5" ] && [ -s "$tmp/ps.h5" ] && /usr/bin/python3 - "$tmp" <<'EOF'
import sys, h5py, numpy as np
d = sys.argv[1]
fails = 0
def check(desc, cond):
    global fails
    print(("ok - " if cond else "not ok - ") + desc)
    fails += not cond
with h5py.File(d + "/pu8.h5") as u, h5py.File(d + "/ps.h5") as s:
    a, b = u["output"][()], s["output"][()]
    check("predict: uint8 logits equal the float-scaled ones (max |diff| %g, max |logit| %g)"
          % (np.abs(a - b).max(), np.abs(b).max()), a.shape == b.shape and np.array_equal(a, b))
    p, c = u["probs"][()], u["class"][()]
    z = a.astype(np.float64) - a.max(axis=1, keepdims=True)
    soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    check("predict --probs: rows sum to 1 and are the softmax of the output",
          p.shape == (12, 10) and np.allclose(p.sum(axis=1), 1, atol=1e-5) and
          np.allclose(p, soft, atol=1e-6))
    check("predict --argmax: class [12] is the argmax of the output",
          c.shape == (12,) and np.array_equal(c.astype(int), a.argmax(axis=1)))
sys.exit(1 if fails else 0)
EOF
    check "predict outputs of uint8 and float examples read back with h5py" [ $? = 0 ]
else
    echo "skip - predict and grad: /usr/bin/python3 has no h5py to make an input file"
fi

# ---------------------------------------------------------------- train --grow
cat > "$tmp/grow_mlp.yaml" <<EOF
nabla: 1
name: grow_mlp
input: {x: [1, 28, 28]}
layers:
  - flatten
  - dense: {units: 4, activation: relu, name: hidden}
  - dense: {units: 10, name: logits}
loss: softmax_cross_entropy
optimizer: {sgd: {lr: 0.05}}
train: {batch: 50, epochs: 4, seed: 1}
data: {format: idx, dir: $tmp/data}
EOF
run train grow_mlp.yaml --grow hidden:2:8 --epochs 4 --out grown.h5 --graph grown.svg
check "train --grow exits 0" [ "$rc" = 0 ]
check "train --grow: a growth line, function unchanged" \
    grep -q "^grow: hidden 4 -> 6 units, Q [0-9.]*, function unchanged (max |Δ| 0)" "$tmp/last.err"
grown=$(sed -n 's/.* units=\([0-9]*\)$/\1/p' "$tmp/last.out")
check "train --grow: summary units= ($grown) is 6 or 8" sh -c '[ "$1" = 6 ] || [ "$1" = 8 ]' _ "$grown"
run inspect grown.h5
check "inspect: the saved hidden/w is [784,$grown], logits/w [$grown,10]" \
    sh -c '[ "$3" = 0 ] && grep -q "^hidden/w  *\[784,$2\]" "$1" && grep -q "^logits/w  *\[$2,10\]" "$1"' \
    _ "$tmp/last.out" "$grown" "$rc"
expect 1 train "--grow of an unknown layer" train grow_mlp.yaml --grow nope:2 --out g2.h5
check "--grow of an unknown layer names it" grep -q "no dense layer named 'nope'" "$tmp/last.err"
expect 1 train "--grow of a layer the shipped MLP does not have" \
    train fashion_mlp.yaml --grow hidden:2 --epochs 1 --limit 10
check "--grow hidden on the MLP lists its dense layers" \
    grep -q "no dense layer named 'hidden' (its dense layers: dense1, logits)$" "$tmp/last.err"
expect 1 train "--grow of a mistyped layer" train grow_mlp.yaml --grow hiden:2 --out g2.h5
check "--grow hiden: did you mean 'hidden'?" \
    grep -q "no dense layer named 'hiden'; did you mean 'hidden'?$" "$tmp/last.err"
expect 2 train "--grow malformed" train grow_mlp.yaml --grow hidden:x

# ---------------------------------------------------------------- weights saved from C
# Two C programs (examples/fashion_cnn_bn.c: convolution, batch norm and
# dropout; examples/fashion_residual.c: skip connections, a swish composed
# of primitive ops, a parameter outside any layer) train on the fixture and
# save with nb_trainer_save: the file carries the model's YAML, and inspect,
# eval, dot and predict read it as they read a YAML model's weights.
if [ $# -ge 5 ]; then
    for prog in "$(abs "$4")" "$(abs "$5")"; do
        ex=$(basename "$prog")
        (cd "$tmp" && "$prog" --epochs 1 --limit 100 --threads 1 --data "$tmp/data" \
            --save "$ex.h5") > "$tmp/last.out" 2> "$tmp/last.err"
        rc=$?
        cat "$tmp/last.err" >> "$tmp/all.err"
        cp "$tmp/last.out" "$tmp/$ex.out"
        check "$ex (a C program) trains and saves $ex.h5" \
            sh -c '[ '$rc' = 0 ] && grep -q "saved $2.h5" "$1" && [ -s "$3/$2.h5" ]' \
            _ "$tmp/last.out" "$ex" "$tmp"
        run inspect "$ex.h5"
        check "inspect $ex.h5: the model built in C, its layers and parameters" \
            sh -c '[ '$rc' = 0 ] && grep -q "^model $2 ($2.h5)" "$1" &&
                   grep -q "^total: [0-9]* parameters" "$1" && grep -q "^logits  *dense  *\[N,10\]" "$1"' \
            _ "$tmp/last.out" "$ex"
        run eval "$ex.h5"
        acc_c=$(sed -n 's/.* test_acc=\([0-9.]*\) .*/\1/p' "$tmp/$ex.out")
        check "eval $ex.h5: the test accuracy the C program printed ($acc_c)" \
            sh -c '[ '$rc' = 0 ] && [ -n "$3" ] && grep -q "^model=$2 .* n=200 .*test_acc=$3 " "$1"' \
            _ "$tmp/last.out" "$ex" "$acc_c"
        run dot "$ex.h5" -o "$ex.dot"
        check "dot $ex.h5 draws it" sh -c '[ '$rc' = 0 ] && grep -q "digraph" "$1"' _ "$tmp/$ex.dot"
        if [ -s "$tmp/X.h5" ]; then
            run predict "$ex.h5" --input X.h5 --output "$ex.p.h5"
            check "predict $ex.h5: 20 rows of 10 logits" \
                sh -c '[ '$rc' = 0 ] && grep -q "n=20 .*shape=\[20,10\]" "$1"' _ "$tmp/last.out"
        fi
    done
else
    echo "skip - weights saved from C: no C programs given"
fi

# ---------------------------------------------------------------- threads
run train --help
check "train --help: every core is the default" \
    grep -q -- "--threads N .*default 0: every core" "$tmp/last.out"
for t in default 1 2; do
    if [ $t = default ]; then
        run train lenet5.yaml --epochs 1 --limit 200 --batch 50 --out "t$t.h5"
        check "the default is every core, tuned: threads=auto" grep -q " threads=auto " "$tmp/last.out"
    else
        run train lenet5.yaml --epochs 1 --limit 200 --batch 50 --threads $t --out "t$t.h5"
    fi
    check "train at threads $t exits 0" [ "$rc" = 0 ]
done
if command -v h5dump >/dev/null 2>&1; then
    for t in 1 2; do
        check "the weights at the default threads and at $t are the same bits" \
            sh -c 'cd "$1" && h5dump -g /params tdefault.h5 | tail -n +2 > a.txt &&
                   h5dump -g /params "t$2.h5" | tail -n +2 > b.txt && cmp -s a.txt b.txt' \
            _ "$tmp" "$t"
    done
fi

# Every message of the run above names its command once, and a library
# module at most once: no "nabla train: train: ", no "train: run: ".
check "no message repeats a prefix" \
    sh -c '! grep -E "^nabla ([a-z]+): \1: |(^|: )(train|run|cg|grow|prune|predict|gradcheck): (train|run): " "$1"' \
    _ "$tmp/all.err"
check "no sanitizer reports (ASan, UBSan, LeakSanitizer)" \
    sh -c '! grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"' _ "$tmp/all.err"

echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
