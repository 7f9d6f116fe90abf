#ifndef VTB_CELL_H
#define VTB_CELL_H

#include <stdio.h>

#include "hist.h"
#include "perfctr.h"
#include "probes.h"
#include "../workloads/workload.h"

/* Slices of the measured phase whose completions are counted apart: a
 * disturbance of part of the window shows as slices that ran slow. */
#define VTB_SLICES 32

/* What a cell's two domains report back to the harness, in a shared page. */
/* A cell run inside a guest (platform=qemu): what ran it. */
struct vtb_guest_meta {
	bool on;
	char arch[16], accel[8], kernel[64], qemu[80];
	char config[240];	/* the transport as guest and device configuration */
	char times[16];		/* hardware | emulated (TCG) */
	char crosscheck[320];	/* the guest's counts against QEMU's */
};

struct vtb_cell_result {
	uint64_t ops, bytes;
	double seconds;
	struct vtb_hist hist;
	struct vtb_plat_counters d[2];	/* FE, BE deltas over the measured phase */
	double cpu_s[2];
	double pingpong_ns;		/* placement just before the cell; <0 unknown */
	double pingpong_after_ns;	/* ... and just after it */
	double steal_s[2];		/* the FE's and BE's CPUs: time the hypervisor ran
					 * something else, over the measured phase; <0 unknown */
	double slice_ns;		/* the measured phase in VTB_SLICES equal slices */
	uint32_t slice_ops[VTB_SLICES];	/* ops completed in each */
	double slice_dur_ns[VTB_SLICES];/* each slice's length (paired: each turn's) */
	unsigned nslices;		/* slices used */
	uint64_t verify_errors;
	bool verified_ok;
	bool notifies_unknown;		/* no count of the doorbells exists: per_op.notifies null */
	char error[640];		/* empty: success */
	unsigned ndev;
	const char *dev_names[VTB_DEV_STATS];
	char dev_name_buf[VTB_DEV_STATS][24];
	uint64_t dev_vals[VTB_DEV_STATS];
	struct vtb_hist usdt_user;	/* in-process latency of the USDT-sampled ops */
	struct vtb_perf_result perf[2];	/* each domain's perf_event counters */
	struct vtb_kresult k;		/* what the eBPF probes saw; k.on false: none */
	struct vtb_guest_meta guest;	/* guest.on false: not run in a guest */
};

/* Runs one repetition of a cell in fresh domains.  Returns 0 when the cell
 * ran (its own failure is in r->error), -1 if the harness itself failed. */
int vtb_cell_run(const struct vtb_cellp *cp, struct vtb_probes *probes, struct vtb_cell_result *r);

/* Runs one repetition of two cells at once, taking turns on the same two
 * CPUs: each measures in short turns (its duration / VTB_SLICES), drains
 * what it has in flight, and hands over, so both see the same stretch of
 * the machine and the ratio of their rates cancels most of its drift.
 * cp[0] is the reference, cp[1] the cell; the probes watch cp[1] only.
 * Both must be timed (ops=0).  Returns as vtb_cell_run. */
int vtb_cell_run_pair(const struct vtb_cellp *const cp[2], struct vtb_probes *probes, struct vtb_cell_result *r[2]);

#endif
