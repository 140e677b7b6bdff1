#!/usr/bin/env bash
# test_fault_frame.sh — tests/fuzz/fault_frame.awk on the reports in
# tests/fuzz/reports/: those named libhdf5-* must place the fault in
# libhdf5 (tests/fuzz/run then keeps the input aside as libhdf5's own
# crash), every other report must not (the fuzz run fails on it).
set -u
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
fails=0
for r in "$here"/reports/*.txt; do
    name=$(basename "$r")
    frame=$(awk -f "$here/fault_frame.awk" "$r")
    in_hdf5=no
    [[ $frame == *libhdf5* ]] && in_hdf5=yes
    want=no
    [[ $name == libhdf5-* ]] && want=yes
    if [[ $in_hdf5 == "$want" ]]; then
        echo "ok   $name: ${frame# *}"
    else
        echo "FAIL $name: fault placed ${frame:-nowhere}; libhdf5 expected: $want"
        fails=$((fails + 1))
    fi
done
exit $((fails > 0))
