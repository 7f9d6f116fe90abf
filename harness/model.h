/* The cost model (harness/model.md): a cell's time per op predicted from
 * the machine's calibrated primitive costs and the cell's exact seam
 * counters, and the limit that bounds the cell.  Pure functions. */
#ifndef VTB_MODEL_H
#define VTB_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "calib.h"
#include "../transports/platform.h"

/* What one domain's seam calls cost per op, by kind, in ns. */
enum {
	VTB_MT_HV_COPY,		/* hypervisor copies: per call + per byte */
	VTB_MT_BOUNCE,		/* a transport's memcpy into or out of shared memory */
	VTB_MT_MAP,		/* map + touch + unmap of another domain's pages */
	VTB_MT_DOORBELL,	/* the notify and wait system calls */
	VTB_MT_RECLAIM,		/* writing again shared lines the other domain's bounce copies read */
	VTB_MT_N
};
extern const char *const vtb_mt_names[VTB_MT_N];

/* A measured cell, as the model reads it. */
struct vtb_model_cell {
	struct vtb_plat_counters d[2];	/* FE, BE over the measured phase */
	uint64_t ops;
	double seconds;
	double cpu_s[2];
	unsigned qd;
	bool poll;
};

struct vtb_model_out {
	double term[2][VTB_MT_N];	/* per domain and kind, ns per op */
	double work_ns[2];		/* their sums: the seam's CPU work per op in each domain */
	double wake_ns;			/* doorbell wake-ups on the critical path per op (qd 1, event) */
	double predicted_ns;		/* time per op */
	bool relative;			/* predicted from a reference (shm) cell, else absolute */
	const char *limit;		/* the bound: hv_copy_bw, memcpy_bw, map, doorbell_rtt, pingpong */
	double limit_ns;		/* its time per op: no faster than this */
};

/* What n copies of bytes in all cost when one side of each was last
 * touched by the other CPU: along the calibrated curve fig[] (per copy at
 * 64 B, 4 KiB, 64 KiB), by the mean size, straight between the points;
 * < 0 when the curve is not calibrated (its 64 KiB point is 0). */
double vtb_model_xcopy_ns(const struct vtb_fig fig[VTB_XC_NSIZES], double n, double bytes);

/* Per-op cost of each domain's seam calls (fills term, work_ns, wake_ns). */
void vtb_model_terms(const struct vtb_calib *c, const struct vtb_model_cell *x, struct vtb_model_out *o);

/* Predicts x.  With ref, the same workload over shm measured in the same
 * run, the prediction is ref's measured time plus what x's seam calls add
 * (ring and device work cancel); without it, the seam's costs alone. */
void vtb_model_predict(const struct vtb_calib *c, const struct vtb_model_cell *x,
		       const struct vtb_model_cell *ref, struct vtb_model_out *o);

/* Which of a reference's two latest measurements (slot 0: near, 1: far;
 * seen[k] the 1-based repetition it was taken in, 0: none yet) prices a
 * cell measured in placement pl during repetition rep (1-based): the one in
 * the cell's placement, else this repetition's in the other; -1: none. */
int vtb_model_pick_ref(const unsigned seen[2], unsigned pl, unsigned rep);

#endif
