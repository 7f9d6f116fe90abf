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

static void relax(void *ctx)
{
	(void)ctx;
	sched_yield();
}

void vtb_gen_config(struct vtb_gen *g, uint32_t off, void *buf, uint32_t len)
{
	struct vtb_vdrv d = { .r = g->env->regs, .relax = relax };
	vtb_vdrv_config_read(&d, off, buf, len);
}

int vtb_gen_sync(struct vtb_gen *g, unsigned q, const struct vtb_sg *sg, unsigned nout,
		 unsigned nin, uint32_t *len)
{
	static char token;
	int e = g->t->fe_add(g->x, q, sg, nout, nin, &token);
	if (e)
		return e;
	g->t->fe_kick(g->x, q);
	for (;;) {
		void *tok = g->t->fe_get(g->x, q, len);
		if (tok == &token)
			return 0;
		if (tok || g->t->fe_broken(g->x))
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
