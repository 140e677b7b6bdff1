/*
 * schedule.c — learning-rate schedules: a pure function of the step, so a
 * resumed run picks up exactly where it stopped.
 */
#include <math.h>

#include "nabla.h"

/*
 * The learning rate at `step` (0-based; negative counts as 0):
 *  - constant: lr;
 *  - step: lr·gamma^⌊step/every⌋, gamma 0 → 0.1; every ≤ 0 never decays;
 *  - cosine: lr·(r + (1 - r)·½(1 + cos(π·min(step, total)/total))) with
 *    r = min_ratio, so lr at step 0, lr·r from step total on; total ≤ 0
 *    gives the constant lr.
 * An unknown kind behaves as constant.
 */
float nb_schedule_lr(nb_schedule s, float lr, int64_t step)
{
    if (step < 0)
        step = 0;
    switch (s.kind) {
    case NB_SCHEDULE_STEP: {
        if (s.every <= 0)
            return lr;
        double gamma = s.gamma != 0 ? s.gamma : 0.1;
        return (float)(lr * pow(gamma, (double)(step / s.every)));
    }
    case NB_SCHEDULE_COSINE: {
        if (s.total <= 0)
            return lr;
        double f = (double)(step < s.total ? step : s.total) / (double)s.total;
        double r = s.min_ratio;
        return (float)(lr * (r + (1 - r) * 0.5 * (1 + cos(3.14159265358979323846 * f))));
    }
    case NB_SCHEDULE_CONSTANT:
    default:
        return lr;
    }
}
