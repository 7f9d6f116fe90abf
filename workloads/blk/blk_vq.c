/* The virtqueue engine for blk: each request is a 16-byte header, the
 * data (or a discard/write-zeroes segment, or the id) and a status byte,
 * three pieces of FE RAM per io, as a virtio-blk driver lays them out. */
#include <errno.h>
#include <string.h>

#include "../workload.h"
#include "vtb_blk.h"

#define HDR(io)    ((struct vtb_blk_outhdr *)(io)->e.va[0])
#define STATUS(io) ((uint8_t *)(io)->e.va[1])

/* Header, data and status, in that order for every io (the layout the
 * transports' per-op counters were measured on). */
static int blk_vq_io_init(struct vtb_gen *g, struct vtb_io *io, unsigned stream, uint32_t cap, uint32_t rcap)
{
	(void)rcap;
	if (vtb_fe_alloc(g->env, 16, 16, &io->e.addr[0], &io->e.va[0]) ||
	    vtb_fe_alloc(g->env, cap, 4096, &io->e.addr[1], &io->buf) ||
	    vtb_fe_alloc(g->env, 1, 1, &io->e.addr[2], &io->e.va[1]))
		return -ENOMEM;
	io->stream = (uint8_t)stream;
	io->cap = cap;
	return 0;
}

static const uint32_t wire_type[] = {
	[VTB_IO_READ] = VTB_BLK_T_IN,
	[VTB_IO_WRITE] = VTB_BLK_T_OUT,
	[VTB_IO_FLUSH] = VTB_BLK_T_FLUSH,
	[VTB_IO_DISCARD] = VTB_BLK_T_DISCARD,
	[VTB_IO_WRITE_ZEROES] = VTB_BLK_T_WRITE_ZEROES,
	[VTB_IO_GET_ID] = VTB_BLK_T_GET_ID,
};

static int blk_vq_queue(struct vtb_gen *g, struct vtb_io *io)
{
	struct vtb_sg sg[3] = { { io->e.addr[0], 16 }, { io->e.addr[1], io->len }, { io->e.addr[2], 1 } };
	unsigned nout = 1, nin = 2;
	uint64_t sector = io->offset / VTB_BLK_SECTOR;
	if (io->op > VTB_IO_GET_ID)
		return -EINVAL;
	switch (io->op) {
	case VTB_IO_WRITE:
		nout = 2, nin = 1;
		break;
	case VTB_IO_FLUSH:
		sg[1] = sg[2];
		nin = 1;
		sector = 0;
		break;
	case VTB_IO_DISCARD:
	case VTB_IO_WRITE_ZEROES: {
		struct vtb_blk_dwz seg = { .sector = vtb_le64(sector), .num_sectors = vtb_le32(io->len / VTB_BLK_SECTOR) };
		memcpy(io->buf, &seg, sizeof(seg));
		sg[1].len = sizeof(seg);
		nout = 2, nin = 1;
		sector = 0;
		break;
	}
	case VTB_IO_GET_ID:
		sector = 0;
		break;
	default:
		break;
	}
	*HDR(io) = (struct vtb_blk_outhdr){ .type = vtb_le32(wire_type[io->op]), .sector = vtb_le64(sector) };
	*STATUS(io) = 0xff;
	return g->t->fe_add(g->x, io->stream, sg, nout, nin, io);
}

/* The used length covers the device-writable part: data read, then the
 * status byte. */
static struct vtb_io *blk_vq_getevent(struct vtb_gen *g, unsigned stream)
{
	uint32_t len;
	struct vtb_io *io = g->t->fe_get(g->x, stream, &len);
	if (!io)
		return NULL;
	uint8_t st = *STATUS(io);
	io->raw = st;
	io->res = len ? len - 1 : 0;
	io->status = !len ? VTB_IO_EPROTO : st == VTB_BLK_S_OK ? VTB_IO_OK : st == VTB_BLK_S_IOERR ? VTB_IO_EIO
		   : st == VTB_BLK_S_UNSUPP ? VTB_IO_EUNSUPP : VTB_IO_EPROTO;
	return io;
}

const struct vtb_engine_ops vtb_engine_vq_blk = {
	.name = "vq",
	.device = "blk",
	.flags = VTB_ENGINE_F_DMA | VTB_ENGINE_F_WIRE,
	.nstreams = 1,
	.features = vtb_vq_features,
	.config = vtb_vq_config,
	.io_init = blk_vq_io_init,
	.queue = blk_vq_queue,
	.commit = vtb_vq_commit,
	.getevent = blk_vq_getevent,
	.broken = vtb_vq_broken,
	.wait = vtb_vq_wait,
};
