#!/bin/sh
# test_memory_limits.sh — `nabla train` under memory limits (ulimit -v) from
# 50 MB to 1 GB: every run of LeNet-5 and the MLP on the Fashion-MNIST
# fixture either trains (exit 0, weights written, the summary line) or exits
# non-zero with a message about memory; none hangs (each run has a timeout,
# and a run that reaches it fails the test) and none dies of a signal. Each
# model runs twice per limit: drawing its network as SVG after training (as
# a default run does: Graphviz needs room of its own) and not drawing.
#
# Then the fallback itself: under 200 MB OpenBLAS's buffers do not fit, so
# nabla's own loops compute the products; the run says so, names the limit,
# and trains to the very same loss as a run without a limit.
#
# A table of limit → outcome and seconds is printed. Builds with
# AddressSanitizer are skipped (exit 77): ASan reserves terabytes of shadow
# address space and cannot start under ulimit -v.
#
# usage: test_memory_limits.sh NABLA FIXTURES_DIR SOURCE_ROOT [SANITIZERS [TIMEOUT]]
set -u

case "${4:-none}" in
*address*)
    echo "skipped: an AddressSanitizer build cannot run under ulimit -v (its shadow memory"
    echo "reserves terabytes of address space)"
    exit 77 ;;
esac

. "$(dirname "$0")/lib.sh"
nabla=$(abs "$1")
fixtures=$(abs "$2")
src=$(abs "$3")
limit_timeout=${5:-60}
test_tmp memlim

now() { date +%s.%N; }

# limited MB ARGS...: nabla under ulimit -v of MB megabytes, in $tmp, with a
# timeout; status in $rc, seconds in $secs.
limited() {
    mb=$1
    shift
    t0=$(now)
    (cd "$tmp" && timeout -k 5 "$limit_timeout" sh -c 'ulimit -v "$1" && shift && exec "$@"' _ \
        $((mb * 1024)) "$nabla" "$@") > "$tmp/last.out" 2> "$tmp/last.err"
    rc=$?
    secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
}

# ---------------------------------------------------------------- data and models
fixture_data "$fixtures" "$tmp/data"
for m in lenet5 fashion_mlp; do
    sed "s|/usr/share/datasets/fashion-mnist|$tmp/data|" "$src/examples/models/$m.yaml" > "$tmp/$m.yaml"
done

# ---------------------------------------------------------------- the sweep
echo "# model        drawing limit  outcome               seconds"
for m in lenet5 fashion_mlp; do
  for graph in g.svg none; do
    for mb in 50 75 100 150 200 250 300 400 600 800 1000; do
        rm -f "$tmp/w.h5"
        limited "$mb" train "$m.yaml" --epochs 1 --limit 100 --batch 50 --out w.h5 --graph $graph
        if [ "$rc" = 0 ]; then
            outcome=trained
        elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            outcome="HUNG (killed after ${limit_timeout}s)"
        elif [ "$rc" -gt 128 ]; then
            outcome="DIED of signal $((rc - 128))"
        else
            outcome="refused (exit $rc)"
        fi
        printf '# %-12s %-7s %4s MB  %-21s %s\n' "$m" "$graph" "$mb" "$outcome" "$secs"
        what="$m (--graph $graph) under $mb MB"
        case $outcome in
        trained)
            check_ok=1
            [ -s "$tmp/w.h5" ] && grep -q "^model=$m epochs=1 " "$tmp/last.out" || check_ok=0
            if [ "$check_ok" = 1 ]; then ok "$what: trains"; else fail "$what: exit 0 without weights or summary"; fi ;;
        refused*)
            # the last line (after progress and notes), from nabla, about
            # memory: the limit, or an allocation that failed
            if tail -1 "$tmp/last.err" |
                grep -Eq "^nabla train: .*(out of memory|MB of address space)"; then
                ok "$what: refused with a message: $(tail -1 "$tmp/last.err" | cut -c 1-110)"
            else
                fail "$what: exit $rc without a one-line message about memory"
            fi ;;
        *)
            fail "$what: $outcome" ;;
        esac
    done
  done
done

# ---------------------------------------------------------------- the fallback
# Without a limit (OpenBLAS), and under 200 MB (nabla's loops): the same
# numbers, and the limited run says why it ran without OpenBLAS.
(cd "$tmp" && "$nabla" train lenet5.yaml --epochs 1 --limit 100 --batch 50 --out free.h5 \
    --graph g.dot) > "$tmp/free.out" 2> "$tmp/free.err"
check_rc=$?
limited 200 train lenet5.yaml --epochs 1 --limit 100 --batch 50 --out lim.h5 --graph g.dot
if [ "$check_rc" = 0 ] && [ "$rc" = 0 ]; then
    ok "lenet5 trains without a limit and under 200 MB"
else
    fail "lenet5 without a limit (exit $check_rc) and under 200 MB (exit $rc)"
fi
if grep -Eq "^nabla train: note: OpenBLAS was not loaded: OpenBLAS \(.*\) needs about [0-9]+ MB of address space beyond the [0-9]+ MB in use; the limit is 200 MB \(ulimit -v\): about [0-9]+ MB would do; nabla's own, slower loops computed the products$" "$tmp/last.err"; then
    ok "under 200 MB: a note says OpenBLAS was not loaded, with the memory it needs and the limit"
else
    fail "under 200 MB: no note naming the limit OpenBLAS needs"
fi
if grep -q "OpenBLAS was not loaded" "$tmp/free.err"; then
    fail "without a limit: OpenBLAS was not loaded"
else
    ok "without a limit: OpenBLAS computes (no note)"
fi
figures() { grep -o ' \(loss\|q\|test_loss\|test_acc\|train_acc\)=[^ ]*' "$1" | tr -d '\n'; }
if [ -n "$(figures "$tmp/free.out")" ] && [ "$(figures "$tmp/free.out")" = "$(figures "$tmp/last.out")" ]; then
    ok "nabla's loops train to the same figures as OpenBLAS:$(figures "$tmp/last.out")"
else
    fail "figures differ: without a limit '$(figures "$tmp/free.out")', under 200 MB '$(figures "$tmp/last.out")'"
fi

echo "# $passed passed, $failed failed"
[ "$failed" = 0 ]
