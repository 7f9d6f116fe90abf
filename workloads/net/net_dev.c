#include "vtb_net.h"
#include "../vtb_pattern.h"
#include "../../harness/guest_net.h"	/* the guest's framing, one definition for every peer */

struct vtb_net {
	struct vtb_dev_io io;
	enum vtb_net_mode mode;
	int size;
	uint64_t seed;
	uint64_t src_seq;	/* next frame the source generates */
	bool verify;
	bool tx_held;		/* echo: a TX frame waits for an RX buffer */
	struct vtb_req tx;
	struct vtb_net_stats stats;
	/* GUEST */
	uint32_t echo_len;	/* n->frame waits for an RX buffer to go back in */
	uint32_t pull_left;	/* frames of a pull still to send */
	int pull_size;
	uint64_t next_seq;	/* the guest's next frame */
	uint64_t peer_seq;	/* the peer's own stream */
	uint8_t frame[VTB_NET_MAX_FRAME];	/* linearised frame */
	uint8_t block[VTB_GN_BLOCK];	/* the boot's payload block (GUEST) */
};
_Static_assert(VTB_GN_MAX == VTB_NET_MAX_FRAME, "the guest's largest frame fits the model's");

static const uint8_t fe_mac[6] = { 0x52, 0x54, 0x00, 0x76, 0x74, 0x01 };
static const uint8_t be_mac[6] = { 0x52, 0x54, 0x00, 0x76, 0x74, 0x02 };

/* IMIX, the classic 7:4:1 of 64, 594 and 1518 bytes, interleaved. */
static const uint16_t imix[12] = { 64, 594, 64, 64, 1518, 64, 594, 64, 64, 594, 64, 594 };

uint32_t vtb_net_frame_size(int size, uint64_t seq)
{
	return size == VTB_NET_IMIX ? imix[seq % 12] : (uint32_t)size;
}

void vtb_net_frame_fill(uint64_t seed, uint64_t seq, void *frame, uint32_t len)
{
	uint8_t *f = frame;
	uint64_t le = vtb_le64(seq);
	vtb_memcpy(f, fe_mac, 6);
	vtb_memcpy(f + 6, be_mac, 6);
	f[12] = VTB_NET_ETHERTYPE >> 8;
	f[13] = VTB_NET_ETHERTYPE & 0xff;
	vtb_memcpy(f + 14, &le, 8);
	if (len > VTB_NET_PAYLOAD_OFF)	/* headers only: no stream to seed */
		vtb_pattern_fill(seed, seq, f + VTB_NET_PAYLOAD_OFF, len - VTB_NET_PAYLOAD_OFF);
}

int vtb_net_frame_check(uint64_t seed, const void *frame, uint32_t len, bool full, uint64_t *seq)
{
	const uint8_t *f = frame;
	uint64_t le;
	if (len < VTB_NET_MIN_FRAME || len > VTB_NET_MAX_FRAME ||
	    f[12] != (VTB_NET_ETHERTYPE >> 8) || f[13] != (VTB_NET_ETHERTYPE & 0xff))
		return -VTB_EPROTO;
	vtb_memcpy(&le, f + 14, 8);
	*seq = vtb_le64(le);
	if (full && !vtb_pattern_check(seed, *seq, f + VTB_NET_PAYLOAD_OFF, len - VTB_NET_PAYLOAD_OFF))
		return -VTB_EPROTO;
	return 0;
}

size_t vtb_net_memsize(void)
{
	return sizeof(struct vtb_net);
}

struct vtb_net *vtb_net_init(void *mem, enum vtb_net_mode mode, int size, uint64_t seed,
			     bool verify, const struct vtb_dev_io *io)
{
	if (!mem || !io || mode > VTB_NET_GUEST)
		return NULL;
	if (size != VTB_NET_IMIX && (size < (int)VTB_NET_MIN_FRAME || size > (int)VTB_NET_MAX_FRAME))
		return NULL;
	struct vtb_net *n = mem;
	vtb_memset(n, 0, sizeof(*n));
	n->io = *io;
	n->mode = mode;
	n->size = size;
	n->seed = seed;
	n->verify = verify;
	if (mode == VTB_NET_GUEST)
		vtb_gn_block(n->block, seed);
	return n;
}

void vtb_net_config(const struct vtb_net *n, struct vtb_net_config *c)
{
	(void)n;
	vtb_memset(c, 0, sizeof(*c));
	vtb_memcpy(c->mac, fe_mac, 6);
	c->status = vtb_le16(1);	/* VIRTIO_NET_S_LINK_UP */
	c->max_virtqueue_pairs = vtb_le16(1);
	c->mtu = vtb_le16(VTB_NET_MAX_FRAME - 14);
}

/* Copies a TX chain's frame (after the header) into n->frame; 0 if bad.
 * Echo returns whatever a real stack sends (an ARP request is 42 bytes,
 * unpadded on virtio), so there only an Ethernet header is required;
 * sink and source keep vtbench's own minimum. */
static uint32_t net_take_tx(struct vtb_net *n, const struct vtb_req *r)
{
	uint32_t hl = sizeof(struct vtb_net_hdr_v1);
	uint32_t min = n->mode == VTB_NET_ECHO || n->mode == VTB_NET_GUEST ? VTB_NET_ETH_HDR : VTB_NET_MIN_FRAME;
	if (r->out_bytes < hl + min || r->out_bytes - hl > VTB_NET_MAX_FRAME) {
		n->stats.bad_frames++;
		return 0;
	}
	uint32_t len = r->out_bytes - hl;
	vtb_req_read(r, hl, n->frame, len);
	n->stats.tx_frames++;
	n->stats.tx_bytes += len;
	return len;
}

/* Writes header + frame into an RX chain; returns used length, 0 = dropped. */
static uint32_t net_deliver(struct vtb_net *n, const struct vtb_req *rx, uint32_t len)
{
	struct vtb_net_hdr_v1 h = { .num_buffers = vtb_le16(1) };
	if (rx->nout || rx->in_bytes < sizeof(h) + len) {
		n->stats.drops++;
		return 0;
	}
	vtb_req_write(rx, 0, &h, sizeof(h));
	vtb_req_write(rx, sizeof(h), n->frame, len);
	n->stats.rx_frames++;
	n->stats.rx_bytes += len;
	return (uint32_t)sizeof(h) + len;
}

static int net_sink(struct vtb_net *n, unsigned budget)
{
	struct vtb_req r;
	unsigned done = 0;
	while (done < budget) {
		int got = n->io.pop(n->io.ctx, VTB_NET_Q_TX, &r);
		if (got <= 0)
			return got < 0 ? got : (int)done;
		uint32_t len = net_take_tx(n, &r);
		uint64_t seq;
		if (len && n->verify && vtb_net_frame_check(n->seed, n->frame, len, true, &seq))
			n->stats.verify_errors++;
		int e = n->io.push(n->io.ctx, &r, 0);
		if (e)
			return e;
		done++;
	}
	return (int)done;
}

static int net_source(struct vtb_net *n, unsigned budget)
{
	struct vtb_req r;
	unsigned done = 0;
	while (done < budget) {
		int got = n->io.pop(n->io.ctx, VTB_NET_Q_RX, &r);
		if (got <= 0)
			return got < 0 ? got : (int)done;
		uint32_t len = vtb_net_frame_size(n->size, n->src_seq);
		vtb_net_frame_fill(n->seed, n->src_seq, n->frame, len);
		n->src_seq++;
		int e = n->io.push(n->io.ctx, &r, net_deliver(n, &r, len));
		if (e)
			return e;
		done++;
	}
	return (int)done;
}

static int net_echo(struct vtb_net *n, unsigned budget)
{
	struct vtb_req rx;
	unsigned done = 0;
	while (done < budget) {
		if (!n->tx_held) {
			int got = n->io.pop(n->io.ctx, VTB_NET_Q_TX, &n->tx);
			if (got <= 0)
				return got < 0 ? got : (int)done;
			n->tx_held = true;
			/* The frame's line comes from the driver's CPU: fetch it
			 * while the RX queue is looked at, not after. */
			if (n->tx.nout)
				__builtin_prefetch(n->tx.iov[0].base);
		}
		int got = n->io.pop(n->io.ctx, VTB_NET_Q_RX, &rx);
		if (got < 0)
			return got;
		if (!got)	/* keep the frame until the FE posts a buffer */
			return (int)done;
		n->tx_held = false;
		uint32_t len = net_take_tx(n, &n->tx);
		/* TX completes first: the frame has been copied out of it. */
		int e = n->io.push(n->io.ctx, &n->tx, 0);
		if (!e)
			e = n->io.push(n->io.ctx, &rx, len ? net_deliver(n, &rx, len) : 0);
		if (e)
			return e;
		done++;
	}
	return (int)done;
}

/* GUEST: into one RX buffer, what is owed first (the echo of the last
 * frame taken, then a pull's frames); 0 when nothing is owed, 1 when a
 * buffer took it, 2 when none was posted. */
static int guest_give(struct vtb_net *n)
{
	if (!n->echo_len && !n->pull_left)
		return 0;
	struct vtb_req rx;
	int got = n->io.pop(n->io.ctx, VTB_NET_Q_RX, &rx);
	if (got <= 0)
		return got < 0 ? got : 2;
	uint32_t len = n->echo_len;
	if (len) {
		n->echo_len = 0;
	} else {
		len = vtb_gn_size(n->pull_size, n->peer_seq);
		vtb_gn_frame_to(n->frame, vtb_gn_guest_mac, vtb_gn_peer_mac, len, n->block, n->peer_seq++, 0);
		n->pull_left--;
		n->stats.peer_sent++;
		n->stats.peer_sent_bytes += len;
	}
	int e = n->io.push(n->io.ctx, &rx, net_deliver(n, &rx, len));
	return e ? e : 1;
}

static int net_guest(struct vtb_net *n, unsigned budget)
{
	unsigned done = 0;
	while (done < budget) {
		int g = guest_give(n);
		if (g < 0)
			return g;
		if (g == 2)	/* owed, no buffer: wait for the FE to post one */
			return (int)done;
		if (g == 1) {
			done++;
			continue;
		}
		struct vtb_req r;
		int got = n->io.pop(n->io.ctx, VTB_NET_Q_TX, &r);
		if (got <= 0)
			return got < 0 ? got : (int)done;
		uint32_t len = net_take_tx(n, &r);
		int e = n->io.push(n->io.ctx, &r, 0);	/* copied out: TX completes */
		if (e)
			return e;
		done++;
		if (!len)
			continue;
		struct vtb_gn_taken t = vtb_gn_take(n->frame, len, n->block, &n->next_seq, NULL);
		n->stats.peer_other += t.other;
		n->stats.peer_gaps += t.gap;
		n->stats.peer_bad += t.bad;
		if (t.counted) {
			n->stats.peer_frames++;
			n->stats.peer_bytes += len;
		}
		if (t.echo)
			n->echo_len = len;
		if (t.pull_count) {
			n->stats.peer_pulls++;
			n->pull_left = t.pull_count;
			n->pull_size = t.pull_size;
		}
	}
	return (int)done;
}

int vtb_net_process(struct vtb_net *n, unsigned budget)
{
	switch (n->mode) {
	case VTB_NET_SINK:
		return net_sink(n, budget);
	case VTB_NET_SOURCE:
		return net_source(n, budget);
	case VTB_NET_GUEST:
		return net_guest(n, budget);
	default:
		return net_echo(n, budget);
	}
}

uint32_t vtb_net_wake_mask(const struct vtb_net *n)
{
	if (n->mode == VTB_NET_SINK)
		return 1u << VTB_NET_Q_TX;
	if (n->mode == VTB_NET_SOURCE)
		return 1u << VTB_NET_Q_RX;
	if (n->mode == VTB_NET_GUEST)
		return 1u << (n->echo_len || n->pull_left ? VTB_NET_Q_RX : VTB_NET_Q_TX);
	return 1u << (n->tx_held ? VTB_NET_Q_RX : VTB_NET_Q_TX);
}

const struct vtb_net_stats *vtb_net_stats(const struct vtb_net *n)
{
	return &n->stats;
}
