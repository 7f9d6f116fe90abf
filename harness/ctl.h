/* The control page: what the harness and a cell's two domains say to each
 * other, in memory the platform shares between them (proc: a shared
 * anonymous page inherited over fork).  The data path never touches it
 * but through the seam counters. */
#ifndef VTB_CTL_H
#define VTB_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "report.h"

/* Each writer owns whole cache lines (128 B: the adjacent-line prefetcher
 * pairs 64 B lines), so the measurement adds no cross-domain line traffic:
 * the BE polls control flags that change only at phase boundaries, and no
 * line holds both a counter the FE bumps on every op and one of the BE's. */
#define VTB_SHARED_LINE 128

struct vtb_ctl_counters {
	_Alignas(VTB_SHARED_LINE) struct vtb_plat_counters live;	/* the domain's seam counters */
	struct vtb_plat_counters snap;	/* at the start of its own measured phase */
};

/* Two cells taking turns (vtb_cell_run_pair): one page both cells' four
 * domains map.  Each word is written at turn boundaries only. */
struct vtb_gate {
	_Alignas(VTB_SHARED_LINE) uint32_t turn;	/* whose FE runs: 0 or 1 */
	uint32_t ready[2];	/* that FE is set up and taking turns */
	uint32_t done[2];	/* that FE's measured phase is over: never wait for it */
	uint32_t ndone;		/* both done: tear down */
	uint32_t dead;		/* the harness saw a domain end: nobody waits any more */
	_Alignas(VTB_SHARED_LINE) uint32_t active[2];	/* that cell's turn is on: its BE serves */
};

struct vtb_ctl {
	/* Written by the FE or the harness a few times per cell, read by both. */
	_Alignas(VTB_SHARED_LINE) uint32_t stop;	/* FE -> BE: finish */
	uint32_t measuring;		/* FE -> BE: the measured phase has begun */
	uint32_t measure_end;		/* FE -> BE: ... and has ended */
	uint32_t handles_ready;		/* harness -> domains: handle[] is set */
	uint64_t handle[2];		/* how each domain is reached (the runner's word) */
	struct vtb_gate *gate;		/* paired: the turns; NULL: a cell on its own */
	unsigned me;			/* paired: which of the two this is */
	_Alignas(VTB_SHARED_LINE) uint32_t be_ready;	/* BE -> harness */
	/* [0]: the FE's lines, [1]: the BE's. */
	_Alignas(VTB_SHARED_LINE) struct vtb_ctl_counters dom[2];
	/* What went wrong, said when it happens (a domain that hangs after
	 * has still said it). */
	_Alignas(VTB_SHARED_LINE) char be_error[256];
	char fe_error[256];
	/* Each domain's report (report.h), written once at its end: [0] the
	 * FE's, [1] the BE's; its length is stored last (0: none). */
	_Alignas(VTB_SHARED_LINE) uint32_t report_len[2];
	_Alignas(VTB_SHARED_LINE) uint8_t report[2][VTB_REPORT_MAX];
};
_Static_assert(sizeof(struct vtb_ctl_counters) % VTB_SHARED_LINE == 0, "a domain's counters end on its own line");
_Static_assert(offsetof(struct vtb_ctl, dom) % VTB_SHARED_LINE == 0 &&
		       offsetof(struct vtb_ctl, be_ready) % VTB_SHARED_LINE == 0 &&
		       offsetof(struct vtb_ctl, be_error) % VTB_SHARED_LINE == 0,
	       "each writer's block starts a line");

/* Futex words of the gate and the control page. */
long vtb_futex_wait(uint32_t *w, uint32_t val);
void vtb_futex_wake_all(uint32_t *w);
uint32_t vtb_gld(const uint32_t *w);
void vtb_gst(uint32_t *w, uint32_t v);

/* A domain that ended: nobody may wait for a turn any more. */
void vtb_gate_kill(struct vtb_gate *g);

#endif
