#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "workload.h"

const struct vtb_workload_ops *const vtb_workloads[] = {
	&vtb_workload_blk,
	&vtb_workload_net,
	&vtb_workload_scmi,
	NULL,
};

const struct vtb_workload_ops *vtb_workload_find(const char *name)
{
	for (const struct vtb_workload_ops *const *w = vtb_workloads; *w; w++)
		if (!strcmp((*w)->name, name))
			return *w;
	return NULL;
}

uint64_t vtb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vtb_io_sync(struct vtb_gen *g, struct vtb_io *io)
{
	const struct vtb_engine_ops *e = g->eng;
	int err = e->queue(g, io);
	if (err)
		return err;
	e->commit(g, io->stream);
	for (;;) {
		struct vtb_io *got = e->getevent(g, io->stream);
		if (got == io)
			return 0;
		if (got || e->broken(g))
			return -EPROTO;
		sched_yield();
	}
}

void vtb_gen_fail(struct vtb_gen *g, const char *fmt, ...)
{
	g->verify_errors++;
	if (g->err[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->err, sizeof(g->err), fmt, ap);
	va_end(ap);
}
