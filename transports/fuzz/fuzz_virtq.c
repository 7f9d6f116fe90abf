/* The device side of split and packed virtqueues (descriptor chains,
 * indirect tables, packed descriptors) against a driver that writes
 * anything anywhere in the ring and its indirect tables, between the
 * device's pops and pushes.  What must hold: no memory error (ASan), a
 * popped chain is well-formed (head in range, readable before writable,
 * byte counts the sums of its segments, at most max_seg segments, indirect
 * tables only where xlate allowed), and a broken queue stays broken.
 *
 * The input: a flags byte (1 packed, 2 EVENT_IDX, 4 INDIRECT, 8 the three
 * areas apart, 16 a starting base), the size, then with 8 where each area
 * goes (any alignment, maybe overlapping), with 16 a base in vhost-user's
 * layout (split: the used ring's index in the high half), then the
 * operations.  The queue must be built exactly when its areas and base are
 * valid, count its pops in its base, and, stopped with nothing in flight,
 * start again at that base. */
#include "fuzz_common.h"

#include "../core/vtb_virtq.h"

#define IND_BASE 0x40000000ull
#define IND_SIZE 8192u
#define MAX_SEG 64
#define SLOT (1u << 14)	/* areas apart: each in one of four slots of ring[] */

static _Alignas(4096) uint8_t ring[1 << 16];
static _Alignas(16) uint8_t ind[IND_SIZE];
static _Alignas(64) uint8_t vqmem[1 << 16], vqmem2[1 << 16];
static unsigned xlate_calls;

static const void *xlate(void *ctx, uint64_t addr, uint32_t len)
{
	(void)ctx;
	xlate_calls++;
	if (addr < IND_BASE || addr - IND_BASE > IND_SIZE || len > IND_SIZE - (addr - IND_BASE))
		return NULL;
	return ind + (addr - IND_BASE);
}

struct area {
	uint8_t *at;
	size_t len, align;
};

/* The harness's own judgement of the areas and the base, to hold the
 * core's against. */
static bool areas_valid(const struct area *a)
{
	for (unsigned i = 0; i < 3; i++) {
		if ((uintptr_t)a[i].at % a[i].align)
			return false;
		for (unsigned j = 0; j < i; j++)
			if (a[i].at < a[j].at + a[j].len && a[j].at < a[i].at + a[i].len)
				return false;
	}
	return true;
}

static bool base_valid(bool packed, uint16_t num, uint32_t base)
{
	uint16_t av = (uint16_t)base, us = (uint16_t)(base >> 16);
	if (!packed)
		return (uint16_t)(av - us) <= num;
	unsigned ap = av & 0x7fff, up = us & 0x7fff;
	if (ap >= num || up >= num)
		return false;
	/* Descriptors the device holds: avail's lap minus used's, in positions. */
	long held = (long)ap - (long)up + ((av >> 15) == (us >> 15) ? 0 : num);
	return held >= 0 && held <= num;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t flags = fz_u8(&f);
	uint16_t num = (uint16_t)(1u << (fz_u8(&f) % 9));	/* 1..256 */
	bool packed = flags & 1, apart = flags & 8, based = flags & 16;
	size_t rb = vtb_ring_bytes(num, packed);
	if (rb > sizeof(ring) || vtb_vqdev_memsize(num) > sizeof(vqmem))
		return 0;
	struct area a[3] = {
		{ ring, vtb_ring_desc_bytes(num), VTB_RING_DESC_ALIGN },
		{ ring + vtb_ring_driver_off(num, packed), vtb_ring_driver_bytes(num, packed), vtb_ring_driver_align(packed) },
		{ ring + vtb_ring_device_off(num, packed), vtb_ring_device_bytes(num, packed), VTB_RING_DEVICE_ALIGN },
	};
	if (apart) {	/* a slot and an offset in it, each area */
		for (unsigned i = 0; i < 3; i++) {
			uint16_t w = fz_u16(&f);
			a[i].at = ring + (size_t)(w >> 14) * SLOT + (w & 0x1fff);
		}
	}
	uint32_t base = based ? fz_u32(&f) : 0;
	memset(ring, 0, sizeof(ring));
	memset(ind, 0, sizeof(ind));
	struct vtb_vqdev_params p = { .num = num, .desc = a[0].at, .avail = a[1].at, .used = a[2].at,
				      .event_idx = flags & 2, .packed = packed, .indirect = flags & 4, .xlate = xlate,
				      .has_base = based, .avail_base = (uint16_t)base,
				      .used_base = packed ? (uint16_t)(base >> 16) : 0 };
	if (!packed) {	/* where a last instance left the used index (the area may be misaligned) */
		uint16_t used_idx = (uint16_t)(base >> 16);
		memcpy(a[2].at + offsetof(struct vtb_vring_used, idx), &used_idx, sizeof(used_idx));
	}
	struct vtb_vqdev *vq = vtb_vqdev_init(vqmem, &p);
	bool valid = areas_valid(a) && (!based || base_valid(packed, num, base));
	FZ_CHECK(!vq == !valid, "init %s areas %p %p %p base %#x num=%u", vq ? "took bad" : "refused good",
		 (void *)a[0].at, (void *)a[1].at, (void *)a[2].at, base, num);
	if (!vq)
		return 0;
	uint32_t base0 = vtb_vqdev_base(vq);
	unsigned pops = 0;
	struct vtb_seg segs[MAX_SEG];
	uint16_t held[256];
	unsigned nheld = 0;
	bool broke = false;
	while (f.n) {
		uint8_t op = fz_u8(&f);
		switch (op % 5) {
		case 0:		/* the driver writes the ring, or one of its areas */
			if (apart) {
				const struct area *w = &a[fz_u8(&f) % 3];
				fz_write(&f, w->at, w->len, fz_u16(&f), 31);
			} else {
				fz_write(&f, ring, rb, fz_u16(&f), 31);
			}
			break;
		case 1:		/* ... or an indirect table */
			fz_write(&f, ind, IND_SIZE, fz_u16(&f), 31);
			break;
		case 2: {	/* the device pops */
			struct vtb_chain c = { .seg = segs, .max_seg = (uint16_t)(1 + fz_u8(&f) % MAX_SEG) };
			int r = vtb_vqdev_pop(vq, &c);
			if (broke) {
				FZ_CHECK(r < 0 && vtb_vqdev_broken(vq), "a broken queue popped again: %d", r);
				break;
			}
			if (r < 0) {
				FZ_CHECK(vtb_vqdev_broken(vq), "error %d without the queue marked broken", r);
				broke = true;
				break;
			}
			if (r == 0)
				break;
			FZ_CHECK(r == 1, "pop returned %d", r);
			FZ_CHECK(c.head < num, "head %u of %u", c.head, num);
			FZ_CHECK(c.nseg >= 1 && c.nseg <= c.max_seg && c.nout <= c.nseg, "nseg %u nout %u max %u",
				 c.nseg, c.nout, c.max_seg);
			uint64_t out = 0, in = 0;
			for (unsigned i = 0; i < c.nseg; i++) {
				FZ_CHECK(segs[i].write == (i >= c.nout), "segment %u direction", i);
				*(segs[i].write ? &in : &out) += segs[i].len;
			}
			FZ_CHECK(out == c.out_bytes && in == c.in_bytes, "byte counts %llu/%u %llu/%u",
				 (unsigned long long)out, c.out_bytes, (unsigned long long)in, c.in_bytes);
			for (unsigned i = 0; i < nheld; i++)
				FZ_CHECK(held[i] != c.head || packed, "head %u popped twice while in flight", c.head);
			FZ_CHECK(nheld < num, "more chains in flight (%u) than the queue holds", nheld + 1);
			held[nheld++] = c.head;
			pops++;
			break;
		}
		case 3: {	/* the device completes one it holds */
			if (!nheld)
				break;
			unsigned i = fz_u8(&f) % nheld;
			int r = vtb_vqdev_push(vq, held[i], fz_u16(&f));
			FZ_CHECK(r == 0 || vtb_vqdev_broken(vq), "push of a held head failed: %d", r);
			held[i] = held[--nheld];
			break;
		}
		default:	/* notification bookkeeping reads driver fields too */
			if (op & 8)
				(void)vtb_vqdev_need_notify(vq);
			else if (op & 16)
				(void)vtb_vqdev_enable_notify(vq);
			else
				vtb_vqdev_disable_notify(vq);
			break;
		}
	}
	FZ_CHECK(vtb_vqdev_inflight(vq) == nheld || broke, "inflight %u, held %u", vtb_vqdev_inflight(vq), nheld);
	uint32_t end = vtb_vqdev_base(vq);
	if (!packed)
		FZ_CHECK(end == (uint16_t)(base0 + pops), "base %#x after %u pops from %#x", end, pops, base0);
	if (!nheld && !broke) {	/* stopped with nothing in flight: a second instance takes over */
		p.has_base = true;
		p.avail_base = (uint16_t)end;
		p.used_base = (uint16_t)(end >> 16);
		struct vtb_vqdev *vq2 = vtb_vqdev_init(vqmem2, &p);
		FZ_CHECK(vq2, "no restart at base %#x (from %#x, %u pops)", end, base0, pops);
		FZ_CHECK(vtb_vqdev_base(vq2) == end, "restarted at %#x, not %#x", vtb_vqdev_base(vq2), end);
	}
	return 0;
}
