/* perf_event_open counters a domain keeps on itself: software counters
 * everywhere, hardware counters where the machine has a PMU. */
#ifndef VTB_PERFCTR_H
#define VTB_PERFCTR_H

#include <stdbool.h>
#include <stdint.h>

enum {
	VTB_PC_TASK_CLOCK,	/* ns on CPU */
	VTB_PC_CTX_SWITCHES,
	VTB_PC_PAGE_FAULTS,
	VTB_PC_MIGRATIONS,
	VTB_PC_CYCLES,
	VTB_PC_INSTRUCTIONS,
	VTB_PC_N
};
#define VTB_PC_FIRST_HW VTB_PC_CYCLES

extern const char *const vtb_pc_names[VTB_PC_N];

struct vtb_perfctr {
	int fd[VTB_PC_N];
	uint64_t start[VTB_PC_N];
};

/* What a domain reports for its measured phase. */
struct vtb_perf_result {
	bool sw, hw;			/* counted at all / with a PMU */
	bool user_only;			/* perf_event_paranoid allowed user space only */
	uint64_t v[VTB_PC_N];
	char why[96];			/* why sw or hw is missing */
};

/* Opens the counters on the calling process; what cannot be opened is
 * said in r->why and left out. */
void vtb_perfctr_open(struct vtb_perfctr *pc, struct vtb_perf_result *r);
void vtb_perfctr_start(struct vtb_perfctr *pc);
void vtb_perfctr_stop(struct vtb_perfctr *pc, struct vtb_perf_result *r);
void vtb_perfctr_close(struct vtb_perfctr *pc);

#endif
