/* net workload: the model in sink / source / echo, and a generator for
 * mode=tx (BE sinks), rx (BE sources) and rr (BE echoes) through any
 * engine (engine.h; the virtqueue one is net_vq.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../workload.h"
#include "vtb_net.h"

static enum vtb_net_mode be_mode(const char *mode)
{
	return !strcmp(mode, "tx") ? VTB_NET_SINK : !strcmp(mode, "rx") ? VTB_NET_SOURCE : VTB_NET_ECHO;
}

static int net_check(const struct vtb_cellp *cp, char *err, size_t n)
{
	if (strcmp(cp->mode, "tx") && strcmp(cp->mode, "rx") && strcmp(cp->mode, "rr"))
		return snprintf(err, n, "mode=%s: expected tx, rx or rr", cp->mode), -1;
	if (cp->size != VTB_NET_IMIX && (cp->size < (int)VTB_NET_MIN_FRAME || cp->size > (int)VTB_NET_MAX_FRAME))
		return snprintf(err, n, "size=%d: net frames are %u..%u bytes or imix", cp->size,
				VTB_NET_MIN_FRAME, VTB_NET_MAX_FRAME), -1;
	if (cp->qd * 2 > cp->qsize)
		return snprintf(err, n, "qd=%u: net needs qsize >= 2*qd (qsize=%u)", cp->qd, cp->qsize), -1;
	return 0;
}

/* ------------------------------------------------------------ BE */
static int net_be_init(const struct vtb_cellp *cp, struct vtb_xenv *env, const struct vtb_dev_io *io, void **out)
{
	void *m = calloc(1, vtb_net_memsize() + sizeof(struct vtb_net_config));
	if (!m)
		return -ENOMEM;
	struct vtb_net *n = vtb_net_init(m, be_mode(cp->mode), cp->size, cp->seed, cp->verify, io);
	if (!n) {
		free(m);
		return -EINVAL;
	}
	struct vtb_net_config *cfg = (void *)((char *)m + vtb_net_memsize());
	vtb_net_config(n, cfg);
	env->device_id = VTB_ID_NET;
	env->device_features = VTB_NET_FEATURES;
	env->config = cfg;
	env->config_len = sizeof(*cfg);
	*out = n;
	return 0;
}

static void net_be_start(void *dev, uint64_t f) { (void)dev; (void)f; }
static int net_be_process(void *dev, unsigned budget) { return vtb_net_process(dev, budget); }

static uint32_t net_be_wake(void *dev) { return vtb_net_wake_mask(dev); }

static unsigned net_be_stats(void *dev, const char **names, uint64_t *vals)
{
	const struct vtb_net_stats *s = vtb_net_stats(dev);
	names[0] = "tx_frames"; vals[0] = s->tx_frames;
	names[1] = "rx_frames"; vals[1] = s->rx_frames;
	names[2] = "drops"; vals[2] = s->drops;
	names[3] = "bad_frames"; vals[3] = s->bad_frames;
	names[4] = "verify_errors"; vals[4] = s->verify_errors;
	return 5;
}

static void net_be_fini(void *dev) { free(dev); }

/* ------------------------------------------------------------ FE */
/* Frames to send and frames to expect, through any engine (net_vq.c by
 * default). */
struct net_buf {
	struct vtb_io io;	/* first: the engine hands it back */
	uint64_t seq;
	uint64_t t_submit;
	bool busy;		/* rx: posted (tx buffers in flight are those off tx_free) */
};

struct net_gen {
	bool rx_mode, rr;	/* cp->mode, compared once */
	uint64_t tx_seq;	/* next frame we send */
	uint64_t rx_seq;	/* next frame we expect */
	unsigned ntx, nrx;
	struct net_buf *tx, *rx;
	/* TX buffers not in flight, a FIFO of ntx slots: O(1) per frame at
	 * any depth, and with completions in order each buffer comes round
	 * with the same descriptor, so the ring's descriptors and entries
	 * repeat lap after lap and are not rewritten (vtb_virtq.c). */
	struct net_buf **tx_free;
	unsigned ntx_free, tx_rd;
	/* rr: submit times of frames in flight, by seq % qd (echo keeps order) */
	uint64_t *sent_at;
};

static uint32_t max_frame(const struct vtb_cellp *cp)
{
	return cp->size == VTB_NET_IMIX ? 1518 : (uint32_t)cp->size;
}

static int alloc_bufs(struct vtb_gen *g, struct net_buf **bufs, unsigned n, unsigned stream, uint8_t op)
{
	*bufs = calloc(n, sizeof(**bufs));
	if (!*bufs)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		int e = g->eng->io_init(g, &(*bufs)[i].io, stream, max_frame(g->cp), 0);
		if (e)
			return e;
		(*bufs)[i].io.op = op;
	}
	return 0;
}

static int post_rx(struct vtb_gen *g, struct net_buf *b, uint64_t now)
{
	b->t_submit = now;
	b->busy = true;
	return g->eng->queue(g, &b->io);
}

static int net_fe_init(struct vtb_gen *g)
{
	const struct vtb_cellp *cp = g->cp;
	struct net_gen *n = calloc(1, sizeof(*n));
	int e;
	if (!n)
		return -ENOMEM;
	g->priv = n;
	if (!g->eng)
		g->eng = &vtb_engine_vq_net;
	if (g->eng->open && (e = g->eng->open(g)))
		return e;
	n->rx_mode = !strcmp(cp->mode, "rx");
	n->rr = !strcmp(cp->mode, "rr");
	bool tx = strcmp(cp->mode, "rx") != 0, rx = strcmp(cp->mode, "tx") != 0;
	n->ntx = tx ? cp->qd : 0;
	n->nrx = rx ? cp->qd : 0;
	n->sent_at = calloc(cp->qd, sizeof(uint64_t));
	n->tx_free = calloc(n->ntx + 1, sizeof(*n->tx_free));	/* +1: never calloc(0) (rx mode) */
	if (!n->sent_at || !n->tx_free)
		return -ENOMEM;
	if ((e = alloc_bufs(g, &n->tx, n->ntx, VTB_NET_Q_TX, VTB_IO_SEND)) ||
	    (e = alloc_bufs(g, &n->rx, n->nrx, VTB_NET_Q_RX, VTB_IO_RECV)))
		return e;
	for (unsigned i = 0; i < n->ntx; i++)
		n->tx_free[n->ntx_free++] = &n->tx[i];
	struct vtb_net_config cfg;
	g->eng->config(g, 0, &cfg, sizeof(cfg));
	if (cfg.mac[0] != 0x52 || !(vtb_le16(cfg.status) & 1))
		vtb_gen_fail(g, "config: unexpected MAC or link down");
	/* rr posts its RX buffers up front; rx mode posts them as its ops. */
	if (n->rr) {
		for (unsigned i = 0; i < n->nrx; i++)
			if (post_rx(g, &n->rx[i], 0))
				return -ENOSPC;
		g->eng->commit(g, VTB_NET_Q_RX);
	}
	return 0;
}

static int net_fe_submit(struct vtb_gen *g, uint64_t now)
{
	struct net_gen *n = g->priv;
	const struct vtb_cellp *cp = g->cp;
	if (n->rx_mode) {
		for (unsigned i = 0; i < n->nrx; i++) {
			if (n->rx[i].busy)
				continue;
			int e = post_rx(g, &n->rx[i], now);
			if (e)
				return e;
			g->inflight++;
			return 1;
		}
		return 0;
	}
	if (g->inflight >= cp->qd)
		return 0;
	if (!n->ntx_free)
		return 0;	/* TX completions are still on their way */
	struct net_buf *b = n->tx_free[n->tx_rd];
	/* The next frame's line is the device's since it read it: ask for it
	 * now, so the stores below and the next ones do not wait in turn. */
	if (n->ntx_free > 1)
		__builtin_prefetch(n->tx_free[n->tx_rd + 1 == n->ntx ? 0 : n->tx_rd + 1]->io.buf, 1);
	uint32_t len = vtb_net_frame_size(cp->size, n->tx_seq);
	if (cp->verify) {
		vtb_net_frame_fill(cp->seed, n->tx_seq, b->io.buf, len);
	} else {	/* headers and seq only: a sender writes at least those */
		vtb_net_frame_fill(cp->seed, n->tx_seq, b->io.buf, VTB_NET_PAYLOAD_OFF);
	}
	b->io.len = len;
	int e = g->eng->queue(g, &b->io);
	if (e)
		return e == -VTB_ENOSPC ? 0 : e;
	n->ntx_free--;
	n->tx_rd = n->tx_rd + 1 == n->ntx ? 0 : n->tx_rd + 1;
	b->seq = n->tx_seq;
	b->t_submit = now;
	n->sent_at[n->tx_seq % cp->qd] = now;
	n->tx_seq++;
	g->inflight++;
	return 1;
}

static int net_fe_reap(struct vtb_gen *g)
{
	struct net_gen *n = g->priv;
	const struct vtb_cellp *cp = g->cp;
	const struct vtb_engine_ops *eng = g->eng;
	bool rr = n->rr;
	struct net_buf *b;
	int progress = 0;
	bool repost = false;

	while ((b = (struct net_buf *)eng->getevent(g, VTB_NET_Q_TX))) {
		unsigned wr = n->tx_rd + n->ntx_free;
		n->tx_free[wr >= n->ntx ? wr - n->ntx : wr] = b;
		n->ntx_free++;
		progress++;
		if (!rr) {
			g->inflight--;
			g->done(g, b->t_submit, vtb_net_frame_size(cp->size, b->seq));
		}
	}
	while ((b = (struct net_buf *)eng->getevent(g, VTB_NET_Q_RX))) {
		b->busy = false;
		uint64_t seq = 0;
		uint32_t flen = b->io.res;
		if (b->io.status != VTB_IO_OK || flen < VTB_NET_MIN_FRAME ||
		    vtb_net_frame_check(cp->seed, b->io.buf, flen, cp->verify, &seq))
			vtb_gen_fail(g, "rx frame %llu: bad length %u or contents", (unsigned long long)n->rx_seq, flen);
		else if (seq != n->rx_seq || flen != vtb_net_frame_size(cp->size, seq))
			vtb_gen_fail(g, "rx: got frame %llu of %u bytes, expected frame %llu",
				     (unsigned long long)seq, flen, (unsigned long long)n->rx_seq);
		n->rx_seq++;
		g->inflight--;
		g->done(g, rr ? n->sent_at[seq % cp->qd] : b->t_submit, flen);
		progress++;
		if (rr) {
			if (post_rx(g, b, 0))
				return -EPROTO;
			repost = true;
		}
	}
	if (repost)
		eng->commit(g, VTB_NET_Q_RX);
	return eng->broken(g) ? -EPROTO : progress;
}

static void net_fe_fini(struct vtb_gen *g)
{
	struct net_gen *n = g->priv;
	if (g->eng && g->eng->close)
		g->eng->close(g);
	if (!n)
		return;
	free(n->tx);
	free(n->tx_free);
	free(n->rx);
	free(n->sent_at);
	free(n);
}

const struct vtb_workload_ops vtb_workload_net = {
	.name = "net",
	.desc = "virtio-net: 12-byte v1 header, RX/TX pair; mode=tx (BE sink), rx (BE source), rr (BE echo)",
	.virtio_id = VTB_ID_NET,
	.nqueues = 2,
	.check = net_check,
	.be_init = net_be_init,
	.be_start = net_be_start,
	.be_process = net_be_process,
	.be_wake_mask = net_be_wake,
	.be_stats = net_be_stats,
	.be_fini = net_be_fini,
	.fe_features = VTB_NET_FEATURES,
	.fe_init = net_fe_init,
	.fe_submit = net_fe_submit,
	.fe_reap = net_fe_reap,
	.fe_fini = net_fe_fini,
};
