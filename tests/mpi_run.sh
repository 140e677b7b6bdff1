#!/bin/sh
# mpi_run.sh MPIRUN_ARGS... — `mpirun MPIRUN_ARGS` (e.g. -np 2 PROGRAM ARGS,
# or an MPMD line "-np 1 A : -np 1 B") as the suite runs every MPI test:
# --oversubscribe (CI machines have fewer cores than ranks),
# --allow-run-as-root when run as root (CI), and a time limit, so that a
# rank left waiting fails the test (status 124) instead of hanging it.
# Exits 77 (skipped), saying why, where mpirun is missing.
if ! command -v mpirun > /dev/null 2>&1; then
    echo "skipped: mpirun not found (Debian: openmpi-bin; scripts/setup installs it)"
    exit 77
fi
root=
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
# Shared-memory transfers between the ranks without ptrace (containers forbid it).
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Under LeakSanitizer (.ci/run): OpenMPI leaves allocations of its plugins at
# exit, and unloads the plugins, so the fast unwinder's short stacks name no
# library. Full stacks reach the OpenMPI library that called the plugin,
# which tests/lsan.supp names.
if [ -n "${LSAN_OPTIONS:-}${ASAN_OPTIONS:-}" ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
fi
exec timeout -k 10 "${NABLA_MPI_TIMEOUT:-240}" mpirun --oversubscribe $root "$@"
