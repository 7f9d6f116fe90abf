#ifndef VTB_CELL_H
#define VTB_CELL_H

#include <stdio.h>

#include "hist.h"
#include "perfctr.h"
#include "probes.h"
#include "../workloads/workload.h"

/* What a cell's two domains report back to the harness, in a shared page. */
struct vtb_cell_result {
	uint64_t ops, bytes;
	double seconds;
	struct vtb_hist hist;
	struct vtb_plat_counters d[2];	/* FE, BE deltas over the measured phase */
	double cpu_s[2];
	double pingpong_ns;		/* placement just before the cell; <0 unknown */
	uint64_t verify_errors;
	bool verified_ok;
	char error[640];		/* empty: success */
	unsigned ndev;
	const char *dev_names[VTB_DEV_STATS];
	char dev_name_buf[VTB_DEV_STATS][24];
	uint64_t dev_vals[VTB_DEV_STATS];
	struct vtb_hist usdt_user;	/* in-process latency of the USDT-sampled ops */
	struct vtb_perf_result perf[2];	/* each domain's perf_event counters */
	struct vtb_kresult k;		/* what the eBPF probes saw; k.on false: none */
};

/* Runs one repetition of a cell in fresh domains.  Returns 0 when the cell
 * ran (its own failure is in r->error), -1 if the harness itself failed. */
int vtb_cell_run(const struct vtb_cellp *cp, struct vtb_probes *probes, struct vtb_cell_result *r);

#endif
