#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "perfctr.h"

const char *const vtb_pc_names[VTB_PC_N] = {
	"task_clock_ns", "ctx_switches", "page_faults", "migrations", "cycles", "instructions",
};

static const struct {
	uint32_t type;
	uint64_t config;
} events[VTB_PC_N] = {
	{ PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK },
	{ PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES },
	{ PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS },
	{ PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS },
	{ PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES },
	{ PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS },
};

static int open_one(int i, bool user_only)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = events[i].type;
	a.config = events[i].config;
	a.exclude_kernel = user_only;
	a.exclude_hv = user_only;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

void vtb_perfctr_open(struct vtb_perfctr *pc, struct vtb_perf_result *r)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < VTB_PC_N; i++)
		pc->fd[i] = -1;
	int fd = open_one(VTB_PC_TASK_CLOCK, false);
	if (fd < 0 && (errno == EACCES || errno == EPERM)) {
		/* perf_event_paranoid 2 still lets a process count its user space. */
		r->user_only = true;
		fd = open_one(VTB_PC_TASK_CLOCK, true);
	}
	if (fd < 0) {
		snprintf(r->why, sizeof(r->why), "perf_event_open: %s", strerror(errno));
		return;
	}
	pc->fd[VTB_PC_TASK_CLOCK] = fd;
	r->sw = true;
	for (int i = 1; i < VTB_PC_N; i++)
		pc->fd[i] = open_one(i, r->user_only);
	r->hw = pc->fd[VTB_PC_CYCLES] >= 0;
	if (!r->hw)
		snprintf(r->why, sizeof(r->why), "no hardware PMU (cycles: %s)",
			 errno == ENOENT || errno == EOPNOTSUPP ? "not supported" : strerror(errno));
}

static uint64_t rd(int fd)
{
	uint64_t v = 0;
	if (fd >= 0 && read(fd, &v, sizeof(v)) != sizeof(v))
		v = 0;
	return v;
}

void vtb_perfctr_start(struct vtb_perfctr *pc)
{
	for (int i = 0; i < VTB_PC_N; i++)
		pc->start[i] = rd(pc->fd[i]);
}

void vtb_perfctr_stop(struct vtb_perfctr *pc, struct vtb_perf_result *r)
{
	for (int i = 0; i < VTB_PC_N; i++)
		r->v[i] = pc->fd[i] >= 0 ? rd(pc->fd[i]) - pc->start[i] : 0;
}

void vtb_perfctr_close(struct vtb_perfctr *pc)
{
	for (int i = 0; i < VTB_PC_N; i++)
		if (pc->fd[i] >= 0)
			close(pc->fd[i]);
}
