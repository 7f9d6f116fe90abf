/* Split virtqueue: driver and device sides on one ring, in one process. */
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../ci/vtb_test.h"
#include "../core/vtb_virtq.h"

#define N 8
#define MEM (1 << 16)

static _Alignas(4096) unsigned char mem[MEM];	/* "guest RAM": ring at 0 */
static _Alignas(16) unsigned char dstate[1 << 12], vstate[1 << 12];

static const void *xlate(void *ctx, uint64_t addr, uint32_t len)
{
	(void)ctx;
	return vtb_range_ok(addr, len, MEM) ? mem + addr : NULL;
}

struct pair {
	struct vtb_vqd *d;
	struct vtb_vqdev *v;
};

/* The device's view of a ring in the driver's one-allocation layout at r:
 * each area's address on its own, as a vhost-user backend gets them. */
static struct vtb_vqdev_params dev_at(unsigned char *r, uint16_t num, bool packed)
{
	return (struct vtb_vqdev_params){ .num = num, .packed = packed, .desc = r,
					  .avail = r + vtb_ring_driver_off(num, packed),
					  .used = r + vtb_ring_device_off(num, packed) };
}

static struct pair mk(uint16_t num, bool event_idx, bool indirect)
{
	memset(mem, 0, sizeof(mem));
	struct vtb_vqd_params dp = { .num = num, .ring = mem, .event_idx = event_idx };
	if (indirect) {
		dp.indirect = mem + 0x8000;
		dp.indirect_addr = 0x8000;
		dp.indirect_max = 8;
	}
	struct vtb_vqdev_params vp = dev_at(mem, num, false);
	vp.event_idx = event_idx;
	vp.indirect = indirect;
	vp.xlate = xlate;
	struct pair p = { vtb_vqd_init(dstate, &dp), vtb_vqdev_init(vstate, &vp) };
	return p;
}

static struct vtb_vring_desc *desc(unsigned i) { return (struct vtb_vring_desc *)mem + i; }
static struct vtb_vring_avail *avail(uint16_t num) { return (void *)(mem + vtb_vring_avail_off(num)); }
static struct vtb_vring_used *used(uint16_t num) { return (void *)(mem + vtb_vring_used_off(num)); }

static void test_layout(void)
{
	/* Linux's vring_size() with align 4 for the used ring equals ours. */
	for (unsigned n = 1; n <= 32768; n *= 2)
		CHECK_EQ(vtb_vring_bytes((uint16_t)n), vring_size(n, 4));
	CHECK(vtb_vq_num_ok(256) && !vtb_vq_num_ok(0) && !vtb_vq_num_ok(3) && !vtb_vq_num_ok(65536));
}

static void test_need_event(void)
{
	/* Every (event, new, old) in a window around the wrap, against the uapi. */
	for (unsigned e = 65500; e < 65500 + 80; e++)
		for (unsigned o = 65510; o < 65510 + 40; o++)
			for (unsigned d = 0; d < 40; d++) {
				uint16_t ev = (uint16_t)e, old = (uint16_t)o, nw = (uint16_t)(o + d);
				vtb_checks++;
				if (vtb_need_event(ev, nw, old) != (bool)vring_need_event(ev, nw, old)) {
					vtb_failed++;
					fprintf(stderr, "need_event(%u,%u,%u) differs from the uapi\n", ev, nw, old);
					return;
				}
			}
}

static void test_roundtrip_wrap(void)
{
	struct pair p = mk(N, true, false);
	struct vtb_seg seg[8];
	int tok[N];
	/* 70000 requests: both 16-bit indices wrap past 65535. */
	for (unsigned i = 0; i < 70000; i++) {
		struct vtb_sg sg[3] = { { 0x1000, 16 }, { 0x2000, 512 }, { 0x3000, 1 } };
		int e = vtb_vqd_add(p.d, sg, 1, 2, &tok[i % N], false);
		if (e) {
			CHECK_EQ(e, 0);
			return;
		}
		struct vtb_chain c = { .seg = seg, .max_seg = 8 };
		if (vtb_vqdev_pop(p.v, &c) != 1 || c.nseg != 3 || c.nout != 1 || c.out_bytes != 16 ||
		    c.in_bytes != 513 || seg[1].addr != 0x2000 || !seg[1].write || seg[0].write) {
			CHECK(!"chain as added");
			return;
		}
		vtb_vqdev_push(p.v, c.head, 513);
		uint32_t len = 0;
		if (vtb_vqd_get_used(p.d, &len) != &tok[i % N] || len != 513) {
			CHECK(!"used entry returns the token and length");
			return;
		}
	}
	CHECK_EQ(avail(N)->idx, (uint16_t)70000);
	CHECK_EQ(used(N)->idx, (uint16_t)70000);
	CHECK_EQ(vtb_vqd_num_free(p.d), N);
	CHECK(!vtb_vqd_broken(p.d) && !vtb_vqdev_broken(p.v));
}

static void test_out_of_order(void)
{
	struct pair p = mk(N, false, false);
	struct vtb_seg seg[8];
	struct vtb_chain c[4];
	int tok[4];
	for (int i = 0; i < 4; i++) {
		struct vtb_sg sg[2] = { { 0x1000u + 0x100u * (unsigned)i, 8 }, { 0x4000, 8 } };
		CHECK_EQ(vtb_vqd_add(p.d, sg, 1, 1, &tok[i], false), 0);
	}
	CHECK_EQ(vtb_vqd_num_free(p.d), 0);
	struct vtb_sg one = { 0, 1 };
	CHECK_EQ(vtb_vqd_add(p.d, &one, 1, 0, &tok[0], false), -VTB_ENOSPC);
	for (int i = 0; i < 4; i++) {
		c[i] = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
		CHECK_EQ(vtb_vqdev_pop(p.v, &c[i]), 1);
	}
	/* Complete in reverse: tokens come back in completion order. */
	for (int i = 3; i >= 0; i--)
		CHECK_EQ(vtb_vqdev_push(p.v, c[i].head, 0), 0);
	for (int i = 3; i >= 0; i--)
		CHECK(vtb_vqd_get_used(p.d, NULL) == &tok[i]);
	CHECK_EQ(vtb_vqd_num_free(p.d), N);
	/* Pushing a head that is not in flight is refused. */
	CHECK_EQ(vtb_vqdev_push(p.v, c[0].head, 0), -VTB_EINVAL);
}

static void test_indirect(void)
{
	struct pair p = mk(N, true, true);
	struct vtb_seg seg[8];
	int tok;
	struct vtb_sg sg[5] = { { 0x1000, 16 }, { 0x1100, 100 }, { 0x2000, 4096 }, { 0x3000, 4096 }, { 0x4000, 1 } };
	CHECK_EQ(vtb_vqd_add(p.d, sg, 2, 3, &tok, true), 0);
	CHECK_EQ(vtb_vqd_num_free(p.d), N - 1);	/* one ring descriptor */
	CHECK(desc(0)->flags & VTB_DESC_F_INDIRECT);
	struct vtb_chain c = { .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
	CHECK_EQ(c.nseg, 5);
	CHECK_EQ(c.nout, 2);
	CHECK_EQ(c.in_bytes, 8193);
	CHECK_EQ(seg[3].addr, 0x3000);
	vtb_vqdev_push(p.v, c.head, 1);
	CHECK(vtb_vqd_get_used(p.d, NULL) == &tok);
	CHECK_EQ(vtb_vqd_num_free(p.d), N);
	/* Too many segments for the caller's array: E2BIG, queue broken. */
	CHECK_EQ(vtb_vqd_add(p.d, sg, 2, 3, &tok, true), 0);
	struct vtb_chain small = { .seg = seg, .max_seg = 3 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &small), -VTB_E2BIG);
	CHECK(vtb_vqdev_broken(p.v));
}

/* Each hostile ring must break the device queue with the given error. */
static void hostile(const char *what, int want, void (*poison)(void), bool indirect)
{
	struct pair p = mk(N, false, indirect);
	struct vtb_seg seg[16];
	int tok;
	struct vtb_sg sg[2] = { { 0x1000, 16 }, { 0x2000, 16 } };
	vtb_vqd_add(p.d, sg, 1, 1, &tok, false);
	poison();
	struct vtb_chain c = { .seg = seg, .max_seg = 16 };
	int r = vtb_vqdev_pop(p.v, &c);
	vtb_checks++;
	if (r != want || !vtb_vqdev_broken(p.v)) {
		vtb_failed++;
		fprintf(stderr, "hostile ring '%s': pop returned %d (want %d), broken=%d\n", what, r, want,
			vtb_vqdev_broken(p.v));
	}
	/* Sticky: nothing more is served. */
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EIO);
}

static void p_loop(void) { desc(1)->flags = VTB_DESC_F_NEXT; desc(1)->next = 0; }
static void p_head(void) { avail(N)->ring[0] = N + 3; }
static void p_jump(void) { avail(N)->idx = N + 2; }
static void p_next(void) { desc(0)->next = 200; }
static void p_order(void) { desc(0)->flags |= VTB_DESC_F_WRITE; desc(1)->flags &= (uint16_t)~VTB_DESC_F_WRITE; }
static void p_len(void) { desc(0)->len = 0xfffffff0u; desc(0)->flags = VTB_DESC_F_NEXT; desc(1)->flags = VTB_DESC_F_NEXT; desc(1)->len = 0x20; desc(1)->next = 2; desc(2)->len = 0xfffffff0u; desc(2)->flags = 0; }
static void p_ind_off(void) { desc(0)->flags = VTB_DESC_F_INDIRECT; desc(0)->addr = 0x8000; desc(0)->len = 32; }
static void p_ind_bad(void) { desc(0)->flags = VTB_DESC_F_INDIRECT; desc(0)->addr = MEM - 16; desc(0)->len = 32; }
static void p_ind_odd(void) { desc(0)->flags = VTB_DESC_F_INDIRECT; desc(0)->addr = 0x8000; desc(0)->len = 24; }
static void p_ind_nest(void)
{
	struct vtb_vring_desc *t = (void *)(mem + 0x8000);
	t[0] = (struct vtb_vring_desc){ .addr = 0x8000, .len = 16, .flags = VTB_DESC_F_INDIRECT };
	desc(0)->flags = VTB_DESC_F_INDIRECT;
	desc(0)->addr = 0x8000;
	desc(0)->len = 16;
}
static void p_ind_loop(void)
{
	struct vtb_vring_desc *t = (void *)(mem + 0x8000);
	t[0] = (struct vtb_vring_desc){ .addr = 0x1000, .len = 16, .flags = VTB_DESC_F_NEXT, .next = 1 };
	t[1] = (struct vtb_vring_desc){ .addr = 0x1000, .len = 16, .flags = VTB_DESC_F_NEXT, .next = 0 };
	desc(0)->flags = VTB_DESC_F_INDIRECT;
	desc(0)->addr = 0x8000;
	desc(0)->len = 32;
}
static void p_twice(void) { avail(N)->ring[1] = avail(N)->ring[0]; avail(N)->idx = 2; }

static void test_hostile(void)
{
	hostile("descriptor loop", -VTB_ELOOP, p_loop, false);
	hostile("head out of range", -VTB_ERANGE, p_head, false);
	hostile("avail idx jumps past the queue size", -VTB_EPROTO, p_jump, false);
	hostile("next out of range", -VTB_ERANGE, p_next, false);
	hostile("writable before readable", -VTB_EPROTO, p_order, false);
	hostile("lengths overflow 32 bits", -VTB_ERANGE, p_len, false);
	hostile("indirect without the feature", -VTB_EPROTO, p_ind_off, false);
	hostile("indirect table outside memory", -VTB_EFAULT, p_ind_bad, true);
	hostile("indirect length not a multiple of 16", -VTB_EINVAL, p_ind_odd, true);
	hostile("nested indirect", -VTB_EPROTO, p_ind_nest, true);
	hostile("loop inside an indirect table", -VTB_ELOOP, p_ind_loop, true);
	/* The same head offered twice while in flight. */
	struct pair p = mk(N, false, false);
	struct vtb_seg seg[4];
	int tok;
	struct vtb_sg sg = { 0x1000, 16 };
	vtb_vqd_add(p.d, &sg, 1, 0, &tok, false);
	p_twice();
	struct vtb_chain c = { .seg = seg, .max_seg = 4 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
}

static void test_driver_hostile_used(void)
{
	struct pair p = mk(N, false, false);
	int tok;
	struct vtb_sg sg = { 0x1000, 16 };
	vtb_vqd_add(p.d, &sg, 1, 0, &tok, false);
	used(N)->ring[0].id = 5;	/* never made available */
	used(N)->idx = 1;
	CHECK(vtb_vqd_get_used(p.d, NULL) == NULL);
	CHECK(vtb_vqd_broken(p.d));
	p = mk(N, false, false);
	vtb_vqd_add(p.d, &sg, 1, 0, &tok, false);
	used(N)->idx = N + 5;	/* more used than ever offered */
	CHECK(vtb_vqd_get_used(p.d, NULL) == NULL);
	CHECK(vtb_vqd_broken(p.d));
}

/* The driver scribbles over the used ring (the device's to write): the
 * device never reads it back, so its next completion lands where its own
 * index says, and nothing breaks. */
static void test_device_ignores_used_tampering(void)
{
	struct pair p = mk(N, false, false);
	struct vtb_seg seg[4];
	struct vtb_chain c[2];
	int tok[2];
	struct vtb_sg sg = { 0x1000, 16 };
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(vtb_vqd_add(p.d, &sg, 1, 0, &tok[i], false), 0);
		c[i] = (struct vtb_chain){ .seg = seg, .max_seg = 4 };
		CHECK_EQ(vtb_vqdev_pop(p.v, &c[i]), 1);
	}
	CHECK_EQ(vtb_vqdev_push(p.v, c[0].head, 3), 0);
	used(N)->idx = 1000;
	used(N)->ring[0].id = 0xdead;
	used(N)->ring[1] = (struct vtb_vring_used_elem){ 0xbeef, 0xffffffffu };
	CHECK_EQ(vtb_vqdev_push(p.v, c[1].head, 7), 0);
	CHECK_EQ(used(N)->idx, 2);
	CHECK_EQ(used(N)->ring[1].id, c[1].head);
	CHECK_EQ(used(N)->ring[1].len, 7);
	CHECK(!vtb_vqdev_broken(p.v));
	CHECK_EQ(vtb_vqdev_inflight(p.v), 0);
}

static void test_suppression(void)
{
	int tok[N];
	struct vtb_seg seg[4];
	struct vtb_sg sg = { 0x1000, 16 };

	/* EVENT_IDX: the device asks for a kick only when it re-arms. */
	struct pair p = mk(N, true, false);
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[0], false);
	CHECK(vtb_vqd_kick_prepare(p.d));		/* avail_event 0: first kick due */
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[1], false);
	CHECK(!vtb_vqd_kick_prepare(p.d));		/* device has not re-armed */
	struct vtb_chain c = { .seg = seg, .max_seg = 4 };
	vtb_vqdev_pop(p.v, &c);
	vtb_vqdev_push(p.v, c.head, 0);
	vtb_vqdev_pop(p.v, &c);
	vtb_vqdev_push(p.v, c.head, 0);
	CHECK(!vtb_vqdev_enable_notify(p.v));		/* re-arm at 2, nothing pending */
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[2], false);	/* wait: only 2 free? */
	CHECK(vtb_vqd_kick_prepare(p.d));		/* passes avail_event 2 */

	/* Used side: interrupt only when the driver re-armed. */
	CHECK(vtb_vqdev_need_notify(p.v));		/* used_event 0 was passed */
	vtb_vqd_get_used(p.d, NULL);
	vtb_vqd_get_used(p.d, NULL);
	vtb_vqdev_pop(p.v, &c);
	vtb_vqdev_push(p.v, c.head, 0);
	CHECK(!vtb_vqdev_need_notify(p.v));		/* driver did not re-arm */
	CHECK(vtb_vqd_enable_cb(p.d));			/* and it sees pending work */
	vtb_vqd_get_used(p.d, NULL);
	CHECK(!vtb_vqd_enable_cb(p.d));			/* armed at 3, nothing pending */
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[3], false);
	vtb_vqdev_pop(p.v, &c);
	vtb_vqdev_push(p.v, c.head, 0);
	CHECK(vtb_vqdev_need_notify(p.v));

	/* Flags (no EVENT_IDX): NO_NOTIFY / NO_INTERRUPT suppress everything. */
	p = mk(N, false, false);
	vtb_vqdev_disable_notify(p.v);
	vtb_vqd_disable_cb(p.d);
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[0], false);
	CHECK(!vtb_vqd_kick_prepare(p.d));
	vtb_vqdev_pop(p.v, &c);
	vtb_vqdev_push(p.v, c.head, 0);
	CHECK(!vtb_vqdev_need_notify(p.v));
	CHECK(vtb_vqd_enable_cb(p.d));
	vtb_vqdev_enable_notify(p.v);
	vtb_vqd_get_used(p.d, NULL);
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[1], false);
	CHECK(vtb_vqd_kick_prepare(p.d));
}

/* ---- packed (§2.8) ---- */
static struct pair mkp(uint16_t num, bool event_idx)
{
	memset(mem, 0, sizeof(mem));
	struct vtb_vqd_params dp = { .num = num, .ring = mem, .event_idx = event_idx, .packed = true };
	struct vtb_vqdev_params vp = dev_at(mem, num, true);
	vp.event_idx = event_idx;
	struct pair p = { vtb_vqd_init(dstate, &dp), vtb_vqdev_init(vstate, &vp) };
	return p;
}

static struct vtb_pvq_desc *pd(unsigned i) { return (struct vtb_pvq_desc *)mem + i; }

static void test_packed(void)
{
	struct vtb_seg seg[8];
	int tok[N];
	CHECK_EQ(vtb_pvring_bytes(N), N * 16 + 8);
	struct pair p = mkp(N, true);
	CHECK(p.d && p.v);
	/* Chains of 3 in a ring of 8: the wrap counters flip every lap; completing
	 * in reverse exercises out-of-order ids. */
	for (unsigned lap = 0; lap < 3000; lap++) {
		struct vtb_sg sg[3] = { { 0x1000, 16 }, { 0x2000, 512 }, { 0x3000, 1 } };
		struct vtb_chain c[2];
		for (int k = 0; k < 2; k++) {
			if (vtb_vqd_add(p.d, sg, 1, 2, &tok[k], false)) {
				CHECK(!"packed add");
				return;
			}
		}
		for (int k = 0; k < 2; k++) {
			c[k] = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
			if (vtb_vqdev_pop(p.v, &c[k]) != 1 || c[k].nseg != 3 || c[k].in_bytes != 513) {
				CHECK(!"packed pop");
				return;
			}
		}
		vtb_vqdev_push(p.v, c[1].head, 7);
		vtb_vqdev_push(p.v, c[0].head, 9);
		uint32_t l1 = 0, l0 = 0;
		void *t1 = vtb_vqd_get_used(p.d, &l1), *t0 = vtb_vqd_get_used(p.d, &l0);
		if (t1 != &tok[1] || l1 != 7 || t0 != &tok[0] || l0 != 9 || vtb_vqd_get_used(p.d, NULL)) {
			CHECK(!"packed used in completion order");
			return;
		}
	}
	CHECK_EQ(vtb_vqd_num_free(p.d), N);
	CHECK(!vtb_vqd_broken(p.d) && !vtb_vqdev_broken(p.v));

	/* Event suppression in DESC mode. */
	p = mkp(N, true);
	struct vtb_sg sg = { 0x1000, 16 };
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[0], false);
	CHECK(vtb_vqd_kick_prepare(p.d));		/* flags ENABLE (0) at start */
	CHECK(vtb_vqdev_enable_notify(p.v));		/* work is pending */
	struct vtb_chain c = { .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
	CHECK(!vtb_vqdev_enable_notify(p.v));		/* armed at the next position */
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[1], false);
	CHECK(vtb_vqd_kick_prepare(p.d));
	vtb_vqdev_disable_notify(p.v);
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[2], false);
	CHECK(!vtb_vqd_kick_prepare(p.d));		/* DISABLE */
	vtb_vqd_disable_cb(p.d);
	vtb_vqdev_push(p.v, c.head, 0);
	CHECK(!vtb_vqdev_need_notify(p.v));		/* driver disabled interrupts */
	CHECK(vtb_vqd_enable_cb(p.d));			/* and sees it pending */
	vtb_vqd_get_used(p.d, NULL);
	CHECK(!vtb_vqd_enable_cb(p.d));
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
	vtb_vqdev_push(p.v, c.head, 0);
	CHECK(vtb_vqdev_need_notify(p.v));		/* passes the driver's off_wrap */

	/* Hostile packed rings. */
	p = mkp(N, false);
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[0], false);
	pd(0)->id = N + 1;				/* id out of range */
	c = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
	p = mkp(N, false);
	for (unsigned i = 0; i < N; i++)		/* a chain that never ends */
		*pd(i) = (struct vtb_pvq_desc){ 0x1000, 16, 0, VTB_PDESC_F_AVAIL | VTB_DESC_F_NEXT };
	CHECK(vtb_vqdev_pop(p.v, &c) < 0 && vtb_vqdev_broken(p.v));
	p = mkp(N, false);
	struct vtb_sg two[2] = { { 0x1000, 16 }, { 0x2000, 16 } };
	vtb_vqd_add(p.d, two, 2, 0, &tok[0], false);
	pd(1)->flags ^= VTB_PDESC_F_AVAIL | VTB_PDESC_F_USED;	/* stale lap bits mid-chain */
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
	p = mkp(N, false);
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[0], false);
	vtb_vqd_add(p.d, &sg, 1, 0, &tok[1], false);
	pd(1)->id = pd(0)->id;				/* the same id twice in flight */
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
}

/* §2.7.5.3.2: the device MUST handle zero or more normal descriptors
 * followed by a single indirect one; the WRITE flag of the descriptor that
 * refers to the table is ignored.  The other rules stay. */
static void test_indirect_after_normal(void)
{
	struct pair p = mk(N, false, true);
	struct vtb_seg seg[8];
	struct vtb_vring_desc *t = (void *)(mem + 0x8000);
	memset(avail(N), 0, 4);
	/* desc 0: readable header -> desc 3: readable -> desc 5: the table,
	 * with WRITE set on it (ignored), holding a readable and a writable. */
	*desc(0) = (struct vtb_vring_desc){ 0x1000, 16, VTB_DESC_F_NEXT, 3 };
	*desc(3) = (struct vtb_vring_desc){ 0x1100, 32, VTB_DESC_F_NEXT, 5 };
	*desc(5) = (struct vtb_vring_desc){ 0x8000, 32, VTB_DESC_F_INDIRECT | VTB_DESC_F_WRITE, 0 };
	t[0] = (struct vtb_vring_desc){ 0x2000, 512, VTB_DESC_F_NEXT, 1 };
	t[1] = (struct vtb_vring_desc){ 0x3000, 1, VTB_DESC_F_WRITE, 0 };
	avail(N)->ring[0] = 0;
	avail(N)->idx = 1;
	struct vtb_chain c = { .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
	CHECK_EQ(c.head, 0);
	CHECK_EQ(c.nseg, 4);
	CHECK_EQ(c.nout, 3);
	CHECK_EQ(c.out_bytes, 16 + 32 + 512);
	CHECK_EQ(c.in_bytes, 1);
	CHECK(seg[1].addr == 0x1100 && seg[2].addr == 0x2000 && seg[3].addr == 0x3000 && seg[3].write);
	CHECK_EQ(vtb_vqdev_push(p.v, c.head, 1), 0);
	CHECK(!vtb_vqdev_broken(p.v));

	/* Still refused: NEXT on the indirect descriptor (driver MUST NOT)... */
	p = mk(N, false, true);
	*desc(0) = (struct vtb_vring_desc){ 0x1000, 16, VTB_DESC_F_NEXT, 1 };
	*desc(1) = (struct vtb_vring_desc){ 0x8000, 32, VTB_DESC_F_INDIRECT | VTB_DESC_F_NEXT, 2 };
	*desc(2) = (struct vtb_vring_desc){ 0x1000, 16, 0, 0 };
	avail(N)->idx = 1;
	c = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
	/* ...readable in the table after a writable normal descriptor... */
	p = mk(N, false, true);
	*desc(0) = (struct vtb_vring_desc){ 0x1000, 16, VTB_DESC_F_NEXT | VTB_DESC_F_WRITE, 1 };
	*desc(1) = (struct vtb_vring_desc){ 0x8000, 32, VTB_DESC_F_INDIRECT, 0 };
	t[0] = (struct vtb_vring_desc){ 0x2000, 512, VTB_DESC_F_NEXT, 1 };
	t[1] = (struct vtb_vring_desc){ 0x3000, 1, VTB_DESC_F_WRITE, 0 };
	avail(N)->idx = 1;
	c = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
	/* ...a table nested in the table, and the segment bound across both. */
	p = mk(N, false, true);
	*desc(0) = (struct vtb_vring_desc){ 0x1000, 16, VTB_DESC_F_NEXT, 1 };
	*desc(1) = (struct vtb_vring_desc){ 0x8000, 16, VTB_DESC_F_INDIRECT, 0 };
	t[0] = (struct vtb_vring_desc){ 0x8000, 16, VTB_DESC_F_INDIRECT, 0 };
	avail(N)->idx = 1;
	c = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
	p = mk(N, false, true);
	*desc(0) = (struct vtb_vring_desc){ 0x1000, 16, VTB_DESC_F_NEXT, 1 };
	*desc(1) = (struct vtb_vring_desc){ 0x8000, 32, VTB_DESC_F_INDIRECT, 0 };
	t[0] = (struct vtb_vring_desc){ 0x2000, 512, VTB_DESC_F_NEXT, 1 };
	t[1] = (struct vtb_vring_desc){ 0x3000, 1, VTB_DESC_F_WRITE, 0 };
	avail(N)->idx = 1;
	c = (struct vtb_chain){ .seg = seg, .max_seg = 2 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_E2BIG);
}

/* Packed indirect (§2.8.7): one ring descriptor carrying the buffer id
 * points to a table of packed descriptors; only WRITE counts in it. */
static struct pair mkpi(uint16_t num)
{
	memset(mem, 0, sizeof(mem));
	struct vtb_vqd_params dp = { .num = num, .ring = mem, .packed = true, .event_idx = true,
				     .indirect = mem + 0x8000, .indirect_addr = 0x8000, .indirect_max = 8 };
	struct vtb_vqdev_params vp = dev_at(mem, num, true);
	vp.event_idx = vp.indirect = true;
	vp.xlate = xlate;
	struct pair p = { vtb_vqd_init(dstate, &dp), vtb_vqdev_init(vstate, &vp) };
	return p;
}

static void test_packed_indirect(void)
{
	struct vtb_seg seg[8];
	int tok[N];
	struct pair p = mkpi(N);
	CHECK(p.d && p.v);
	if (!p.d || !p.v)
		return;
	struct vtb_sg sg[5] = { { 0x1000, 16 }, { 0x1100, 100 }, { 0x2000, 4096 }, { 0x3000, 4096 }, { 0x4000, 1 } };
	CHECK_EQ(vtb_vqd_add(p.d, sg, 2, 3, &tok[0], true), 0);
	CHECK_EQ(vtb_vqd_num_free(p.d), N - 1);		/* one ring descriptor */
	CHECK(pd(0)->flags & VTB_DESC_F_INDIRECT);
	CHECK_EQ(pd(0)->len, 5 * 16);
	/* Linux's layout: entries carry addr, len and only WRITE. */
	struct vtb_pvq_desc *t = (struct vtb_pvq_desc *)(mem + 0x8000) + (size_t)pd(0)->id * 8;
	CHECK(t[1].addr == 0x1100 && t[1].flags == 0 && t[2].flags == VTB_DESC_F_WRITE);
	struct vtb_chain c = { .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
	CHECK_EQ(c.nseg, 5);
	CHECK_EQ(c.nout, 2);
	CHECK_EQ(c.in_bytes, 8193);
	CHECK_EQ(seg[3].addr, 0x3000);
	CHECK_EQ(vtb_vqdev_push(p.v, c.head, 1), 0);
	uint32_t len = 0;
	CHECK(vtb_vqd_get_used(p.d, &len) == &tok[0]);
	CHECK_EQ(len, 1);
	CHECK_EQ(vtb_vqd_num_free(p.d), N);
	/* Laps mixing indirect and direct chains, completed out of order: each
	 * indirect buffer takes one ring slot on both sides. */
	for (unsigned lap = 0; lap < 2000; lap++) {
		struct vtb_chain cc[3];
		bool ok = !vtb_vqd_add(p.d, sg, 1, 2, &tok[0], true) && !vtb_vqd_add(p.d, sg, 1, 2, &tok[1], false) &&
			  !vtb_vqd_add(p.d, sg + 2, 0, 3, &tok[2], true);
		for (int k = 0; ok && k < 3; k++) {
			cc[k] = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
			ok = vtb_vqdev_pop(p.v, &cc[k]) == 1 && cc[k].nseg == 3 && cc[k].nout == (k == 2 ? 0 : 1);
		}
		ok = ok && !vtb_vqdev_push(p.v, cc[2].head, 3) && !vtb_vqdev_push(p.v, cc[0].head, 1) &&
		     !vtb_vqdev_push(p.v, cc[1].head, 2);
		ok = ok && vtb_vqd_get_used(p.d, NULL) == &tok[2] && vtb_vqd_get_used(p.d, NULL) == &tok[0] &&
		     vtb_vqd_get_used(p.d, NULL) == &tok[1] && !vtb_vqd_get_used(p.d, NULL);
		if (!ok) {
			CHECK(!"packed indirect laps");
			return;
		}
	}
	CHECK_EQ(vtb_vqd_num_free(p.d), N);
	CHECK(!vtb_vqd_broken(p.d) && !vtb_vqdev_broken(p.v));
	/* A table too big for the driver's tables is the caller's error. */
	struct vtb_sg many[9] = { { 0x1000, 1 } };
	CHECK_EQ(vtb_vqd_add(p.d, many, 9, 0, &tok[0], true), -VTB_EINVAL);

	/* Reserved bits of table entries (id, NEXT, INDIRECT) and the WRITE
	 * bit of the ring descriptor are ignored by the device. */
	p = mkpi(N);
	CHECK_EQ(vtb_vqd_add(p.d, sg, 1, 1, &tok[0], true), 0);
	t = (struct vtb_pvq_desc *)(mem + 0x8000) + (size_t)pd(0)->id * 8;
	t[0].id = 0x7777;
	t[0].flags |= VTB_DESC_F_NEXT | VTB_DESC_F_INDIRECT;
	pd(0)->flags |= VTB_DESC_F_WRITE;
	c = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
	CHECK(c.nseg == 2 && c.nout == 1 && !seg[0].write && seg[1].write);

	/* Hostile packed indirect descriptors break the queue. */
	struct {
		const char *what;
		int want;
		uint32_t len;
		uint64_t addr;
		uint16_t extra;
	} bad[] = {
		{ "table length not a multiple of 16", -VTB_EINVAL, 24, 0x8000, 0 },
		{ "empty table", -VTB_EINVAL, 0, 0x8000, 0 },
		{ "table outside memory", -VTB_EFAULT, 32, MEM - 16, 0 },
		{ "indirect with NEXT", -VTB_EPROTO, 32, 0x8000, VTB_DESC_F_NEXT },
	};
	for (unsigned i = 0; i < VTB_ARRAY_SIZE(bad); i++) {
		p = mkpi(N);
		CHECK_EQ(vtb_vqd_add(p.d, sg, 1, 1, &tok[0], true), 0);
		pd(0)->len = bad[i].len;
		pd(0)->addr = bad[i].addr;
		pd(0)->flags |= bad[i].extra;
		c = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
		int r = vtb_vqdev_pop(p.v, &c);
		vtb_checks++;
		if (r != bad[i].want || !vtb_vqdev_broken(p.v)) {
			vtb_failed++;
			fprintf(stderr, "packed indirect '%s': pop %d, want %d\n", bad[i].what, r, bad[i].want);
		}
	}
	/* An indirect descriptor inside a NEXT-linked list (§2.8.19). */
	p = mkpi(N);
	struct vtb_sg two[2] = { { 0x1000, 16 }, { 0x2000, 16 } };
	CHECK_EQ(vtb_vqd_add(p.d, two, 2, 0, &tok[0], false), 0);
	pd(1)->flags |= VTB_DESC_F_INDIRECT;
	pd(1)->addr = 0x8000;
	c = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
	/* Without the feature: refused. */
	p = mkp(N, true);
	CHECK_EQ(vtb_vqd_add(p.d, sg, 1, 1, &tok[0], true), -VTB_EINVAL);	/* no tables on our side */
	CHECK_EQ(vtb_vqd_add(p.d, sg, 1, 0, &tok[0], false), 0);
	pd(0)->flags |= VTB_DESC_F_INDIRECT;
	pd(0)->addr = 0x8000;
	c = (struct vtb_chain){ .seg = seg, .max_seg = 8 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c), -VTB_EPROTO);
	/* A device that has no way to reach tables cannot serve the feature. */
	struct vtb_vqdev_params vp = dev_at(mem, N, true);
	vp.indirect = true;
	CHECK(vtb_vqdev_init(vstate, &vp) == NULL);
	vp = dev_at(mem, N, false);
	vp.indirect = true;
	CHECK(vtb_vqdev_init(vstate, &vp) == NULL);
	CHECK_EQ(vtb_vqdev_check(&vp), -VTB_EINVAL);
}

/* Both sides at once, in two threads, each sleeping only after re-arming
 * notifications and re-checking (the lost-wakeup window the barriers
 * close): every request completes with its own data, and no side waits
 * for a notification that was suppressed while it had work.  A doorbell is
 * a counter; a wait that never ends is a lost wakeup, caught by a bound on
 * the spins, not by a clock. */
#define C_TOTAL 20000u
#define C_QD 6
static _Alignas(4096) unsigned char cmem[1 << 17];
static _Alignas(16) unsigned char cdstate[1 << 12], cvstate[1 << 12];
static unsigned kicks, calls;	/* the doorbells */
static volatile int c_bad;

static const void *cxlate(void *ctx, uint64_t addr, uint32_t len)
{
	(void)ctx;
	return vtb_range_ok(addr, len, sizeof(cmem)) ? cmem + addr : NULL;
}

static bool ring_wait(unsigned *bell, unsigned seen)
{
	for (long i = 0; i < 2000000 && !c_bad; i++) {
		if (__atomic_load_n(bell, __ATOMIC_ACQUIRE) != seen)
			return true;
		sched_yield();
	}
	return false;
}

static void *c_device(void *arg)
{
	struct vtb_vqdev *v = arg;
	struct vtb_seg seg[8];
	unsigned done = 0;
	while (done < C_TOTAL && !c_bad) {
		struct vtb_chain c = { .seg = seg, .max_seg = 8 };
		int r = vtb_vqdev_pop(v, &c);
		if (r < 0 || (r == 1 && (c.nseg != 2 || c.nout != 1))) {
			c_bad = 1;
			break;
		}
		if (r == 1) {
			uint32_t seq;
			memcpy(&seq, cmem + seg[0].addr, 4);
			seq = ~seq;
			memcpy(cmem + seg[1].addr, &seq, 4);
			vtb_vqdev_push(v, c.head, 4);
			if (vtb_vqdev_need_notify(v))
				__atomic_fetch_add(&calls, 1, __ATOMIC_RELEASE);
			done++;
			continue;
		}
		unsigned seen = __atomic_load_n(&kicks, __ATOMIC_ACQUIRE);
		if (vtb_vqdev_enable_notify(v)) {	/* work arrived meanwhile */
			vtb_vqdev_disable_notify(v);
			continue;
		}
		if (!ring_wait(&kicks, seen)) {
			c_bad = 2;	/* slept through an offered buffer */
			break;
		}
		vtb_vqdev_disable_notify(v);
	}
	return NULL;
}

static void concurrent(bool packed, bool event_idx, bool indirect)
{
	memset(cmem, 0, sizeof(cmem));
	kicks = calls = 0;
	c_bad = 0;
	struct vtb_vqd_params dp = { .num = N, .ring = cmem, .event_idx = event_idx, .packed = packed };
	if (indirect) {
		dp.indirect = cmem + 0x8000;
		dp.indirect_addr = 0x8000;
		dp.indirect_max = 4;
	}
	struct vtb_vqdev_params vp = dev_at(cmem, N, packed);
	vp.event_idx = event_idx;
	vp.indirect = indirect;
	vp.xlate = cxlate;
	struct vtb_vqd *d = vtb_vqd_init(cdstate, &dp);
	struct vtb_vqdev *v = vtb_vqdev_init(cvstate, &vp);
	CHECK(d && v);
	if (!d || !v)
		return;
	vtb_vqd_disable_cb(d);
	pthread_t t;
	pthread_create(&t, NULL, c_device, v);
	uint32_t tok[C_QD];	/* slot k: the seq in flight there, or 0 */
	unsigned sent = 0, got = 0, free_slot[C_QD], nfree = C_QD;
	for (unsigned k = 0; k < C_QD; k++) {
		tok[k] = 0;
		free_slot[k] = k;
	}
	while (got < C_TOTAL && !c_bad) {
		bool added = false;
		while (sent < C_TOTAL && nfree && vtb_vqd_num_free(d) >= (indirect ? 1 : 2)) {
			unsigned k = free_slot[--nfree];
			uint32_t seq = ++sent;
			uint64_t out = 0x10000 + k * 64, in = out + 32;
			memcpy(cmem + out, &seq, 4);
			memset(cmem + in, 0, 4);
			tok[k] = seq;
			struct vtb_sg sg[2] = { { out, 4 }, { in, 4 } };
			if (vtb_vqd_add(d, sg, 1, 1, &tok[k], indirect)) {
				c_bad = 3;
				break;
			}
			added = true;
		}
		if (added && vtb_vqd_kick_prepare(d))
			__atomic_fetch_add(&kicks, 1, __ATOMIC_RELEASE);
		uint32_t len;
		uint32_t *tk = vtb_vqd_get_used(d, &len);
		if (tk) {
			unsigned k = (unsigned)(tk - tok);
			uint32_t back;
			memcpy(&back, cmem + 0x10000 + k * 64 + 32, 4);
			if (k >= C_QD || len != 4 || back != ~*tk) {
				c_bad = 4;
				break;
			}
			free_slot[nfree++] = k;
			got++;
			continue;
		}
		if (vtb_vqd_broken(d)) {
			c_bad = 5;
			break;
		}
		if (sent < C_TOTAL && nfree && vtb_vqd_num_free(d) >= (indirect ? 1 : 2))
			continue;
		unsigned seen = __atomic_load_n(&calls, __ATOMIC_ACQUIRE);
		if (vtb_vqd_enable_cb(d)) {
			vtb_vqd_disable_cb(d);
			continue;
		}
		if (!ring_wait(&calls, seen)) {
			c_bad = 6;	/* slept through a completion */
			break;
		}
		vtb_vqd_disable_cb(d);
	}
	int bad = c_bad ? c_bad : (got == C_TOTAL ? 0 : 7);
	c_bad = bad;	/* a failed driver stops the device too */
	pthread_join(t, NULL);
	vtb_checks++;
	if (bad || vtb_vqdev_broken(v)) {
		vtb_failed++;
		fprintf(stderr, "concurrent %s event_idx=%d indirect=%d: failure %d after %u of %u\n",
			packed ? "packed" : "split", event_idx, indirect, bad, got, C_TOTAL);
	}
}

static void test_concurrent(void)
{
	for (int m = 0; m < 8; m++)
		concurrent(m & 1, m & 2, m & 4);
}

/* Batched indices: with defer_avail the device sees nothing until the
 * driver's kick_prepare, then the whole batch; with used_batch the driver
 * sees completions in groups and the rest at need_notify.  Each index is
 * read once per batch: what the other side writes to it mid-batch is not
 * seen until the batch is consumed, and then it is validated. */
static void test_batched_indices(void)
{
	memset(mem, 0, sizeof(mem));
	struct vtb_vqd_params dp = { .num = N, .ring = mem, .defer_avail = true };
	struct vtb_vqdev_params vp = dev_at(mem, N, false);
	vp.used_batch = 3;
	struct pair p = { vtb_vqd_init(dstate, &dp), vtb_vqdev_init(vstate, &vp) };
	struct vtb_seg seg[4];
	struct vtb_chain c[N];
	int tok[N];
	struct vtb_sg sg = { 0x1000, 16 };
	for (int i = 0; i < 5; i++)
		CHECK_EQ(vtb_vqd_add(p.d, &sg, 1, 0, &tok[i], false), 0);
	CHECK_EQ(avail(N)->idx, 0);			/* nothing offered yet */
	c[0] = (struct vtb_chain){ .seg = seg, .max_seg = 4 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c[0]), 0);
	CHECK(vtb_vqd_kick_prepare(p.d));		/* flags: notify wanted */
	CHECK_EQ(avail(N)->idx, 5);			/* all five at once */
	CHECK(!vtb_vqd_kick_prepare(p.d));		/* nothing new */
	CHECK_EQ(avail(N)->idx, 5);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct vtb_chain){ .seg = seg, .max_seg = 4 };
		CHECK_EQ(vtb_vqdev_pop(p.v, &c[i]), 1);
	}
	/* A hostile jump mid-batch is not read until the batch is popped... */
	avail(N)->idx = 5 + N + 1;
	for (int i = 2; i < 5; i++) {
		c[i] = (struct vtb_chain){ .seg = seg, .max_seg = 4 };
		CHECK_EQ(vtb_vqdev_pop(p.v, &c[i]), 1);
	}
	for (int i = 0; i < 2; i++)
		CHECK_EQ(vtb_vqdev_push(p.v, c[i].head, 0), 0);
	CHECK_EQ(used(N)->idx, 0);			/* under the batch of 3 */
	CHECK(vtb_vqd_get_used(p.d, NULL) == NULL);
	CHECK_EQ(vtb_vqdev_push(p.v, c[2].head, 0), 0);
	CHECK_EQ(used(N)->idx, 3);			/* a full batch goes out */
	CHECK_EQ(vtb_vqdev_push(p.v, c[3].head, 0), 0);
	CHECK_EQ(used(N)->idx, 3);
	CHECK(vtb_vqdev_need_notify(p.v));		/* publishes the rest */
	CHECK_EQ(used(N)->idx, 4);
	for (int i = 0; i < 4; i++)
		CHECK(vtb_vqd_get_used(p.d, NULL) == &tok[i]);
	CHECK(vtb_vqd_get_used(p.d, NULL) == NULL);
	/* ...and then it is, and refused. */
	c[5] = (struct vtb_chain){ .seg = seg, .max_seg = 4 };
	CHECK_EQ(vtb_vqdev_pop(p.v, &c[5]), -VTB_EPROTO);
	CHECK(vtb_vqdev_broken(p.v));
	/* The driver's side likewise: a used index rewritten behind a batch
	 * it has read is seen, and judged, only once that batch is consumed. */
	memset(mem, 0, sizeof(mem));
	p = (struct pair){ vtb_vqd_init(dstate, &dp), vtb_vqdev_init(vstate, &vp) };
	for (int i = 0; i < 3; i++)
		CHECK_EQ(vtb_vqd_add(p.d, &sg, 1, 0, &tok[i], false), 0);
	vtb_vqd_kick_prepare(p.d);
	for (int i = 0; i < 3; i++) {
		c[i] = (struct vtb_chain){ .seg = seg, .max_seg = 4 };
		CHECK_EQ(vtb_vqdev_pop(p.v, &c[i]), 1);
		CHECK_EQ(vtb_vqdev_push(p.v, c[i].head, 0), 0);
	}
	CHECK(vtb_vqd_get_used(p.d, NULL) == &tok[0]);
	used(N)->idx = 3 + N + 1;
	CHECK(vtb_vqd_get_used(p.d, NULL) == &tok[1]);
	CHECK(vtb_vqd_get_used(p.d, NULL) == &tok[2]);
	CHECK(!vtb_vqd_broken(p.d));
	CHECK(vtb_vqd_get_used(p.d, NULL) == NULL);
	CHECK(vtb_vqd_broken(p.d));
}

/* Completions in order: heads come round in ring order (the free list
 * takes them back at its tail), and a lap that offers what the last one
 * did writes no descriptor (the table's page is read-only for the second
 * and third laps: a store would kill the test) and leaves each avail and
 * used entry holding what it held.  A descriptor the device scribbled on
 * is written again. */
static void test_steady_ring(void)
{
	enum { Q = 256 };	/* its descriptor table is one page */
	memset(mem, 0, sizeof(mem));
	struct vtb_vqd_params dp = { .num = Q, .ring = mem, .defer_avail = true };
	struct vtb_vqdev_params vp = dev_at(mem, Q, false);
	vp.used_batch = 32;
	static _Alignas(16) unsigned char dst[1 << 13], vst[1 << 12];	/* dstate is too small for Q */
	CHECK(vtb_vqd_memsize(Q) <= sizeof(dst) && vtb_vqdev_memsize(Q) <= sizeof(vst));
	struct pair p = { vtb_vqd_init(dst, &dp), vtb_vqdev_init(vst, &vp) };
	struct vtb_seg seg[4];
	int tok[Q];
	unsigned bad_head = 0, bad_seg = 0, bad_entry = 0;
	/* On a board with larger pages the table is not a page of its own:
	 * the entries are still checked, the stores are not trapped. */
	bool trap = sysconf(_SC_PAGESIZE) == 4096;
	for (unsigned i = 0; i < 4 * Q; i++) {
		if (i == Q && trap)
			CHECK_EQ(mprotect(mem, 4096, PROT_READ), 0);
		if (i == 3 * Q) {
			if (trap)
				CHECK_EQ(mprotect(mem, 4096, PROT_READ | PROT_WRITE), 0);
			desc(5)->addr = 0xbad;	/* the device's scribble */
		}
		/* Buffer i % 64 of 64: the same one per head every lap. */
		struct vtb_sg sg = { 0x8000 + (uint64_t)(i % 64) * 128, 76 };
		CHECK_EQ(vtb_vqd_add(p.d, &sg, 1, 0, &tok[i % Q], false), 0);
		vtb_vqd_kick_prepare(p.d);
		struct vtb_chain c = { .seg = seg, .max_seg = 4 };
		CHECK_EQ(vtb_vqdev_pop(p.v, &c), 1);
		bad_head += c.head != i % Q;
		bad_seg += c.nseg != 1 || seg[0].addr != sg.addr || seg[0].len != sg.len;
		bad_entry += avail(Q)->ring[i % Q] != i % Q;
		CHECK_EQ(vtb_vqdev_push(p.v, c.head, 0), 0);
		vtb_vqdev_need_notify(p.v);
		bad_entry += used(Q)->ring[i % Q].id != i % Q || used(Q)->ring[i % Q].len != 0;
		CHECK(vtb_vqd_get_used(p.d, NULL) == &tok[i % Q]);
	}
	CHECK_EQ(bad_head, 0);
	CHECK_EQ(bad_seg, 0);	/* head 5 in the last lap included */
	CHECK_EQ(bad_entry, 0);
	CHECK_EQ(desc(5)->addr, 0x8000 + 5 * 128);
	CHECK_EQ(vtb_vqd_num_free(p.d), Q);
	CHECK(!vtb_vqd_broken(p.d) && !vtb_vqdev_broken(p.v));
}

/* ---- the three areas on their own; a device that stops and starts ---- */

/* Three areas in pages of their own, in reverse order, each page followed
 * by one with no access: a side that derived one area from another's
 * address would read the wrong memory or fault.  Offsets keep each area
 * at its minimum alignment only (split avail at 2, used at 4, desc at 16). */
static unsigned char *areas;
static size_t pg;

static void areas_at(bool packed, void **desc, void **avail, void **used)
{
	if (!areas) {
		pg = (size_t)sysconf(_SC_PAGESIZE);
		areas = mmap(NULL, 6 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(areas != MAP_FAILED);
		for (int k = 1; k < 6; k += 2)
			CHECK_EQ(mprotect(areas + k * pg, pg, PROT_NONE), 0);
	}
	*used = areas + 4;
	*desc = areas + 2 * pg + 16;
	*avail = areas + 4 * pg + (packed ? 4 : 2);
}

static void *seq_tok(unsigned seq) { return (void *)(uintptr_t)(seq + 1); }

/* Requests seq .. seq+n-1 offered (each one buffer, three descriptors when
 * chained), popped, completed in reverse and reaped: each comes back once
 * with its own length.  Returns the requests that went round. */
static unsigned rounds(struct vtb_vqd *d, struct vtb_vqdev *v, unsigned seq, unsigned n)
{
	struct vtb_seg seg[4];
	struct vtb_chain c[N];
	struct vtb_sg sg[3] = { { 0x1000, 16 }, { 0x2000, 64 }, { 0x3000, 1 } };
	unsigned k;
	for (k = 0; k < n; k++)
		if (vtb_vqd_add(d, sg, 1, (seq + k) % 2 ? 2 : 0, seq_tok(seq + k), false))
			return 0;
	vtb_vqd_kick_prepare(d);
	for (k = 0; k < n; k++) {
		c[k] = (struct vtb_chain){ .seg = seg, .max_seg = 4 };
		if (vtb_vqdev_pop(v, &c[k]) != 1 || c[k].nseg != ((seq + k) % 2 ? 3 : 1))
			return 0;
	}
	for (k = n; k-- > 0;)
		if (vtb_vqdev_push(v, c[k].head, seq + k))
			return 0;
	vtb_vqdev_need_notify(v);
	for (k = n; k-- > 0;) {
		uint32_t len = 0;
		if (vtb_vqd_get_used(d, &len) != seq_tok(seq + k) || len != seq + k)
			return 0;
	}
	return vtb_vqd_get_used(d, NULL) ? 0 : n;
}

static void test_separate_areas(void)
{
	for (int packed = 0; packed < 2; packed++) {
		void *desc, *avail, *used;
		areas_at(packed, &desc, &avail, &used);
		struct vtb_vqd_params dp = { .num = N, .desc = desc, .avail = avail, .used = used,
					     .packed = packed, .event_idx = true, .defer_avail = true };
		struct vtb_vqdev_params vp = { .num = N, .desc = desc, .avail = avail, .used = used,
					       .packed = packed, .event_idx = true, .used_batch = 2 };
		struct vtb_vqd *d = vtb_vqd_init(dstate, &dp);
		struct vtb_vqdev *v = vtb_vqdev_init(vstate, &vp);
		CHECK(d && v);
		if (!d || !v)
			return;
		unsigned seq = 0, ok = 0;
		for (unsigned lap = 0; lap < 3000; lap++) {
			unsigned n = 1 + lap % 2;	/* chains of 1 and 3 descriptors: every position */
			ok += rounds(d, v, seq, n);
			seq += n;
		}
		CHECK_EQ(ok, seq);
		CHECK(!vtb_vqd_broken(d) && !vtb_vqdev_broken(v));
		if (!packed) {
			CHECK_EQ(((struct vtb_vring_avail *)avail)->idx, (uint16_t)seq);
			CHECK_EQ(((struct vtb_vring_used *)used)->idx, (uint16_t)seq);
		}
	}
}

/* The device pops n one-buffer requests and completes each with len0 + k
 * bytes; the driver reaps requests seq.. of them, in that order. */
static void serve(struct vtb_vqdev *v, unsigned n, uint32_t len0)
{
	struct vtb_seg seg[4];
	for (unsigned k = 0; k < n; k++) {
		struct vtb_chain c = { .seg = seg, .max_seg = 4 };
		CHECK_EQ(vtb_vqdev_pop(v, &c), 1);
		CHECK_EQ(vtb_vqdev_push(v, c.head, len0 + k), 0);
	}
}

static void reap(struct vtb_vqd *d, unsigned seq, unsigned n, uint32_t len0)
{
	for (unsigned k = 0; k < n; k++) {
		uint32_t len = 0;
		CHECK(vtb_vqd_get_used(d, &len) == seq_tok(seq + k));
		CHECK_EQ(len, len0 + k);
	}
	CHECK(vtb_vqd_get_used(d, NULL) == NULL);
}

/* A device stopped mid-stream (its base read, as GET_VRING_BASE does) and
 * a second instance started on the same rings at that base: requests the
 * first offered but did not pop are served once by the second, the
 * completions of the first (one under the used batch) reach the driver,
 * and the two go on across the wraps.  Phase one ends with the packed
 * wrap counters clear and the split indices past 65535. */
static void restart(bool packed)
{
	void *desc, *avail, *used;
	areas_at(packed, &desc, &avail, &used);
	struct vtb_vqd_params dp = { .num = N, .desc = desc, .avail = avail, .used = used,
				     .packed = packed, .event_idx = true };
	struct vtb_vqdev_params vp = { .num = N, .desc = desc, .avail = avail, .used = used,
				       .packed = packed, .event_idx = true, .used_batch = 3 };
	static _Alignas(16) unsigned char vstate2[1 << 12];
	struct vtb_vqd *d = vtb_vqd_init(dstate, &dp);
	struct vtb_vqdev *v = vtb_vqdev_init(vstate, &vp);
	CHECK(d && v);
	if (!d || !v)
		return;
	CHECK_EQ(vtb_vqdev_base(v), packed ? 0x80008000u : 0);	/* what QEMU sends for a new queue */
	unsigned seq = 0, ok = 0, first = packed ? 28 : 65536 + 27;
	while (seq < first) {
		unsigned n = first - seq < 3 ? first - seq : 3;
		ok += rounds(d, v, seq, n);
		seq += n;
	}
	CHECK_EQ(ok, first);
	/* Five offered, two popped and completed, three left in the ring. */
	struct vtb_sg sg = { 0x1000, 16 };
	for (unsigned k = 0; k < 5; k++)
		CHECK_EQ(vtb_vqd_add(d, &sg, 1, 0, seq_tok(seq + k), false), 0);
	vtb_vqd_kick_prepare(d);
	serve(v, 2, 100);
	CHECK_EQ(vtb_vqdev_inflight(v), 0);
	uint32_t base = vtb_vqdev_base(v);
	/* Packed: 28 requests of 1 and 3 descriptors by turns, then 2 of 1:
	 * 58 descriptors, 7 laps of 8 and 2, so both wrap counters flipped
	 * seven times: clear (bits 15 and 31). */
	CHECK_EQ(base, packed ? 0x00020002u : (uint16_t)(first + 2));
	reap(d, seq, 2, 100);
	seq += 2;

	vp.has_base = true;
	vp.avail_base = (uint16_t)base;
	vp.used_base = (uint16_t)(base >> 16);
	struct vtb_vqdev *v2 = vtb_vqdev_init(vstate2, &vp);
	CHECK(v2 != NULL);
	if (!v2)
		return;
	CHECK_EQ(vtb_vqdev_base(v2), base);
	serve(v2, 3, 200);
	struct vtb_seg seg[4];
	struct vtb_chain c = { .seg = seg, .max_seg = 4 };
	CHECK_EQ(vtb_vqdev_pop(v2, &c), 0);	/* nothing served twice */
	vtb_vqdev_need_notify(v2);
	reap(d, seq, 3, 200);
	seq += 3;
	ok = 0;
	for (unsigned lap = 0; lap < 100; lap++) {
		ok += rounds(d, v2, seq, 3);
		seq += 3;
	}
	CHECK_EQ(ok, 300);
	CHECK_EQ(vtb_vqd_num_free(d), N);
	CHECK(!vtb_vqd_broken(d) && !vtb_vqdev_broken(v2));
}

static void test_restart(void)
{
	restart(false);
	restart(true);
}

/* A device started at a base on rings the driver filled by hand (a
 * vhost-user backend's SET_VRING_BASE on a running queue), and the bases
 * it refuses. */
static void test_base_by_hand(void)
{
	memset(mem, 0, sizeof(mem));
	struct vtb_vqdev_params vp = dev_at(mem, N, false);
	vp.has_base = true;
	vp.avail_base = 3;
	used(N)->idx = 3;
	avail(N)->ring[3] = 1;
	avail(N)->ring[4] = 6;
	avail(N)->idx = 5;
	*desc(1) = (struct vtb_vring_desc){ 0x1000, 16, 0, 0 };
	*desc(6) = (struct vtb_vring_desc){ 0x2000, 32, VTB_DESC_F_WRITE, 0 };
	struct vtb_vqdev *v = vtb_vqdev_init(vstate, &vp);
	CHECK(v != NULL);
	if (!v)
		return;
	struct vtb_seg seg[4];
	struct vtb_chain c = { .seg = seg, .max_seg = 4 };
	CHECK_EQ(vtb_vqdev_pop(v, &c), 1);
	CHECK(c.head == 1 && seg[0].addr == 0x1000);
	CHECK_EQ(vtb_vqdev_push(v, c.head, 0), 0);
	CHECK_EQ(vtb_vqdev_pop(v, &c), 1);
	CHECK(c.head == 6 && seg[0].addr == 0x2000 && seg[0].write);
	CHECK_EQ(vtb_vqdev_push(v, c.head, 9), 0);
	CHECK_EQ(vtb_vqdev_pop(v, &c), 0);
	CHECK_EQ(used(N)->idx, 5);
	CHECK(used(N)->ring[3].id == 1 && used(N)->ring[4].id == 6 && used(N)->ring[4].len == 9);
	CHECK_EQ(vtb_vqdev_base(v), 5);
	/* Split: up to num requests may have been in flight when the last
	 * instance stopped; a used index further behind, or ahead, is nonsense. */
	used(N)->idx = (uint16_t)(3 - N);
	CHECK(vtb_vqdev_init(vstate, &vp) != NULL);
	used(N)->idx = (uint16_t)(3 - N - 1);
	CHECK(vtb_vqdev_init(vstate, &vp) == NULL);
	used(N)->idx = 4;
	CHECK(vtb_vqdev_init(vstate, &vp) == NULL);

	/* Packed at position 3 of the second lap: wrap counters clear, so a
	 * descriptor is available with AVAIL 0 and USED 1, and used with both 0. */
	memset(mem, 0, sizeof(mem));
	vp = dev_at(mem, N, true);
	vp.has_base = true;
	vp.avail_base = 3;
	vp.used_base = 3;
	*pd(3) = (struct vtb_pvq_desc){ 0x1000, 16, 5, VTB_PDESC_F_USED };
	*pd(4) = (struct vtb_pvq_desc){ 0x2000, 16, 2, VTB_PDESC_F_AVAIL };	/* the first lap's: not ours */
	v = vtb_vqdev_init(vstate, &vp);
	CHECK(v != NULL);
	if (!v)
		return;
	c = (struct vtb_chain){ .seg = seg, .max_seg = 4 };
	CHECK_EQ(vtb_vqdev_pop(v, &c), 1);
	CHECK(c.head == 5 && seg[0].addr == 0x1000);
	CHECK_EQ(vtb_vqdev_pop(v, &c), 0);
	CHECK_EQ(vtb_vqdev_push(v, 5, 7), 0);
	CHECK(pd(3)->id == 5 && pd(3)->len == 7 && pd(3)->flags == 0);
	CHECK_EQ(vtb_vqdev_base(v), 0x00040004u);
	/* Positions past the ring, used ahead of avail, or more than a
	 * ring's worth in flight: -EINVAL.  A full ring in flight is fine. */
	static const struct {
		uint16_t avail, used;
		int want;
	} pb[] = {
		{ N, 0, -VTB_EINVAL }, { 0x8000 | N, 0x8000, -VTB_EINVAL }, { 0, N, -VTB_EINVAL },
		{ 0x8002, 0x8005, -VTB_EINVAL }, { 0x0005, 0x8003, -VTB_EINVAL }, { 0x0003, 0x8003, 0 },
		{ 0x0003, 0x0003, 0 }, { 0x8007, 0x0000, -VTB_EINVAL }, { 0x0002, 0x8007, 0 },
	};
	for (unsigned i = 0; i < VTB_ARRAY_SIZE(pb); i++) {
		vp.avail_base = pb[i].avail;
		vp.used_base = pb[i].used;
		vtb_checks++;
		if (vtb_vqdev_check(&vp) != pb[i].want || (vtb_vqdev_init(vstate, &vp) == NULL) != (pb[i].want != 0)) {
			vtb_failed++;
			fprintf(stderr, "packed base %#x/%#x: check %d, want %d\n", pb[i].avail, pb[i].used,
				vtb_vqdev_check(&vp), pb[i].want);
		}
	}
}

/* §2.7 / §2.8 alignment of each area, their extent and overlap: -EINVAL,
 * and neither side builds a queue on them. */
static void test_area_checks(void)
{
	for (int packed = 0; packed < 2; packed++) {
		struct vtb_vqdev_params ok = { .num = N, .packed = packed, .desc = mem + 0x100, .avail = mem + 0x402,
					       .used = mem + 0x804 };
		if (packed)
			ok.avail = mem + 0x404;
		CHECK_EQ(vtb_vqdev_check(&ok), 0);
		struct {
			const char *what;
			int d, a, u;
		} bad[] = {
			{ "desc at 8", 8, 0, 0 }, { "avail at 1", 0, -1, 0 }, { "used at 2", 0, 0, -2 },
			{ "avail inside desc", 0, -0x402 + 0x110, 0 }, { "used on avail", 0, 0, 0x402 - 0x804 },
			{ "packed avail at 2", 0, packed ? -2 : -1, 0 },
		};
		for (unsigned i = 0; i < VTB_ARRAY_SIZE(bad); i++) {
			struct vtb_vqdev_params p = ok;
			p.desc = (char *)p.desc + bad[i].d;
			p.avail = (const char *)p.avail + bad[i].a;
			p.used = (char *)p.used + bad[i].u;
			struct vtb_vqd_params dp = { .num = N, .packed = packed, .desc = p.desc, .avail = (void *)p.avail,
						     .used = p.used };
			vtb_checks++;
			if (vtb_vqdev_check(&p) != -VTB_EINVAL || vtb_vqdev_init(vstate, &p) || vtb_vqd_init(dstate, &dp)) {
				vtb_failed++;
				fprintf(stderr, "%s areas '%s' accepted\n", packed ? "packed" : "split", bad[i].what);
			}
		}
		struct vtb_vqdev_params p = ok;
		p.used = NULL;
		CHECK_EQ(vtb_vqdev_check(&p), -VTB_EINVAL);
		p = ok;
		p.desc = (void *)(UINTPTR_MAX - 15);	/* aligned, but its end wraps */
		CHECK_EQ(vtb_vqdev_check(&p), -VTB_EINVAL);
		p = ok;
		p.num = 3;
		CHECK_EQ(vtb_vqdev_check(&p), -VTB_EINVAL);
	}
	/* The split avail ring needs only 2: accepted where packed refuses. */
	struct vtb_vqdev_params s2 = dev_at(mem, N, false);
	s2.avail = mem + 0x402;
	CHECK_EQ(vtb_vqdev_check(&s2), 0);
	CHECK_EQ(vtb_ring_desc_bytes(N), N * 16);
	CHECK_EQ(vtb_ring_driver_bytes(N, false), 6 + 2 * N);
	CHECK_EQ(vtb_ring_device_bytes(N, false), 6 + 8 * N);
	CHECK_EQ(vtb_ring_driver_bytes(N, true), 4);
	CHECK_EQ(vtb_ring_device_off(N, false) + vtb_ring_device_bytes(N, false), vtb_vring_bytes(N));
	CHECK_EQ(vtb_ring_device_off(N, true) + vtb_ring_device_bytes(N, true), vtb_pvring_bytes(N));
}

int main(void)
{
	test_steady_ring();
	test_batched_indices();
	test_packed();
	test_layout();
	test_need_event();
	test_roundtrip_wrap();
	test_out_of_order();
	test_indirect();
	test_indirect_after_normal();
	test_packed_indirect();
	test_hostile();
	test_driver_hostile_used();
	test_device_ignores_used_tampering();
	test_suppression();
	test_concurrent();
	test_separate_areas();
	test_restart();
	test_base_by_hand();
	test_area_checks();
	return vtb_test_end("test_virtq");
}
