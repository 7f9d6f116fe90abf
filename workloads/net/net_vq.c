/* The virtqueue engine for net: a frame goes out behind a zeroed 12-byte
 * virtio_net_hdr_v1 in one descriptor, and an RX buffer is one
 * descriptor of header plus the largest frame, as a driver without
 * offloads or mergeable buffers lays them out. */
#include <errno.h>
#include <string.h>

#include "../workload.h"
#include "vtb_net.h"

#define HDR_BYTES ((uint32_t)sizeof(struct vtb_net_hdr_v1))

/* One buffer per io, in the order the generator asks (its TX ring, then
 * its RX ring): the frame sits right after the header. */
static int net_vq_io_init(struct vtb_gen *g, struct vtb_io *io, unsigned stream, uint32_t cap, uint32_t rcap)
{
	(void)rcap;
	void *va;
	if (vtb_fe_alloc(g->env, HDR_BYTES + cap, 64, &io->e.addr[0], &va))
		return -ENOMEM;
	io->e.va[0] = va;
	io->buf = (char *)va + HDR_BYTES;
	io->cap = cap;
	io->stream = (uint8_t)stream;
	return 0;
}

static int net_vq_queue(struct vtb_gen *g, struct vtb_io *io)
{
	if (io->op == VTB_IO_RECV) {
		struct vtb_sg sg = { io->e.addr[0], HDR_BYTES + io->cap };
		return g->t->fe_add(g->x, VTB_NET_Q_RX, &sg, 0, 1, io);
	}
	memset(io->e.va[0], 0, HDR_BYTES);
	struct vtb_sg sg = { io->e.addr[0], HDR_BYTES + io->len };
	return g->t->fe_add(g->x, VTB_NET_Q_TX, &sg, 1, 0, io);
}

static struct vtb_io *net_vq_getevent(struct vtb_gen *g, unsigned stream)
{
	uint32_t len;
	struct vtb_io *io = g->t->fe_get(g->x, stream, &len);
	if (!io)
		return NULL;
	if (stream == VTB_NET_Q_TX) {
		io->status = VTB_IO_OK;
		io->res = 0;
	} else {
		io->status = len < HDR_BYTES ? VTB_IO_EPROTO : VTB_IO_OK;
		io->res = len < HDR_BYTES ? 0 : len - HDR_BYTES;
	}
	return io;
}

const struct vtb_engine_ops vtb_engine_vq_net = {
	.name = "vq",
	.device = "net",
	.flags = VTB_ENGINE_F_DMA | VTB_ENGINE_F_WIRE,
	.nstreams = 2,
	.features = vtb_vq_features,
	.config = vtb_vq_config,
	.io_init = net_vq_io_init,
	.queue = net_vq_queue,
	.commit = vtb_vq_commit,
	.getevent = net_vq_getevent,
	.broken = vtb_vq_broken,
	.wait = vtb_vq_wait,
};
