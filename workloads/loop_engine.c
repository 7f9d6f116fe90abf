/* The loopback engines: abstract I/O served in this process, with no
 * transport, no virtqueue and no virtio header.  blk runs on an in-memory
 * disk, net sinks, sources or echoes frames as the BE's modes do, scmi
 * hands each message to the SCMI server (vtb_scmi_handle) directly.  It
 * proves the generators depend on engine.h alone, and lets a test corrupt
 * a completion to see a generator's verification catch it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vtb_pattern.h"
#include "workload.h"
#include "blk/vtb_blk.h"
#include "net/vtb_net.h"
#include "scmi/vtb_scmi.h"

#define LOOP_MAX 4096u		/* ios per stream at once: above any qd or event ring */

struct loop_stream {
	struct vtb_io *sub[LOOP_MAX];	/* [head, commit): the device's; [commit, tail): not yet */
	unsigned head, commit, tail;
	struct vtb_io *done[LOOP_MAX];
	unsigned dhead, dtail;
};

struct loop {
	const struct vtb_cellp *cp;
	void (*run)(struct loop *l);
	struct loop_stream q[2];
	void **bufs;
	unsigned nbufs;
	uint8_t config[64];
	unsigned corrupt;	/* completions still to corrupt */
	struct vtb_loop_stats st;
	char *disk;		/* blk */
	uint64_t capacity;
	enum vtb_net_mode mode;	/* net */
	uint64_t src_seq;
	void *scmi_mem;		/* scmi */
	struct vtb_scmi *scmi;
	struct vtb_dev_io scmi_io;
};

static struct vtb_io *sub_peek(struct loop_stream *q)
{
	return q->head != q->commit ? q->sub[q->head % LOOP_MAX] : NULL;
}

static void complete(struct loop *l, struct vtb_io *io, uint8_t status, uint32_t res)
{
	struct loop_stream *q = &l->q[io->stream];
	io->status = status;
	io->raw = status;
	io->res = res;
	q->done[q->dtail++ % LOOP_MAX] = io;
}

/* Flips a byte the generator checks: data it reads back, a frame it
 * receives, a response it compares. */
static void maybe_corrupt(struct loop *l, void *p, uint32_t len)
{
	if (!l->corrupt || !len)
		return;
	l->corrupt--;
	((uint8_t *)p)[len - 1] ^= 0x40;
}

/* ------------------------------------------------------------ blk */
static void blk_run(struct loop *l)
{
	struct loop_stream *q = &l->q[0];
	struct vtb_io *io;
	while ((io = sub_peek(q))) {
		q->head++;
		uint64_t end = io->offset + io->len;
		bool in = io->offset <= l->capacity && end <= l->capacity;
		switch (io->op) {
		case VTB_IO_READ:
			if (!in) {
				complete(l, io, VTB_IO_EIO, 0);
				break;
			}
			memcpy(io->buf, l->disk + io->offset, io->len);
			maybe_corrupt(l, io->buf, io->len);
			l->st.reads++;
			l->st.bytes_read += io->len;
			complete(l, io, VTB_IO_OK, io->len);
			break;
		case VTB_IO_WRITE:
			if (!in) {
				complete(l, io, VTB_IO_EIO, 0);
				break;
			}
			memcpy(l->disk + io->offset, io->buf, io->len);
			l->st.writes++;
			l->st.bytes_written += io->len;
			complete(l, io, VTB_IO_OK, 0);
			break;
		case VTB_IO_DISCARD:
		case VTB_IO_WRITE_ZEROES:
			if (in)
				memset(l->disk + io->offset, 0, io->len);
			complete(l, io, in ? VTB_IO_OK : VTB_IO_EIO, 0);
			break;
		case VTB_IO_FLUSH:
			complete(l, io, VTB_IO_OK, 0);
			break;
		case VTB_IO_GET_ID:
			memset(io->buf, 0, io->len);
			memcpy(io->buf, "vtbench-blk", io->len < 11 ? io->len : 11);
			complete(l, io, VTB_IO_OK, io->len);
			break;
		default:
			complete(l, io, VTB_IO_EUNSUPP, 0);
			break;
		}
	}
}

static int blk_open(struct loop *l)
{
	struct vtb_blk_config cfg = { .capacity = vtb_le64(l->cp->disk / VTB_BLK_SECTOR) };
	l->capacity = l->cp->disk;
	l->disk = calloc(1, l->capacity);
	if (!l->disk)
		return -ENOMEM;
	/* Generation 0 of every sector, as blk_wl.c's BE writes it. */
	if (l->cp->verify)
		for (uint64_t s = 0; s < l->capacity / VTB_BLK_SECTOR; s++)
			vtb_pattern_fill(l->cp->seed, s << 32, l->disk + s * VTB_BLK_SECTOR, VTB_BLK_SECTOR);
	memcpy(l->config, &cfg, sizeof(cfg));
	l->run = blk_run;
	return 0;
}

/* ------------------------------------------------------------ net */
static void net_run(struct loop *l)
{
	struct loop_stream *tx = &l->q[VTB_NET_Q_TX], *rx = &l->q[VTB_NET_Q_RX];
	struct vtb_io *t, *r;
	uint64_t seq;
	switch (l->mode) {
	case VTB_NET_SINK:
		while ((t = sub_peek(tx))) {
			tx->head++;
			if (vtb_net_frame_check(l->cp->seed, t->buf, t->len, l->cp->verify, &seq))
				l->st.sink_errors++;
			l->st.frames_tx++;
			complete(l, t, VTB_IO_OK, 0);
		}
		break;
	case VTB_NET_SOURCE:
		while ((r = sub_peek(rx))) {
			rx->head++;
			uint32_t len = vtb_net_frame_size(l->cp->size, l->src_seq);
			vtb_net_frame_fill(l->cp->seed, l->src_seq++, r->buf, len);
			maybe_corrupt(l, r->buf, len);
			l->st.frames_rx++;
			complete(l, r, VTB_IO_OK, len);
		}
		break;
	default:	/* echo: a frame waits on its queue until a buffer is posted */
		while ((t = sub_peek(tx)) && (r = sub_peek(rx))) {
			tx->head++;
			rx->head++;
			memcpy(r->buf, t->buf, t->len);
			maybe_corrupt(l, r->buf, t->len);
			l->st.frames_tx++;
			l->st.frames_rx++;
			complete(l, t, VTB_IO_OK, 0);
			complete(l, r, VTB_IO_OK, t->len);
		}
		break;
	}
}

static int net_open(struct loop *l)
{
	struct vtb_net_config cfg = { .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 }, .status = vtb_le16(1) };
	const char *m = l->cp->mode;
	l->mode = !strcmp(m, "tx") ? VTB_NET_SINK : !strcmp(m, "rx") ? VTB_NET_SOURCE : VTB_NET_ECHO;
	memcpy(l->config, &cfg, sizeof(cfg));
	l->run = net_run;
	return 0;
}

/* ------------------------------------------------------------ scmi */
/* The server's own queue hooks carry only notifications here: each pop
 * hands it the next posted notification buffer as a flat iov. */
static int scmi_pop(void *ctx, unsigned qi, struct vtb_req *req)
{
	struct loop *l = ctx;
	struct vtb_io *io;
	if (qi != VTB_SCMI_Q_EVENT || !(io = sub_peek(&l->q[qi])))
		return 0;
	l->q[qi].head++;
	memset(req, 0, sizeof(*req));
	req->iov[0] = (struct vtb_iov){ io->buf, io->cap };
	req->nin = 1;
	req->in_bytes = io->cap;
	req->q = (uint16_t)qi;
	req->priv = io;
	return 1;
}

static int scmi_push(void *ctx, struct vtb_req *req, uint32_t written)
{
	struct loop *l = ctx;
	l->st.notifs += written != 0;
	complete(l, req->priv, VTB_IO_OK, written);
	return 0;
}

static void scmi_run(struct loop *l)
{
	struct loop_stream *q = &l->q[VTB_SCMI_Q_CMD];
	struct vtb_io *io;
	while ((io = sub_peek(q))) {
		q->head++;
		uint32_t n = vtb_scmi_handle(l->scmi, io->buf, io->len, io->rbuf, io->rcap);
		maybe_corrupt(l, io->rbuf, n);
		l->st.calls++;
		complete(l, io, VTB_IO_OK, n);
		/* Notifications go out as they arise, as the device's loop does. */
		vtb_scmi_process(l->scmi, 0);
	}
	vtb_scmi_process(l->scmi, 0);
}

static int scmi_open(struct loop *l)
{
	l->scmi_mem = calloc(1, vtb_scmi_memsize());
	l->scmi_io = (struct vtb_dev_io){ l, scmi_pop, scmi_push };
	if (!l->scmi_mem || !(l->scmi = vtb_scmi_init(l->scmi_mem, l->cp->seed, &l->scmi_io)))
		return -ENOMEM;
	vtb_scmi_set_events(l->scmi, l->cp->events);
	l->run = scmi_run;
	return 0;
}

/* ------------------------------------------------------------ common */
static void loop_close(struct vtb_gen *g)
{
	struct loop *l = g->eng_priv;
	if (!l)
		return;
	for (unsigned i = 0; i < l->nbufs; i++)
		free(l->bufs[i]);
	free(l->bufs);
	free(l->disk);
	free(l->scmi_mem);
	free(l);
	g->eng_priv = NULL;
}

static int loop_open(struct vtb_gen *g, int (*dev_open)(struct loop *))
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cp = g->cp;
	g->eng_priv = l;
	int e = dev_open(l);
	if (e)
		loop_close(g);
	return e;
}

static int loop_open_blk(struct vtb_gen *g) { return loop_open(g, blk_open); }
static int loop_open_net(struct vtb_gen *g) { return loop_open(g, net_open); }
static int loop_open_scmi(struct vtb_gen *g) { return loop_open(g, scmi_open); }

static uint64_t loop_features(struct vtb_gen *g)
{
	struct loop *l = g->eng_priv;
	return l->scmi && l->cp->events ? VTB_BIT(VTB_SCMI_F_P2A_CHANNELS) : 0;
}

static void loop_config(struct vtb_gen *g, uint32_t off, void *buf, uint32_t len)
{
	struct loop *l = g->eng_priv;
	memset(buf, 0, len);
	if (off < sizeof(l->config))
		memcpy(buf, l->config + off, len < sizeof(l->config) - off ? len : sizeof(l->config) - off);
}

static void *loop_buf(struct loop *l, uint32_t n)
{
	void **b = realloc(l->bufs, (l->nbufs + 1) * sizeof(*b));
	if (!b)
		return NULL;
	l->bufs = b;
	return b[l->nbufs++] = calloc(1, n ? n : 1);
}

static int loop_io_init(struct vtb_gen *g, struct vtb_io *io, unsigned stream, uint32_t cap, uint32_t rcap)
{
	struct loop *l = g->eng_priv;
	if (stream > 1 || !(io->buf = loop_buf(l, cap)) || (rcap && !(io->rbuf = loop_buf(l, rcap))))
		return -ENOMEM;
	io->stream = (uint8_t)stream;
	io->cap = cap;
	io->rcap = rcap;
	return 0;
}

static int loop_queue(struct vtb_gen *g, struct vtb_io *io)
{
	struct loop_stream *q = &((struct loop *)g->eng_priv)->q[io->stream];
	if (q->tail - q->head == LOOP_MAX)
		return -VTB_ENOSPC;
	if ((io->op == VTB_IO_SEND || io->op == VTB_IO_CALL) && io->len > io->cap)
		return -EINVAL;
	q->sub[q->tail++ % LOOP_MAX] = io;
	return 0;
}

static void loop_commit(struct vtb_gen *g, int stream)
{
	struct loop *l = g->eng_priv;
	for (unsigned i = 0; i < 2; i++)
		if (stream == VTB_STREAM_ALL || (unsigned)stream == i)
			l->q[i].commit = l->q[i].tail;
}

/* The device runs when the generator looks for completions. */
static struct vtb_io *loop_getevent(struct vtb_gen *g, unsigned stream)
{
	struct loop *l = g->eng_priv;
	struct loop_stream *q = &l->q[stream];
	l->run(l);
	return q->dhead != q->dtail ? q->done[q->dhead++ % LOOP_MAX] : NULL;
}

static bool loop_broken(struct vtb_gen *g)
{
	(void)g;
	return false;
}

static void loop_wait(struct vtb_gen *g)
{
	(void)g;	/* everything committed is served by the next getevent */
}

void vtb_loop_corrupt(struct vtb_gen *g, unsigned n)
{
	((struct loop *)g->eng_priv)->corrupt = n;
}

const struct vtb_loop_stats *vtb_loop_stats(struct vtb_gen *g)
{
	return &((struct loop *)g->eng_priv)->st;
}

#define LOOP_OPS(dev, n) \
	const struct vtb_engine_ops vtb_engine_loop_##dev = { \
		.name = "loop", .device = #dev, .flags = 0, .nstreams = n, \
		.open = loop_open_##dev, .close = loop_close, .features = loop_features, \
		.config = loop_config, .io_init = loop_io_init, .queue = loop_queue, \
		.commit = loop_commit, .getevent = loop_getevent, .broken = loop_broken, \
		.wait = loop_wait, \
	}
LOOP_OPS(blk, 1);
LOOP_OPS(net, 2);
LOOP_OPS(scmi, 2);
