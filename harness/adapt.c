/* Adaptive repetitions (adapt.h). */
#include <math.h>

#include "adapt.h"

double vtb_t95(unsigned df)
{
	static const double t[] = { 0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
				    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
				    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042 };
	if (df < sizeof(t) / sizeof(t[0]))
		return df ? t[df] : INFINITY;
	/* Past 30: the series t = z + (z^3 + z) / 4df is within 0.1%. */
	const double z = 1.959964;
	return z + (z * z * z + z) / (4.0 * df);
}

double vtb_ci_halfwidth_pct(const double *logs, unsigned n)
{
	if (n < 2)
		return INFINITY;
	double m = 0, ss = 0;
	for (unsigned i = 0; i < n; i++)
		m += logs[i];
	m /= n;
	for (unsigned i = 0; i < n; i++)
		ss += (logs[i] - m) * (logs[i] - m);
	double sd = sqrt(ss / (n - 1));
	return (exp(vtb_t95(n - 1) * sd / sqrt((double)n)) - 1) * 100;
}

bool vtb_adapt_more(const double *logs, unsigned n, unsigned min_reps, unsigned max_reps, double ci_pct)
{
	if (n < min_reps)
		return true;
	if (n >= max_reps)
		return false;
	return vtb_ci_halfwidth_pct(logs, n) > ci_pct;
}

bool vtb_adapt_more_placed(const double *const logs[2], const unsigned n[2], unsigned done, unsigned min_reps,
			   unsigned max_reps, double ci_pct)
{
	if (done < min_reps)
		return true;
	if (done >= max_reps)
		return false;
	unsigned main = n[1] > n[0];
	if (n[main] < min_reps)
		return true;
	for (unsigned k = 0; k < 2; k++)
		if (n[k] >= 2 && vtb_ci_halfwidth_pct(logs[k], n[k]) > ci_pct)
			return true;
	return false;
}
