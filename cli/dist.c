/*
 * dist.c — the command on MPI ranks: `mpirun -np N nabla train MODEL.yaml`
 * finds its launcher in the environment and joins the group; the ranks
 * agree on the status after each phase that can fail on one alone (a data
 * file missing on one host), so every rank stops together, rank 0 saying
 * which rank failed and why; a rank never waits for one that gave up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

/* The number of ranks an MPI launcher started (OpenMPI, then the PMI of
 * MPICH and Slurm), or 0 when the command was not started by one. */
static long launched_ranks(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strtol(v, NULL, 10);
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

int cli_dist_start(const char *cmd, nb_dist **d)
{
    long n = launched_ranks();
    *d = NULL;
    if (n == 0)
        return CLI_OK;
    if (!nb_built_with("mpi")) {
        if (n == 1)
            return CLI_OK;
        return cli_error(cmd, CLI_FAIL, "nabla was built without MPI: started on %ld ranks, it "
                         "would train %ld times side by side (rebuild with libopenmpi-dev "
                         "installed, or run without mpirun)", n, n);
    }
    nb_error err = {0};
    if (!(*d = nb_dist_new(NULL, &err)))
        return cli_error(cmd, CLI_FAIL, "%s", err.message);
    if (nb_dist_rank(*d) > 0) { /* rank 0 prints for all: help, summaries, messages */
        cli_reports_keep_only(true);
        if (!freopen("/dev/null", "w", stdout))
            fclose(stdout);
    }
    return CLI_OK;
}

bool cli_dist_root(const nb_dist *d)
{
    return nb_dist_rank(d) == 0;
}

int cli_dist_agree(const char *cmd, nb_dist *d, int rc)
{
    if (!d)
        return rc;
    nb_error e = {.status = rc == CLI_OK ? NB_OK : rc == CLI_USAGE ? NB_ERR_ARG : NB_ERR_STATE};
    snprintf(e.message, sizeof e.message, "%s", rc == CLI_OK ? "" : cli_last_report());
    nb_status st = nb_dist_agree(d, e.status, &e);
    if (st == NB_OK)
        return CLI_OK;
    if (cli_dist_root(d) && rc == CLI_OK) /* another rank failed: say which, and why */
        cli_error(cmd, CLI_FAIL, "%s", e.message);
    return st == NB_ERR_ARG ? CLI_USAGE : CLI_FAIL;
}
