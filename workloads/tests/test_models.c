/* Device models driven through a fake queue: every answer is checked
 * against values computed by hand from the virtio and SCMI specs. */
#include <stdio.h>
#include <string.h>

#include "../../ci/vtb_test.h"
#include "../blk/vtb_blk.h"
#include "../net/vtb_net.h"
#include "../scmi/vtb_scmi.h"
#include "../../harness/guest_net.h"

/* ---------------------------------------------------------------- fake io */
#define FQ 16
struct fake {
	struct vtb_req q[2][FQ];
	unsigned head[2], tail[2];
	struct vtb_req *pushed[32];
	uint32_t written[32];
	unsigned npushed;
};

static int f_pop(void *c, unsigned q, struct vtb_req *r)
{
	struct fake *f = c;
	if (f->head[q] == f->tail[q])
		return 0;
	*r = f->q[q][f->head[q]++ % FQ];
	return 1;
}

static int f_push(void *c, struct vtb_req *r, uint32_t w)
{
	struct fake *f = c;
	f->pushed[f->npushed % 32] = (void *)r->priv;
	f->written[f->npushed % 32] = w;
	f->npushed++;
	return 0;
}

static struct vtb_req *f_add(struct fake *f, unsigned q)
{
	struct vtb_req *r = &f->q[q][f->tail[q]++ % FQ];
	memset(r, 0, sizeof(*r));
	r->q = (uint16_t)q;
	r->priv = r;
	return r;
}

static void seg(struct vtb_req *r, void *base, uint32_t len, bool in)
{
	r->iov[r->nout + r->nin].base = base;
	r->iov[r->nout + r->nin].len = len;
	if (in) {
		r->nin++;
		r->in_bytes += len;
	} else {
		r->nout++;
		r->out_bytes += len;
	}
}

/* ---------------------------------------------------------------- blk */
static unsigned char disk[64 * 512];

static int d_read(void *c, uint64_t o, void *b, uint32_t l) { (void)c; memcpy(b, disk + o, l); return 0; }
static int d_write(void *c, uint64_t o, const void *b, uint32_t l) { (void)c; memcpy(disk + o, b, l); return 0; }
static int flushes;
static int d_flush(void *c) { (void)c; flushes++; return 0; }
static int d_zero(void *c, uint64_t o, uint64_t l) { (void)c; memset(disk + o, 0, l); return 0; }

static uint8_t blk_req(struct vtb_blk *b, struct fake *f, uint32_t type, uint64_t sector,
		       void *out, uint32_t outlen, void *in, uint32_t inlen, uint32_t *written)
{
	struct vtb_blk_outhdr h = { .type = type, .sector = sector };
	uint8_t status = 0xee;
	struct vtb_req *r = f_add(f, 0);
	seg(r, &h, sizeof(h), false);
	if (out)
		seg(r, out, outlen, false);
	if (in)
		seg(r, in, inlen, true);
	seg(r, &status, 1, true);
	unsigned before = f->npushed;
	CHECK_EQ(vtb_blk_process(b, 8), 1);
	CHECK_EQ(f->npushed, before + 1);
	if (written)
		*written = f->written[before % 32];
	return status;
}

static void test_blk(void)
{
	static _Alignas(16) unsigned char mem[4096];
	struct fake f = { 0 };
	struct vtb_dev_io io = { &f, f_pop, f_push };
	struct vtb_blk_storage st = { NULL, d_read, d_write, d_flush, d_zero, d_zero };
	CHECK(vtb_blk_memsize() <= sizeof(mem));
	CHECK(vtb_blk_init(mem, 1000, &st, &io, "x") == NULL);	/* not sector-sized */
	struct vtb_blk *b = vtb_blk_init(mem, sizeof(disk), &st, &io, "vtb-test-disk-id-long!");
	struct vtb_blk_config cfg;
	vtb_blk_config(b, &cfg);
	CHECK_EQ(cfg.capacity, 64);
	CHECK_EQ(cfg.blk_size, 512);
	unsigned char wbuf[1024], rbuf[1024];
	uint32_t w;
	for (unsigned i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (unsigned char)(i * 7 + 1);
	/* OUT then IN, split over two segments on the read side. */
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_OUT, 3, wbuf, 1024, NULL, 0, &w), VTB_BLK_S_OK);
	CHECK_EQ(w, 1);
	CHECK(!memcmp(disk + 3 * 512, wbuf, 1024));
	{
		struct vtb_blk_outhdr h = { .type = VTB_BLK_T_IN, .sector = 3 };
		uint8_t s = 0xee;
		struct vtb_req *r = f_add(&f, 0);
		seg(r, &h, 16, false);
		seg(r, rbuf, 100, true);
		seg(r, rbuf + 100, 924, true);
		seg(r, &s, 1, true);
		vtb_blk_process(b, 8);
		CHECK_EQ(s, VTB_BLK_S_OK);
		CHECK_EQ(f.written[(f.npushed - 1) % 32], 1025);
		CHECK(!memcmp(rbuf, wbuf, 1024));
	}
	/* Bounds: the last sector works, one past fails, a huge sector fails
	 * without overflowing, partial sectors fail. */
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_IN, 63, NULL, 0, rbuf, 512, NULL), VTB_BLK_S_OK);
	/* A failed read still reports the whole writable part (the status
	 * byte ends it), so every byte it counts must have been written:
	 * the data part comes back zeroed (virtio 1.2 2.7.8.2). */
	memset(rbuf, 0xaa, sizeof(rbuf));
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_IN, 63, NULL, 0, rbuf, 1024, &w), VTB_BLK_S_IOERR);
	CHECK_EQ(w, 1025);
	{
		unsigned nz = 0;
		for (unsigned i = 0; i < 1024; i++)
			nz += rbuf[i] != 0;
		CHECK_EQ(nz, 0);
	}
	/* Over several segments, and for an unsupported request with a
	 * data-in part (UNSUPP). */
	{
		struct vtb_blk_outhdr h = { .type = VTB_BLK_T_IN, .sector = 64 };
		uint8_t s = 0xee;
		memset(rbuf, 0xaa, sizeof(rbuf));
		struct vtb_req *r = f_add(&f, 0);
		seg(r, &h, 16, false);
		seg(r, rbuf, 100, true);
		seg(r, rbuf + 100, 412, true);
		seg(r, &s, 1, true);
		vtb_blk_process(b, 8);
		CHECK_EQ(s, VTB_BLK_S_IOERR);
		CHECK_EQ(f.written[(f.npushed - 1) % 32], 513);
		CHECK(rbuf[0] == 0 && rbuf[99] == 0 && rbuf[100] == 0 && rbuf[511] == 0 && rbuf[512] == 0xaa);
	}
	memset(rbuf, 0xaa, sizeof(rbuf));
	CHECK_EQ(blk_req(b, &f, 2 /* SCSI_CMD */, 0, NULL, 0, rbuf, 96, &w), VTB_BLK_S_UNSUPP);
	CHECK_EQ(w, 97);
	CHECK(rbuf[0] == 0 && rbuf[95] == 0 && rbuf[96] == 0xaa);
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_IN, UINT64_MAX / 256, NULL, 0, rbuf, 512, NULL), VTB_BLK_S_IOERR);
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_OUT, 0, wbuf, 100, NULL, 0, NULL), VTB_BLK_S_IOERR);
	/* FLUSH, GET_ID (truncated to 20 bytes, no NUL), unknown type. */
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, NULL), VTB_BLK_S_OK);
	CHECK_EQ(flushes, 1);
	char id[20];
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_GET_ID, 0, NULL, 0, id, 20, &w), VTB_BLK_S_OK);
	CHECK_EQ(w, 21);
	CHECK(!memcmp(id, "vtb-test-disk-id-lon", 20));
	/* A longer ID buffer: the string NUL-padded to the status byte. */
	{
		static _Alignas(16) unsigned char mem2[4096];
		char id2[32];
		memset(id2, 0x55, sizeof(id2));
		struct vtb_blk *b2 = vtb_blk_init(mem2, sizeof(disk), &st, &io, "short");
		CHECK_EQ(blk_req(b2, &f, VTB_BLK_T_GET_ID, 0, NULL, 0, id2, 32, &w), VTB_BLK_S_OK);
		CHECK_EQ(w, 33);
		CHECK(!memcmp(id2, "short", 5) && id2[5] == 0 && id2[31] == 0);
	}
	CHECK_EQ(blk_req(b, &f, 2 /* SCSI_CMD */, 0, NULL, 0, NULL, 0, NULL), VTB_BLK_S_UNSUPP);
	/* WRITE_ZEROES over sectors 3..4; DISCARD with the unmap flag is refused. */
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_OUT, 5, wbuf, 512, NULL, 0, NULL), VTB_BLK_S_OK);
	struct vtb_blk_dwz dz = { .sector = 3, .num_sectors = 2, .flags = VTB_BLK_WZ_FLAG_UNMAP };
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_WRITE_ZEROES, 0, &dz, 16, NULL, 0, NULL), VTB_BLK_S_OK);
	CHECK(disk[3 * 512] == 0 && disk[5 * 512 - 1] == 0 && disk[5 * 512] == wbuf[0]);
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_DISCARD, 0, &dz, 16, NULL, 0, NULL), VTB_BLK_S_UNSUPP);
	dz.flags = 0;
	dz.num_sectors = 100;
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_DISCARD, 0, &dz, 16, NULL, 0, NULL), VTB_BLK_S_IOERR);
	CHECK_EQ(blk_req(b, &f, VTB_BLK_T_DISCARD, 0, &dz, 15, NULL, 0, NULL), VTB_BLK_S_UNSUPP);
	/* No room for a status byte: answered with nothing written. */
	{
		struct vtb_blk_outhdr h = { .type = VTB_BLK_T_IN };
		struct vtb_req *r = f_add(&f, 0);
		seg(r, &h, 16, false);
		vtb_blk_process(b, 8);
		CHECK_EQ(f.written[(f.npushed - 1) % 32], 0);
	}
	CHECK_EQ(vtb_blk_stats(b)->reqs[VTB_BLK_T_OUT], 3);
}

/* ---------------------------------------------------------------- net */
static void test_net(void)
{
	static _Alignas(16) unsigned char mem[32768];
	struct fake f = { 0 };
	struct vtb_dev_io io = { &f, f_pop, f_push };
	unsigned char tx[12 + 200], rx[12 + 1600], frame[200];
	uint64_t seq;

	CHECK(vtb_net_init(mem, VTB_NET_SINK, 20, 1, true, &io) == NULL);	/* runt */
	struct vtb_net *n = vtb_net_init(mem, VTB_NET_ECHO, 100, 7, true, &io);
	struct vtb_net_config cfg;
	vtb_net_config(n, &cfg);
	CHECK_EQ(cfg.status, 1);
	CHECK_EQ(cfg.max_virtqueue_pairs, 1);
	/* Echo waits for an RX buffer, then returns the frame with num_buffers=1. */
	memset(tx, 0, 12);
	vtb_net_frame_fill(7, 41, tx + 12, 200);
	seg(f_add(&f, VTB_NET_Q_TX), tx, sizeof(tx), false);
	CHECK_EQ(vtb_net_process(n, 8), 0);
	CHECK_EQ(vtb_net_wake_mask(n), 1u << VTB_NET_Q_RX);
	seg(f_add(&f, VTB_NET_Q_RX), rx, sizeof(rx), true);
	CHECK_EQ(vtb_net_process(n, 8), 1);
	CHECK_EQ(vtb_net_wake_mask(n), 1u << VTB_NET_Q_TX);
	CHECK_EQ(f.npushed, 2);
	CHECK_EQ(f.written[0], 0);		/* TX completes with nothing written */
	CHECK_EQ(f.written[1], 12 + 200);
	CHECK_EQ(((struct vtb_net_hdr_v1 *)rx)->num_buffers, 1);
	CHECK_EQ(vtb_net_frame_check(7, rx + 12, 200, true, &seq), 0);
	CHECK_EQ(seq, 41);
	/* A corrupted payload fails the full check but not the header check. */
	rx[100] ^= 1;
	CHECK(vtb_net_frame_check(7, rx + 12, 200, true, &seq) != 0);
	CHECK_EQ(vtb_net_frame_check(7, rx + 12, 200, false, &seq), 0);
	/* RX buffer too small: dropped, used length 0. */
	seg(f_add(&f, VTB_NET_Q_TX), tx, sizeof(tx), false);
	seg(f_add(&f, VTB_NET_Q_RX), rx, 50, true);
	CHECK_EQ(vtb_net_process(n, 8), 1);
	CHECK_EQ(f.written[3], 0);
	CHECK_EQ(vtb_net_stats(n)->drops, 1);
	/* Echo returns any frame a stack sends, byte for byte: a 42-byte ARP
	 * request (no padding on virtio), not vtbench's ethertype. */
	{
		unsigned char arp[12 + 42], back[12 + 64];
		memset(arp, 0, 12);
		for (unsigned i = 0; i < 42; i++)
			arp[12 + i] = (unsigned char)(0xff - i);
		arp[12 + 12] = 0x08;
		arp[12 + 13] = 0x06;
		uint64_t before = vtb_net_stats(n)->rx_frames;
		memset(back, 0xee, sizeof(back));
		unsigned np = f.npushed;
		seg(f_add(&f, VTB_NET_Q_TX), arp, sizeof(arp), false);
		seg(f_add(&f, VTB_NET_Q_RX), back, sizeof(back), true);
		CHECK_EQ(vtb_net_process(n, 8), 1);
		CHECK_EQ(f.npushed, np + 2);
		CHECK_EQ(f.written[(np + 1) % 32], 12 + 42);
		CHECK(!memcmp(back + 12, arp + 12, 42));
		CHECK_EQ(vtb_net_stats(n)->rx_frames, before + 1);
		/* Shorter than an Ethernet header: a bad frame, not echoed. */
		unsigned bad0 = (unsigned)vtb_net_stats(n)->bad_frames;
		seg(f_add(&f, VTB_NET_Q_TX), arp, 12 + 13, false);
		seg(f_add(&f, VTB_NET_Q_RX), back, sizeof(back), true);
		CHECK_EQ(vtb_net_process(n, 8), 1);
		CHECK_EQ(vtb_net_stats(n)->bad_frames, bad0 + 1);
		CHECK_EQ(f.written[(np + 3) % 32], 0);
	}

	/* Source: frames in sequence, IMIX sizes 7:4:1. */
	memset(&f, 0, sizeof(f));
	n = vtb_net_init(mem, VTB_NET_SOURCE, VTB_NET_IMIX, 3, false, &io);
	unsigned sizes[3] = { 0 };
	for (int k = 0; k < 12; k++) {
		seg(f_add(&f, VTB_NET_Q_RX), rx, sizeof(rx), true);
		CHECK_EQ(vtb_net_process(n, 1), 1);
		uint32_t len = f.written[k] - 12;
		CHECK_EQ(vtb_net_frame_check(3, rx + 12, len, true, &seq), 0);
		CHECK_EQ(seq, (uint64_t)k);
		sizes[len == 64 ? 0 : len == 594 ? 1 : 2]++;
	}
	CHECK(sizes[0] == 7 && sizes[1] == 4 && sizes[2] == 1);

	/* Sink with verification counts bad payloads; runts are bad frames. */
	memset(&f, 0, sizeof(f));
	n = vtb_net_init(mem, VTB_NET_SINK, 64, 5, true, &io);
	vtb_net_frame_fill(5, 0, frame, 200);
	memcpy(tx + 12, frame, 200);
	seg(f_add(&f, VTB_NET_Q_TX), tx, sizeof(tx), false);
	unsigned char bad[sizeof(tx)];
	memcpy(bad, tx, sizeof(tx));
	bad[150] ^= 0xff;
	seg(f_add(&f, VTB_NET_Q_TX), bad, sizeof(bad), false);
	seg(f_add(&f, VTB_NET_Q_TX), tx, 30, false);
	CHECK_EQ(vtb_net_process(n, 8), 3);
	CHECK_EQ(vtb_net_stats(n)->tx_frames, 2);
	CHECK_EQ(vtb_net_stats(n)->verify_errors, 1);
	CHECK_EQ(vtb_net_stats(n)->bad_frames, 1);
}

/* GUEST: the qemu platform's peer protocol (harness/guest_net.h), as the
 * harness's socket peer speaks it: data frames counted and checked, echoes
 * back with the MACs swapped, a pull answered from the peer's own stream
 * as RX buffers come, gaps, bad payloads and foreign frames counted. */
static void test_net_guest(void)
{
	static _Alignas(16) unsigned char mem[32768];
	static uint8_t block[VTB_GN_BLOCK];
	struct fake f = { 0 };
	struct vtb_dev_io io = { &f, f_pop, f_push };
	static unsigned char tx[8][12 + 128], rx[4][12 + 1600];
	CHECK(vtb_net_memsize() <= sizeof(mem));
	struct vtb_net *n = vtb_net_init(mem, VTB_NET_GUEST, 64, 9, false, &io);
	CHECK(n != NULL);
	vtb_gn_block(block, 9);
	const struct vtb_net_stats *st = vtb_net_stats(n);
	/* seq 0: a data frame, sunk */
	memset(tx, 0, sizeof(tx));
	vtb_gn_frame(tx[0] + 12, 100, block, 0, 0);
	seg(f_add(&f, VTB_NET_Q_TX), tx[0], 12 + 100, false);
	CHECK_EQ(vtb_net_process(n, 8), 1);
	CHECK_EQ(st->peer_frames, 1);
	CHECK_EQ(st->peer_bytes, 100);
	CHECK_EQ(vtb_net_wake_mask(n), 1u << VTB_NET_Q_TX);
	/* seq 1: an echo waits for an RX buffer, comes back MACs swapped */
	vtb_gn_frame(tx[1] + 12, 64, block, 1, VTB_GN_ECHO);
	seg(f_add(&f, VTB_NET_Q_TX), tx[1], 12 + 64, false);
	CHECK_EQ(vtb_net_process(n, 8), 1);
	CHECK_EQ(vtb_net_wake_mask(n), 1u << VTB_NET_Q_RX);
	seg(f_add(&f, VTB_NET_Q_RX), rx[0], sizeof(rx[0]), true);
	CHECK_EQ(vtb_net_process(n, 8), 1);
	CHECK_EQ(f.written[2], 12 + 64);
	CHECK(!memcmp(rx[0] + 12, vtb_gn_guest_mac, 6) && !memcmp(rx[0] + 18, vtb_gn_peer_mac, 6));
	CHECK(!memcmp(rx[0] + 12 + VTB_GN_HDR, vtb_gn_payload(block, 1), 64 - VTB_GN_HDR));
	CHECK_EQ(st->peer_frames, 2);
	/* seq 2: a pull of 3 frames of 80 bytes, answered as buffers come */
	vtb_gn_pull(tx[2] + 12, block, 2, 3, 80);
	seg(f_add(&f, VTB_NET_Q_TX), tx[2], 12 + VTB_GN_MIN, false);
	seg(f_add(&f, VTB_NET_Q_RX), rx[1], sizeof(rx[1]), true);
	seg(f_add(&f, VTB_NET_Q_RX), rx[2], sizeof(rx[2]), true);
	CHECK_EQ(vtb_net_process(n, 8), 3);	/* the pull's TX, then two frames */
	CHECK_EQ(vtb_net_wake_mask(n), 1u << VTB_NET_Q_RX);
	seg(f_add(&f, VTB_NET_Q_RX), rx[3], sizeof(rx[3]), true);
	CHECK_EQ(vtb_net_process(n, 8), 1);
	CHECK_EQ(st->peer_pulls, 1);
	CHECK_EQ(st->peer_sent, 3);
	CHECK_EQ(st->peer_sent_bytes, 240);
	CHECK_EQ(st->peer_frames, 2);		/* a pull is not a data frame */
	for (int k = 0; k < 3; k++) {
		const uint8_t *g = rx[1 + k] + 12;
		CHECK_EQ(f.written[4 + k], 12 + 80);
		CHECK(!memcmp(g, vtb_gn_guest_mac, 6) && vtb_gn_seq(g) == (uint64_t)k);
		CHECK(!memcmp(g + VTB_GN_HDR, vtb_gn_payload(block, (uint64_t)k), 80 - VTB_GN_HDR));
	}
	CHECK_EQ(vtb_net_wake_mask(n), 1u << VTB_NET_Q_TX);
	/* seq 5 after 2: a gap of two; a changed payload byte: bad; another
	 * ethertype: foreign, never echoed */
	vtb_gn_frame(tx[3] + 12, 64, block, 5, 0);
	seg(f_add(&f, VTB_NET_Q_TX), tx[3], 12 + 64, false);
	vtb_gn_frame(tx[4] + 12, 64, block, 6, 0);
	tx[4][12 + 40] ^= 1;
	seg(f_add(&f, VTB_NET_Q_TX), tx[4], 12 + 64, false);
	vtb_gn_frame(tx[5] + 12, 64, block, 7, VTB_GN_ECHO);
	tx[5][12 + 12] = 0x08;
	seg(f_add(&f, VTB_NET_Q_TX), tx[5], 12 + 64, false);
	CHECK_EQ(vtb_net_process(n, 8), 3);
	CHECK_EQ(st->peer_gaps, 2);
	CHECK_EQ(st->peer_bad, 1);
	CHECK_EQ(st->peer_other, 1);
	CHECK_EQ(vtb_net_wake_mask(n), 1u << VTB_NET_Q_TX);	/* nothing owed */
}

/* ---------------------------------------------------------------- scmi */
static uint32_t W(const uint8_t *p, unsigned i)
{
	uint32_t v;
	memcpy(&v, p + 4 * i, 4);
	return v;
}

static uint32_t cmd(struct vtb_scmi *s, uint32_t proto, uint32_t id, const uint32_t *pa, unsigned np,
		    uint8_t *resp)
{
	uint32_t m[16];
	m[0] = VTB_SCMI_HDR(id, 0, proto, 0x155);
	memcpy(m + 1, pa, 4 * np);
	memset(resp, 0xcc, 136);
	return vtb_scmi_handle(s, m, 4 * (np + 1), resp, 136);
}

static void test_scmi(void)
{
	static _Alignas(16) unsigned char mem[8192];
	struct fake f = { 0 };
	struct vtb_dev_io io = { &f, f_pop, f_push };
	struct vtb_scmi *s = vtb_scmi_init(mem, 99, &io);
	uint8_t r[136];
	uint32_t p[4], len;

	/* Header packing per DEN0056 §4.2.2.1 */
	CHECK_EQ(VTB_SCMI_HDR(0x6, 0, 0x15, 0x3ff), 0x6u | (0x15u << 10) | (0x3ffu << 18));
	/* BASE */
	len = cmd(s, 0x10, 0, p, 0, r);
	CHECK_EQ(len, 12);
	CHECK_EQ(W(r, 0), VTB_SCMI_HDR(0, 0, 0x10, 0x155));	/* header echoed, token kept */
	CHECK_EQ(W(r, 1), 0);
	CHECK_EQ(W(r, 2), 0x20000);
	len = cmd(s, 0x10, 1, p, 0, r);
	CHECK_EQ(W(r, 2), (1u << 8) | 3u);	/* 1 agent, 3 protocols besides BASE */
	len = cmd(s, 0x10, 3, p, 0, r);
	CHECK_EQ(len, 8 + 16);
	CHECK(!memcmp(r + 8, "vtbench\0", 8));
	p[0] = 0;
	len = cmd(s, 0x10, 6, p, 1, r);		/* DISCOVER_LIST_PROTOCOLS */
	CHECK_EQ(len, 16);
	CHECK_EQ(W(r, 2), 3);
	CHECK_EQ(W(r, 3), 0x13u | 0x14u << 8 | 0x15u << 16);
	p[0] = 2;
	len = cmd(s, 0x10, 6, p, 1, r);
	CHECK_EQ(W(r, 2), 1);
	CHECK_EQ(W(r, 3), 0x15);
	p[0] = 4;
	cmd(s, 0x10, 6, p, 1, r);
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_INVALID_PARAMS);
	len = cmd(s, 0x10, 6, p, 0, r);		/* missing parameter */
	CHECK_EQ(len, 8);
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_PROTOCOL_ERROR);
	cmd(s, 0x10, 0x42, p, 0, r);
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_NOT_SUPPORTED);
	cmd(s, 0x77, 0, p, 0, r);		/* no such protocol */
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_NOT_SUPPORTED);
	{	/* a delayed-response type is not a command */
		uint32_t m = VTB_SCMI_HDR(0, 2, 0x10, 0);
		CHECK_EQ(vtb_scmi_handle(s, &m, 4, r, 136), 8);
		CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_PROTOCOL_ERROR);
	}
	/* SENSOR: readings are the documented function of the seed */
	p[0] = 5; p[1] = 0;
	len = cmd(s, 0x15, 6, p, 2, r);
	CHECK_EQ(len, 16);
	CHECK_EQ(W(r, 2), (uint32_t)vtb_scmi_sensor_value(99, 5, 0));
	cmd(s, 0x15, 6, p, 2, r);
	CHECK_EQ(W(r, 2), (uint32_t)vtb_scmi_sensor_value(99, 5, 1));
	CHECK(vtb_scmi_sensor_value(99, 5, 0) >= 40000 && vtb_scmi_sensor_value(99, 5, 0) < 45000);
	p[0] = 8;
	cmd(s, 0x15, 6, p, 2, r);
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_NOT_FOUND);
	p[0] = 0; p[1] = 1;
	cmd(s, 0x15, 6, p, 2, r);
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_NOT_SUPPORTED);	/* async read */
	p[0] = 6;
	len = cmd(s, 0x15, 3, p, 1, r);		/* descriptors 6 and 7 */
	CHECK_EQ(W(r, 2), 2u);			/* 0 remaining, 2 returned */
	CHECK_EQ(len, 12 + 2 * 28);
	CHECK_EQ(W(r, 3), 6);
	CHECK(!memcmp(r + 12 + 12, "temp6", 6));
	p[0] = 0;
	cmd(s, 0x15, 3, p, 1, r);
	CHECK_EQ(W(r, 2), (6u << 16) | 2u);
	/* CLOCK: rates, set, get */
	p[0] = 1; p[1] = 6;
	len = cmd(s, 0x14, 4, p, 2, r);
	CHECK_EQ(W(r, 2), 2u);			/* rates 6,7: 0 remaining, discrete */
	CHECK_EQ(W(r, 3), (uint32_t)vtb_scmi_rate(1, 6));
	CHECK_EQ(W(r, 4), (uint32_t)(vtb_scmi_rate(1, 6) >> 32));
	uint64_t rate = vtb_scmi_rate(2, 5);
	uint32_t sp[4] = { 0, 2, (uint32_t)rate, (uint32_t)(rate >> 32) };
	cmd(s, 0x14, 5, sp, 4, r);
	CHECK_EQ(W(r, 1), 0);
	p[0] = 2;
	cmd(s, 0x14, 6, p, 1, r);
	CHECK_EQ(W(r, 2) | (uint64_t)W(r, 3) << 32, rate);
	sp[2] = 12345;
	cmd(s, 0x14, 5, sp, 4, r);
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_OUT_OF_RANGE);
	sp[0] = 1;
	cmd(s, 0x14, 5, sp, 4, r);
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_NOT_SUPPORTED);
	/* PERF: level set/get and a notification on the event queue */
	p[0] = 1;
	cmd(s, 0x13, 8, p, 1, r);
	CHECK_EQ(W(r, 2), vtb_scmi_level(1, VTB_SCMI_NUM_LEVELS - 1));
	vtb_scmi_set_events(s, true);
	p[0] = 1; p[1] = 1;
	cmd(s, 0x13, 0xa, p, 2, r);		/* NOTIFY_LEVEL on */
	CHECK_EQ(W(r, 1), 0);
	p[1] = vtb_scmi_level(1, 2);
	cmd(s, 0x13, 7, p, 2, r);
	CHECK_EQ(W(r, 1), 0);
	CHECK_EQ(vtb_scmi_wake_mask(s), 3u);	/* a notification waits for a buffer */
	p[1] = 101;
	cmd(s, 0x13, 7, p, 2, r);
	CHECK_EQ((int32_t)W(r, 1), VTB_SCMI_OUT_OF_RANGE);
	uint32_t ev[8];
	seg(f_add(&f, VTB_SCMI_Q_EVENT), ev, sizeof(ev), true);
	CHECK_EQ(vtb_scmi_process(s, 8), 0);
	CHECK_EQ(f.npushed, 1);
	CHECK_EQ(f.written[0], 16);
	CHECK_EQ(ev[0], VTB_SCMI_HDR(1, 3, 0x13, 0));
	CHECK_EQ(ev[2], 1);
	CHECK_EQ(ev[3], vtb_scmi_level(1, 2));
	CHECK_EQ(vtb_scmi_wake_mask(s), 1u);
	/* Through the queue: a response buffer too small is a protocol error. */
	uint32_t m[3] = { VTB_SCMI_HDR(8, 0, 0x13, 1), 0 };
	uint8_t small[8];
	struct vtb_req *rq = f_add(&f, VTB_SCMI_Q_CMD);
	seg(rq, m, 8, false);
	seg(rq, small, 8, true);
	CHECK_EQ(vtb_scmi_process(s, 8), 1);
	CHECK_EQ(f.written[1], 8);
	CHECK_EQ((int32_t)W(small, 1), VTB_SCMI_PROTOCOL_ERROR);
}

/* Attribute words and status codes as DEN0056 (v3.x, BASE/PERF/CLOCK/
 * SENSOR chapters) defines them, cross-checked with Linux's arm_scmi
 * macros, written here from the spec and not from the server's own
 * constants, so a wrong bit in the server cannot agree with itself. */
#define SPEC_SUCCESS        0
#define SPEC_NOT_SUPPORTED  (-1)
#define SPEC_INVALID_PARAMS (-2)
#define SPEC_NOT_FOUND      (-4)
#define SPEC_OUT_OF_RANGE   (-5)
#define SPEC_PROTOCOL_ERROR (-10)
/* PERFORMANCE_DOMAIN_ATTRIBUTES attributes (perf.c SUPPORTS_*) */
#define SPEC_PERF_SET_LIMITS    (1u << 31)
#define SPEC_PERF_SET_LEVEL     (1u << 30)
#define SPEC_PERF_LIMITS_NOTIFY (1u << 29)
#define SPEC_PERF_LEVEL_NOTIFY  (1u << 28)

struct spec_word {
	const char *what;
	uint32_t proto, id, np, pa[3];
	unsigned word;			/* 1: status, 2..: return values */
	uint32_t p2a, no_p2a;		/* expected with and without VIRTIO_SCMI_F_P2A_CHANNELS */
};

static const struct spec_word spec_words[] = {
	/* BASE PROTOCOL_ATTRIBUTES: [15:8] agents, [7:0] protocols besides BASE */
	{ "BASE attributes", 0x10, 0x1, 0, { 0 }, 2, (1u << 8) | 3, (1u << 8) | 3 },
	/* PERF PROTOCOL_ATTRIBUTES: [15:0] domains, bit 16 power in mW (clear) */
	{ "PERF attributes", 0x13, 0x1, 0, { 0 }, 2, 2, 2 },
	/* The level-changed notification (bit 28) only with an event queue;
	 * limits-changed (bit 29) is not implemented, so never. */
	{ "PERF_DOMAIN_ATTRIBUTES(0) flags", 0x13, 0x3, 1, { 0 }, 2,
	  SPEC_PERF_SET_LIMITS | SPEC_PERF_SET_LEVEL | SPEC_PERF_LEVEL_NOTIFY, SPEC_PERF_SET_LIMITS | SPEC_PERF_SET_LEVEL },
	{ "PERF_DOMAIN_ATTRIBUTES(1) flags", 0x13, 0x3, 1, { 1 }, 2,
	  SPEC_PERF_SET_LIMITS | SPEC_PERF_SET_LEVEL | SPEC_PERF_LEVEL_NOTIFY, SPEC_PERF_SET_LIMITS | SPEC_PERF_SET_LEVEL },
	/* rate limit: [19:0] microseconds, [31:20] reserved */
	{ "PERF_DOMAIN_ATTRIBUTES rate limit", 0x13, 0x3, 1, { 0 }, 3, 1000, 1000 },
	/* PROTOCOL_MESSAGE_ATTRIBUTES: NOT_FOUND for what is not implemented */
	{ "PERF msg attrs NOTIFY_LEVEL", 0x13, 0x2, 1, { 0xa }, 1, SPEC_SUCCESS, (uint32_t)SPEC_NOT_FOUND },
	{ "PERF msg attrs NOTIFY_LIMITS", 0x13, 0x2, 1, { 0x9 }, 1, (uint32_t)SPEC_NOT_FOUND, (uint32_t)SPEC_NOT_FOUND },
	{ "PERF msg attrs DESCRIBE_LEVELS", 0x13, 0x2, 1, { 0x4 }, 1, SPEC_SUCCESS, SPEC_SUCCESS },
	{ "PERF msg attrs LIMITS_SET", 0x13, 0x2, 1, { 0x5 }, 1, SPEC_SUCCESS, SPEC_SUCCESS },
	{ "PERF msg attrs LIMITS_GET", 0x13, 0x2, 1, { 0x6 }, 1, SPEC_SUCCESS, SPEC_SUCCESS },
	/* Notification requests: refused without the event queue (virtio
	 * 1.2 5.17.6.1.1), or when the notification is not implemented. */
	{ "PERF_NOTIFY_LEVEL", 0x13, 0xa, 2, { 0, 1 }, 1, SPEC_SUCCESS, (uint32_t)SPEC_NOT_SUPPORTED },
	{ "PERF_NOTIFY_LIMITS", 0x13, 0x9, 2, { 0, 1 }, 1, (uint32_t)SPEC_NOT_SUPPORTED, (uint32_t)SPEC_NOT_SUPPORTED },
	{ "SENSOR_TRIP_POINT_NOTIFY", 0x15, 0x4, 2, { 0, 1 }, 1, (uint32_t)SPEC_NOT_SUPPORTED, (uint32_t)SPEC_NOT_SUPPORTED },
	{ "SENSOR msg attrs TRIP_POINT_NOTIFY", 0x15, 0x2, 1, { 0x4 }, 1, (uint32_t)SPEC_NOT_FOUND, (uint32_t)SPEC_NOT_FOUND },
	{ "CLOCK msg attrs RATE_NOTIFY (v2.0 only)", 0x14, 0x2, 1, { 0x9 }, 1, (uint32_t)SPEC_NOT_FOUND, (uint32_t)SPEC_NOT_FOUND },
	{ "BASE_NOTIFY_ERRORS", 0x10, 0x8, 1, { 1 }, 1, (uint32_t)SPEC_NOT_SUPPORTED, (uint32_t)SPEC_NOT_SUPPORTED },
	{ "BASE msg attrs NOTIFY_ERRORS", 0x10, 0x2, 1, { 0x8 }, 1, (uint32_t)SPEC_NOT_FOUND, (uint32_t)SPEC_NOT_FOUND },
	/* CLOCK PROTOCOL_ATTRIBUTES: [15:0] clocks, [23:16] async changes (0) */
	{ "CLOCK attributes", 0x14, 0x1, 0, { 0 }, 2, 4, 4 },
	/* CLOCK_ATTRIBUTES v1.0: bit 0 enabled, the rest reserved */
	{ "CLOCK_ATTRIBUTES(2)", 0x14, 0x3, 1, { 2 }, 2, 1, 1 },
	/* SENSOR PROTOCOL_ATTRIBUTES: [15:0] sensors, [23:16] async reads (0) */
	{ "SENSOR attributes", 0x15, 0x1, 0, { 0 }, 2, 8, 8 },
	/* SENSOR_DESCRIPTION_GET: [31:16] remaining, [11:0] returned; then id,
	 * attributes_low (bit 31 async, [7:0] trip points), attributes_high
	 * ([15:11] signed power-of-ten scale, [7:0] type: 2 = degrees C) */
	{ "SENSOR_DESCRIPTION_GET count", 0x15, 0x3, 1, { 0 }, 2, (6u << 16) | 2, (6u << 16) | 2 },
	{ "SENSOR_DESCRIPTION_GET attributes_low", 0x15, 0x3, 1, { 0 }, 4, 0, 0 },
	{ "SENSOR_DESCRIPTION_GET attributes_high", 0x15, 0x3, 1, { 0 }, 5, 2u | (0x1du << 11), 2u | (0x1du << 11) },
};

static void test_scmi_spec_words(void)
{
	static _Alignas(16) unsigned char mem[8192];
	struct fake f = { 0 };
	struct vtb_dev_io io = { &f, f_pop, f_push };
	uint8_t r[136];
	for (int p2a = 0; p2a < 2; p2a++) {
		struct vtb_scmi *s = vtb_scmi_init(mem, 5, &io);
		vtb_scmi_set_events(s, p2a);
		for (size_t i = 0; i < sizeof(spec_words) / sizeof(spec_words[0]); i++) {
			const struct spec_word *w = &spec_words[i];
			cmd(s, w->proto, w->id, w->pa, w->np, r);
			uint32_t want = p2a ? w->p2a : w->no_p2a;
			if (W(r, w->word) != want)
				fprintf(stderr, "%s (P2A %s): word %u is 0x%x, the spec's 0x%x\n", w->what,
					p2a ? "on" : "off", w->word, W(r, w->word), want);
			CHECK_EQ(W(r, w->word), want);
		}
	}
}

/* PERFORMANCE_DESCRIBE_LEVELS, LIMITS_SET/GET against LEVEL_SET, and the
 * level-changed notification: agent, only on a change, buffer sizes. */
static void test_scmi_perf(void)
{
	static _Alignas(16) unsigned char mem[8192];
	struct fake f = { 0 };
	struct vtb_dev_io io = { &f, f_pop, f_push };
	struct vtb_scmi *s = vtb_scmi_init(mem, 5, &io);
	uint8_t r[136];
	uint32_t p[3], len;

	vtb_scmi_set_events(s, true);
	/* DESCRIBE_LEVELS: 8 levels, 3 a message: 3+3+2 */
	p[0] = 1; p[1] = 0;
	len = cmd(s, 0x13, 0x4, p, 2, r);
	CHECK_EQ(W(r, 1), 0);
	CHECK_EQ(W(r, 2), (5u << 16) | 3);
	CHECK_EQ(len, 12 + 3 * 12);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(W(r, 3 + 3 * i), vtb_scmi_level(1, i));
		CHECK_EQ(W(r, 4 + 3 * i), vtb_scmi_level_power(1, i));
		CHECK_EQ(W(r, 5 + 3 * i), 50);		/* [15:0] latency, us */
	}
	p[1] = 6;
	len = cmd(s, 0x13, 0x4, p, 2, r);
	CHECK_EQ(W(r, 2), 2u);
	CHECK_EQ(len, 12 + 2 * 12);
	CHECK_EQ(W(r, 3), vtb_scmi_level(1, 6));
	p[1] = 8;
	CHECK_EQ(cmd(s, 0x13, 0x4, p, 2, r), 8);
	CHECK_EQ((int32_t)W(r, 1), SPEC_INVALID_PARAMS);
	p[0] = 2; p[1] = 0;
	cmd(s, 0x13, 0x4, p, 2, r);
	CHECK_EQ((int32_t)W(r, 1), SPEC_NOT_FOUND);
	cmd(s, 0x13, 0x4, p, 1, r);
	CHECK_EQ((int32_t)W(r, 1), SPEC_PROTOCOL_ERROR);

	/* Subscribe on domain 0 (at level 7 from reset). */
	p[0] = 0; p[1] = 1;
	cmd(s, 0x13, 0xa, p, 2, r);
	CHECK_EQ(W(r, 1), 0);
	/* Setting the level it already has changes nothing: no notification. */
	p[1] = vtb_scmi_level(0, 7);
	cmd(s, 0x13, 0x7, p, 2, r);
	CHECK_EQ(W(r, 1), 0);
	CHECK_EQ(vtb_scmi_wake_mask(s), 1u);
	/* LIMITS_SET: domain, max, min.  The level moves into the range and
	 * that change is notified. */
	uint32_t lp[3] = { 0, vtb_scmi_level(0, 4), vtb_scmi_level(0, 2) };
	cmd(s, 0x13, 0x5, lp, 3, r);
	CHECK_EQ(W(r, 1), 0);
	CHECK_EQ(vtb_scmi_wake_mask(s), 3u);
	p[0] = 0;
	len = cmd(s, 0x13, 0x6, p, 1, r);		/* LIMITS_GET: max, min */
	CHECK_EQ(len, 16);
	CHECK_EQ(W(r, 2), vtb_scmi_level(0, 4));
	CHECK_EQ(W(r, 3), vtb_scmi_level(0, 2));
	cmd(s, 0x13, 0x8, p, 1, r);
	CHECK_EQ(W(r, 2), vtb_scmi_level(0, 4));
	/* A level outside the limits is out of range; inside is fine. */
	p[1] = vtb_scmi_level(0, 6);
	cmd(s, 0x13, 0x7, p, 2, r);
	CHECK_EQ((int32_t)W(r, 1), SPEC_OUT_OF_RANGE);
	p[1] = vtb_scmi_level(0, 3);
	cmd(s, 0x13, 0x7, p, 2, r);
	CHECK_EQ(W(r, 1), 0);
	/* Bad limits change nothing. */
	uint32_t bad[3][3] = { { 0, vtb_scmi_level(0, 1), vtb_scmi_level(0, 5) },	/* min > max */
			       { 0, 101, vtb_scmi_level(0, 0) },			/* not a level */
			       { 2, vtb_scmi_level(0, 1), vtb_scmi_level(0, 0) } };	/* no domain 2 */
	int32_t want_st[3] = { SPEC_INVALID_PARAMS, SPEC_OUT_OF_RANGE, SPEC_NOT_FOUND };
	for (int k = 0; k < 3; k++) {
		CHECK_EQ(cmd(s, 0x13, 0x5, bad[k], 3, r), 8);
		CHECK_EQ((int32_t)W(r, 1), want_st[k]);
	}
	CHECK_EQ(cmd(s, 0x13, 0x5, bad[0], 2, r), 8);
	CHECK_EQ((int32_t)W(r, 1), SPEC_PROTOCOL_ERROR);
	p[0] = 0;
	cmd(s, 0x13, 0x6, p, 1, r);
	CHECK_EQ(W(r, 2), vtb_scmi_level(0, 4));
	CHECK_EQ(W(r, 3), vtb_scmi_level(0, 2));

	/* Two notifications wait (limits clamp to 4, then 3).  The first event
	 * buffer is too small: it goes back unwritten, that notification is
	 * counted as dropped, the next one fills the next buffer. */
	uint32_t tiny[3], ev[8];
	memset(tiny, 0x5a, sizeof(tiny));
	memset(ev, 0x5a, sizeof(ev));
	seg(f_add(&f, VTB_SCMI_Q_EVENT), tiny, 12, true);
	seg(f_add(&f, VTB_SCMI_Q_EVENT), ev, sizeof(ev), true);
	CHECK_EQ(vtb_scmi_process(s, 8), 0);
	CHECK_EQ(f.npushed, 2);
	CHECK_EQ(f.written[0], 0);
	CHECK_EQ(tiny[0], 0x5a5a5a5au);
	CHECK_EQ(tiny[2], 0x5a5a5a5au);
	CHECK_EQ(f.written[1], 16);
	CHECK_EQ(vtb_scmi_stats(s)->notifs_dropped, 1);
	CHECK_EQ(vtb_scmi_stats(s)->notifs, 1);
	/* PERFORMANCE_LEVEL_CHANGED: agent_id (the agent that asked: 1, as
	 * the platform is 0), domain_id, performance_level */
	CHECK_EQ(ev[0], VTB_SCMI_HDR(1, 3, 0x13, 0));
	CHECK_EQ(ev[1], 1);
	CHECK_EQ(ev[2], 0);
	CHECK_EQ(ev[3], vtb_scmi_level(0, 3));
	CHECK_EQ(ev[4], 0x5a5a5a5au);		/* nothing past the 16 bytes */
	CHECK_EQ(vtb_scmi_wake_mask(s), 1u);

	/* CLOCK_CONFIG_SET: bit 0 enables, reserved bits are invalid. */
	uint32_t cp[2] = { 1, 0 };
	cmd(s, 0x14, 0x7, cp, 2, r);
	CHECK_EQ(W(r, 1), 0);
	cmd(s, 0x14, 0x3, cp, 1, r);
	CHECK_EQ(W(r, 2), 0);			/* disabled */
	cp[1] = 3;
	cmd(s, 0x14, 0x7, cp, 2, r);
	CHECK_EQ((int32_t)W(r, 1), SPEC_INVALID_PARAMS);
	cp[0] = 4; cp[1] = 1;
	cmd(s, 0x14, 0x7, cp, 2, r);
	CHECK_EQ((int32_t)W(r, 1), SPEC_NOT_FOUND);
}

int main(void)
{
	test_blk();
	test_net();
	test_net_guest();
	test_scmi();
	test_scmi_spec_words();
	test_scmi_perf();
	return vtb_test_end("test_models");
}
