/* What each domain of a cell reports to the harness when its part is
 * over, as bytes: written by the domain at its end, decoded (and checked:
 * a domain is not trusted) by the harness, whichever runner carried them
 * (proc: the control page; a guest: its console or a channel). */
#ifndef VTB_REPORT_H
#define VTB_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "cell.h"

struct vtb_fe_report {
	uint64_t ops, bytes, verify_errors;
	double seconds, cpu_s, slice_ns;
	double steal_s[2];		/* the FE's and BE's CPUs; <0 unknown */
	struct vtb_plat_counters d;	/* seam counters over the measured phase */
	struct vtb_hist hist, usdt_user;
	uint32_t nslices;
	uint32_t slice_ops[VTB_SLICES];
	double slice_dur_ns[VTB_SLICES];
	struct vtb_perf_result perf;
};

struct vtb_be_report {
	struct vtb_plat_counters d;
	double cpu_s;
	struct vtb_perf_result perf;
	uint32_t ndev;
	char dev_name[VTB_DEV_STATS][24];
	uint64_t dev_val[VTB_DEV_STATS];
};

/* Room a report takes at most. */
#define VTB_REPORT_MAX (80 * 1024)

void vtb_fe_report_init(struct vtb_fe_report *r);
/* Bytes written, or 0 if cap is too small. */
size_t vtb_fe_report_encode(const struct vtb_fe_report *r, uint8_t *buf, size_t cap);
size_t vtb_be_report_encode(const struct vtb_be_report *r, uint8_t *buf, size_t cap);
/* 0, or -EPROTO for bytes that are not a well-formed report of that kind
 * (r is then zeroed). */
int vtb_fe_report_decode(const uint8_t *buf, size_t len, struct vtb_fe_report *r);
int vtb_be_report_decode(const uint8_t *buf, size_t len, struct vtb_be_report *r);

/* The cell's figures from its two reports (either may be NULL: that
 * domain said nothing). */
void vtb_report_merge(struct vtb_cell_result *out, const struct vtb_fe_report *fe, const struct vtb_be_report *be);

#endif
