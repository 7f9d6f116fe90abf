/* Log-linear latency histogram (HDR / fio style).  Values below 2^B are
 * exact; above, each power-of-two range is split into 2^B equal buckets,
 * so a bucket's width is at most 1/2^B of its lower bound.  Reporting a
 * bucket's midpoint bounds the relative error by 1/2^(B+1) = 0.78% with
 * B = 6.  Buckets add, so repetitions and boards merge exactly. */
#ifndef VTB_HIST_H
#define VTB_HIST_H

#include <stdint.h>

#define VTB_HIST_SUB_BITS 6
#define VTB_HIST_SUB (1u << VTB_HIST_SUB_BITS)
#define VTB_HIST_MAX_LOG2 40	/* values >= 2^41 ns (~37 min) share the last bucket */
#define VTB_HIST_BUCKETS (VTB_HIST_SUB * (VTB_HIST_MAX_LOG2 - VTB_HIST_SUB_BITS + 2))

struct vtb_hist {
	uint64_t count;
	uint64_t min, max;
	double sum;
	uint64_t b[VTB_HIST_BUCKETS];
};

unsigned vtb_hist_index(uint64_t v);
uint64_t vtb_hist_lower(unsigned idx);	/* smallest value in the bucket */
uint64_t vtb_hist_width(unsigned idx);
void vtb_hist_reset(struct vtb_hist *h);
void vtb_hist_add(struct vtb_hist *h, uint64_t v);
/* p in [0, 100]: the bucket midpoint holding the ceil(p% * count)-th value,
 * clamped to [min, max]. */
uint64_t vtb_hist_pct(const struct vtb_hist *h, double p);

#endif
