#include <math.h>

#include "../../ci/vtb_test.h"
#include "../hist.h"

int main(void)
{
	/* Every value lands in a bucket that contains it; buckets tile the line. */
	uint64_t probes[] = { 0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 123456789,
			      (1ull << 40) - 1, 1ull << 40, (1ull << 41) - 1 };
	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint64_t v = probes[i];
		unsigned idx = vtb_hist_index(v);
		CHECK(idx < VTB_HIST_BUCKETS);
		CHECK(vtb_hist_lower(idx) <= v && v < vtb_hist_lower(idx) + vtb_hist_width(idx));
	}
	for (unsigned i = 0; i + 1 < VTB_HIST_BUCKETS; i++) {
		vtb_checks++;
		if (vtb_hist_lower(i) + vtb_hist_width(i) != vtb_hist_lower(i + 1)) {
			vtb_failed++;
			fprintf(stderr, "bucket %u does not end where %u starts\n", i, i + 1);
			break;
		}
	}
	CHECK_EQ(vtb_hist_index(1ull << 50), VTB_HIST_BUCKETS - 1);
	/* Documented bound: midpoint within 1/2^(B+1) of any value in the bucket. */
	double worst = 0;
	for (uint64_t v = 64; v < (1u << 22); v = v * 1.013 + 1) {
		unsigned idx = vtb_hist_index(v);
		double mid = (double)vtb_hist_lower(idx) + (double)vtb_hist_width(idx) / 2;
		double e = fabs(mid - (double)v) / (double)v;
		if (e > worst)
			worst = e;
	}
	CHECK(worst <= 1.0 / (1 << (VTB_HIST_SUB_BITS + 1)));
	/* Percentiles of 1..10000 ns within the bound; merged histograms equal
	 * the histogram of the merged samples. */
	static struct vtb_hist a, b, m;
	vtb_hist_reset(&a);
	vtb_hist_reset(&b);
	vtb_hist_reset(&m);
	for (uint64_t v = 1; v <= 10000; v++) {
		vtb_hist_add(v % 2 ? &a : &b, v);
		vtb_hist_add(&m, v);
	}
	for (unsigned i = 0; i < VTB_HIST_BUCKETS; i++)
		a.b[i] += b.b[i];
	for (double p = 1; p < 100; p += 7) {
		uint64_t want = (uint64_t)ceil(p / 100 * 10000);
		uint64_t got = vtb_hist_pct(&m, p);
		CHECK(fabs((double)got - (double)want) <= (double)want / 128 + 1);
	}
	CHECK_EQ(vtb_hist_pct(&m, 100), 10000);
	CHECK_EQ(vtb_hist_pct(&m, 0), 1);
	a.count = m.count;
	a.min = 1;
	a.max = 10000;
	CHECK_EQ(vtb_hist_pct(&a, 99), vtb_hist_pct(&m, 99));
	CHECK_EQ(m.count, 10000);
	CHECK(fabs(m.sum / (double)m.count - 5000.5) < 1e-9);
	return vtb_test_end("test_hist");
}
