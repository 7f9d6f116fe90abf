#include <math.h>
#include <string.h>

#include "hist.h"

unsigned vtb_hist_index(uint64_t v)
{
	if (v < VTB_HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);	/* v in [2^e, 2^(e+1)) */
	if (e > VTB_HIST_MAX_LOG2)
		return VTB_HIST_BUCKETS - 1;
	unsigned shift = e - VTB_HIST_SUB_BITS;
	unsigned sub = (unsigned)(v >> shift) - VTB_HIST_SUB;
	return VTB_HIST_SUB + shift * VTB_HIST_SUB + sub;
}

uint64_t vtb_hist_lower(unsigned idx)
{
	if (idx < VTB_HIST_SUB)
		return idx;
	unsigned shift = (idx - VTB_HIST_SUB) / VTB_HIST_SUB;
	unsigned sub = (idx - VTB_HIST_SUB) % VTB_HIST_SUB;
	return (uint64_t)(VTB_HIST_SUB + sub) << shift;
}

uint64_t vtb_hist_width(unsigned idx)
{
	return idx < VTB_HIST_SUB ? 1 : 1ull << ((idx - VTB_HIST_SUB) / VTB_HIST_SUB);
}

void vtb_hist_reset(struct vtb_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void vtb_hist_add(struct vtb_hist *h, uint64_t v)
{
	if (!h->count || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += (double)v;
	h->b[vtb_hist_index(v)]++;
}

uint64_t vtb_hist_pct(const struct vtb_hist *h, double p)
{
	if (!h->count)
		return 0;
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < VTB_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = vtb_hist_lower(i) + vtb_hist_width(i) / 2;
			return v < h->min ? h->min : v > h->max ? h->max : v;
		}
	}
	return h->max;
}
