/* The virtqueue engine for scmi: a command is its message in one
 * device-readable descriptor and a response buffer in one writable one
 * (virtio 1.2 5.17.6.1); a notification buffer is one writable
 * descriptor on the event queue. */
#include <errno.h>

#include "../workload.h"
#include "vtb_scmi.h"

/* CALL: message then response buffer; RECV: one buffer. */
static int scmi_vq_io_init(struct vtb_gen *g, struct vtb_io *io, unsigned stream, uint32_t cap, uint32_t rcap)
{
	if (vtb_fe_alloc(g->env, cap, 8, &io->e.addr[0], &io->buf))
		return -ENOMEM;
	if (rcap && vtb_fe_alloc(g->env, rcap, 8, &io->e.addr[1], &io->rbuf))
		return -ENOMEM;
	io->cap = cap;
	io->rcap = rcap;
	io->stream = (uint8_t)stream;
	return 0;
}

static int scmi_vq_queue(struct vtb_gen *g, struct vtb_io *io)
{
	if (io->op == VTB_IO_RECV) {
		struct vtb_sg sg = { io->e.addr[0], io->cap };
		return g->t->fe_add(g->x, VTB_SCMI_Q_EVENT, &sg, 0, 1, io);
	}
	struct vtb_sg sg[2] = { { io->e.addr[0], io->len }, { io->e.addr[1], io->rcap } };
	return g->t->fe_add(g->x, VTB_SCMI_Q_CMD, sg, 1, 1, io);
}

static struct vtb_io *scmi_vq_getevent(struct vtb_gen *g, unsigned stream)
{
	uint32_t len;
	struct vtb_io *io = g->t->fe_get(g->x, stream, &len);
	if (!io)
		return NULL;
	io->status = VTB_IO_OK;
	io->res = len;
	return io;
}

const struct vtb_engine_ops vtb_engine_vq_scmi = {
	.name = "vq",
	.device = "scmi",
	.flags = VTB_ENGINE_F_DMA | VTB_ENGINE_F_WIRE,
	.nstreams = 2,
	.features = vtb_vq_features,
	.config = vtb_vq_config,
	.io_init = scmi_vq_io_init,
	.queue = scmi_vq_queue,
	.commit = vtb_vq_commit,
	.getevent = scmi_vq_getevent,
	.broken = vtb_vq_broken,
	.wait = vtb_vq_wait,
};
