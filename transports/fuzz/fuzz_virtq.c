/* The device side of split and packed virtqueues (descriptor chains,
 * indirect tables, packed descriptors) against a driver that writes
 * anything anywhere in the ring and its indirect tables, between the
 * device's pops and pushes.  What must hold: no memory error (ASan), a
 * popped chain is well-formed (head in range, readable before writable,
 * byte counts the sums of its segments, at most max_seg segments, indirect
 * tables only where xlate allowed), and a broken queue stays broken. */
#include "fuzz_common.h"

#include "../core/vtb_virtq.h"

#define IND_BASE 0x40000000ull
#define IND_SIZE 8192u
#define MAX_SEG 64

static _Alignas(4096) uint8_t ring[1 << 16];
static _Alignas(16) uint8_t ind[IND_SIZE];
static _Alignas(64) uint8_t vqmem[1 << 16];
static unsigned xlate_calls;

static const void *xlate(void *ctx, uint64_t addr, uint32_t len)
{
	(void)ctx;
	xlate_calls++;
	if (addr < IND_BASE || addr - IND_BASE > IND_SIZE || len > IND_SIZE - (addr - IND_BASE))
		return NULL;
	return ind + (addr - IND_BASE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t flags = fz_u8(&f);
	uint16_t num = (uint16_t)(1u << (fz_u8(&f) % 9));	/* 1..256 */
	bool packed = flags & 1;
	size_t rb = vtb_ring_bytes(num, packed);
	if (rb > sizeof(ring) || vtb_vqdev_memsize(num) > sizeof(vqmem))
		return 0;
	memset(ring, 0, rb);
	memset(ind, 0, sizeof(ind));
	struct vtb_vqdev_params p = { .num = num, .ring = ring, .event_idx = flags & 2, .packed = packed,
				      .indirect = flags & 4, .xlate = xlate };
	struct vtb_vqdev *vq = vtb_vqdev_init(vqmem, &p);
	FZ_CHECK(vq, "init refused valid parameters num=%u", num);
	struct vtb_seg segs[MAX_SEG];
	uint16_t held[256];
	unsigned nheld = 0;
	bool broke = false;
	while (f.n) {
		uint8_t op = fz_u8(&f);
		switch (op % 5) {
		case 0:		/* the driver writes the ring */
			fz_write(&f, ring, rb, fz_u16(&f), 31);
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
	return 0;
}
