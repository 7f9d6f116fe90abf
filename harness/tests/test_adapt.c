/* The adaptive stopping rule on synthetic noise: a quiet cell stops at its
 * minimum, a noisy one runs on until its interval is tight or it reaches
 * max_reps, and the intervals it stops with still cover the true figure. */
#include <math.h>
#include <stdint.h>

#include "../../ci/vtb_test.h"
#include "../adapt.h"

/* xorshift64* and Box-Muller: deterministic normal draws. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return ((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static double normal(void)
{
	double u = uniform(), v = uniform();
	return sqrt(-2 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

/* Runs the rule on a cell whose log figure is mu + sd * N(0,1) per
 * repetition; returns the repetitions taken, and whether the interval it
 * stopped with covers mu. */
static unsigned simulate(double mu, double sd, unsigned min, unsigned max, double ci, bool *covers, double *hw)
{
	double logs[256];
	unsigned n = 0;
	while (n < 256 && vtb_adapt_more(logs, n, min, max, ci))
		logs[n++] = mu + sd * normal();
	double m = 0, ss = 0;
	for (unsigned i = 0; i < n; i++)
		m += logs[i];
	m /= n;
	for (unsigned i = 0; i < n; i++)
		ss += (logs[i] - m) * (logs[i] - m);
	double half = vtb_t95(n - 1) * sqrt(ss / (n - 1) / n);
	*covers = fabs(m - mu) <= half;
	*hw = vtb_ci_halfwidth_pct(logs, n);
	return n;
}

int main(void)
{
	/* The t table and the half-width, worked by hand. */
	CHECK(fabs(vtb_t95(1) - 12.706) < 1e-9);
	CHECK(fabs(vtb_t95(30) - 2.042) < 1e-9);
	CHECK(fabs(vtb_t95(1000) - 1.9623) < 1e-3);
	CHECK(isinf(vtb_ci_halfwidth_pct((double[]){ 0.1 }, 1)));
	double two[] = { log(1.0), log(1.1) };
	/* mean of logs, sd = |diff|/sqrt2, half = t1 * sd / sqrt2 = t1 * diff / 2 */
	CHECK(fabs(vtb_ci_halfwidth_pct(two, 2) - (exp(12.706 * log(1.1) / 2) - 1) * 100) < 1e-9);

	/* The rule's bounds: below min always, at max never. */
	double same[8] = { 0 };
	CHECK(vtb_adapt_more(same, 2, 3, 10, 5));
	CHECK(!vtb_adapt_more(same, 3, 3, 10, 5));
	double wild[4] = { 0, 1, -1, 2 };
	CHECK(vtb_adapt_more(wild, 4, 3, 10, 5));
	CHECK(!vtb_adapt_more(wild, 4, 3, 4, 5));

	/* A quiet cell (CV 0.5%) stops at its minimum. */
	bool cov;
	double hw;
	CHECK_EQ(simulate(0, 0.005, 3, 20, 5, &cov, &hw), 3u);

	/* A noisy one (CV 8%) runs past its minimum and stops tight: a 95%
	 * half-width of 5% at CV 8% takes about 12 repetitions. */
	unsigned sum = 0, tight = 0, covered = 0, trials = 2000;
	for (unsigned k = 0; k < trials; k++) {
		unsigned n = simulate(0.3, 0.08, 3, 40, 5, &cov, &hw);
		sum += n;
		tight += hw <= 5;
		covered += cov;
	}
	double mean_n = (double)sum / trials;
	CHECK(mean_n > 8 && mean_n < 20);
	CHECK(tight >= trials * 99 / 100);	/* max_reps 40 is rarely reached */
	/* Stopping when the interval looks tight favours draws that happen to
	 * look tight; with a minimum of 3 the coverage stays near nominal. */
	CHECK(covered >= trials * 88 / 100);

	/* Capped: CV 30% cannot reach 5% in 10 repetitions; it stops at 10. */
	CHECK_EQ(simulate(0, 0.3, 3, 10, 5, &cov, &hw), 10u);
	CHECK(hw > 5);
	/* Placements judged apart: tight near and far groups are done; a
	 * group of one (a placement seen once) does not hold a cell back; a
	 * wide group does; the main group needs its minimum of its own. */
	double near[4] = { 0.10, 0.101, 0.099, 0.1 }, far[4] = { 0.5, 0.502, 0.498, 0.5 }, wide[3] = { 0.1, 0.3, -0.1 };
	const double *both[2] = { near, far };
	CHECK(!vtb_adapt_more_placed(both, (unsigned[]){ 4, 3 }, 7, 3, 20, 5));
	CHECK(!vtb_adapt_more_placed(both, (unsigned[]){ 4, 1 }, 5, 3, 20, 5));
	CHECK(vtb_adapt_more_placed(both, (unsigned[]){ 2, 1 }, 3, 3, 20, 5));	/* main group below 3 */
	const double *nw[2] = { near, wide };
	CHECK(vtb_adapt_more_placed(nw, (unsigned[]){ 4, 3 }, 7, 3, 20, 5));
	CHECK(!vtb_adapt_more_placed(nw, (unsigned[]){ 4, 3 }, 20, 3, 20, 5));	/* at max_reps */
	CHECK(vtb_adapt_more_placed(nw, (unsigned[]){ 0, 0 }, 2, 3, 20, 5));	/* below its minimum */
	/* Pooling the two placements would have been wide: the ratio moves
	 * 5x with the placement, each group on its own is tight. */
	double pooled[7] = { 0.10, 0.101, 0.099, 0.1, 0.5, 0.502, 0.498 };
	CHECK(vtb_ci_halfwidth_pct(pooled, 7) > 5);
	return vtb_test_end("test_adapt");
}
