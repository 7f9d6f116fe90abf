/* What the virtqueue engines share: the transport's kick, wait and
 * broken state, and the device's config space.  Each device's request
 * layout is in its own *_vq.c. */
#include <sched.h>

#include "workload.h"

uint64_t vtb_vq_features(struct vtb_gen *g)
{
	return g->env->features;
}

static void relax(void *ctx)
{
	(void)ctx;
	sched_yield();
}

/* Config space with the generation check. */
void vtb_vq_config(struct vtb_gen *g, uint32_t off, void *buf, uint32_t len)
{
	struct vtb_vdrv d = { .r = g->env->regs, .relax = relax };
	vtb_vdrv_config_read(&d, off, buf, len);
}

/* Every queue is kicked after a batch, as a driver that does not track
 * which it touched: the transport skips what needs no notification. */
void vtb_vq_commit(struct vtb_gen *g, int stream)
{
	if (stream != VTB_STREAM_ALL) {
		g->t->fe_kick(g->x, (unsigned)stream);
		return;
	}
	for (unsigned q = 0; q < g->eng->nstreams; q++)
		g->t->fe_kick(g->x, q);
}

bool vtb_vq_broken(struct vtb_gen *g)
{
	return g->t->fe_broken(g->x);
}

void vtb_vq_wait(struct vtb_gen *g)
{
	if (!g->t->fe_enable_cb(g->x))
		g->t->fe_wait(g->x);
	g->t->fe_disable_cb(g->x);
}
