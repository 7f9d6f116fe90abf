/* Adaptive repetitions: a cell is repeated until the 95% confidence
 * interval of its figure (the log of its paired ratio to shm, or of its
 * ops/s) is as tight as asked, or it reaches max_reps.  Pure functions. */
#ifndef VTB_ADAPT_H
#define VTB_ADAPT_H

#include <stdbool.h>

/* Student's t, two-sided 95%, for df degrees of freedom (df >= 1). */
double vtb_t95(unsigned df);

/* Half-width of the 95% CI of the mean of n logs, as a percentage of the
 * figure (exp(t s / sqrt n) - 1); +inf below two values. */
double vtb_ci_halfwidth_pct(const double *logs, unsigned n);

/* Whether a cell with these logs so far needs another repetition: below
 * min_reps always, at max_reps never, else while the half-width exceeds
 * ci_pct. */
bool vtb_adapt_more(const double *logs, unsigned n, unsigned min_reps, unsigned max_reps, double ci_pct);

/* The same for a cell whose repetitions fall into placements (the vCPUs'
 * near and far; analysis keeps them apart): logs[k] holds n[k] figures of
 * the repetitions that stayed in placement k, done the repetitions run so
 * far whatever their placement.  More while fewer than min_reps ran, or
 * while done < max_reps and the placement with most repetitions has fewer
 * than min_reps or any placement with two or more is wider than ci_pct. */
bool vtb_adapt_more_placed(const double *const logs[2], const unsigned n[2], unsigned done, unsigned min_reps,
			   unsigned max_reps, double ci_pct);

#endif
