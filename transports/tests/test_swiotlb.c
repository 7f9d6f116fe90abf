/* The swiotlb slot allocator against Linux's placement rule (6.12,
 * swiotlb_search_pool_area, for a device without min_align_mask and a
 * streaming map without alloc_align_mask): a mapping of 4 KiB or more
 * starts on a 4 KiB boundary of the pool's device addresses, smaller ones
 * take the next free slots from the rotating index, nothing crosses a
 * 128-slot segment, and the index moves past each allocation. */
#include <stdint.h>
#include <string.h>

#include "../../ci/vtb_test.h"
#include "../swiotlb.h"

#define NSLOTS 4096u

static uint8_t busy[NSLOTS];

static void pool_init(struct vtb_tlb_pool *p, uint64_t start)
{
	memset(busy, 0, sizeof(busy));
	*p = (struct vtb_tlb_pool){ .start = start, .nslots = NSLOTS, .busy = busy };
}

static uint64_t addr_of(const struct vtb_tlb_pool *p, int slot)
{
	return p->start + (uint64_t)slot * VTB_TLB_SIZE;
}

/* The packing a run of mappings gets, slot by slot. */
static void test_packing(void)
{
	struct vtb_tlb_pool p;
	pool_init(&p, 0x100000);
	CHECK_EQ(vtb_tlb_find_slots(&p, 512), 0);
	CHECK_EQ(vtb_tlb_find_slots(&p, 512), 1);	/* small ones pack */
	CHECK_EQ(vtb_tlb_find_slots(&p, 4096), 2);	/* slot 2 is on a page */
	CHECK_EQ(vtb_tlb_find_slots(&p, 48), 4);	/* an indirect table */
	CHECK_EQ(vtb_tlb_find_slots(&p, 4096), 6);	/* 5 is not on a page */
	CHECK_EQ(vtb_tlb_find_slots(&p, 2048), 8);
	CHECK_EQ(vtb_tlb_find_slots(&p, 3000), 9);	/* under a page: unaligned is fine */
	CHECK_EQ(vtb_tlb_find_slots(&p, 4097), 12);	/* three slots from a page */
	CHECK_EQ(p.index, 15);
	CHECK_EQ(vtb_tlb_find_slots(&p, 1), 15);
	CHECK_EQ(p.used, 1 + 1 + 2 + 1 + 2 + 1 + 2 + 3 + 1);
	/* The hole at 5 is reached again only after the index wraps. */
	CHECK_EQ(vtb_tlb_find_slots(&p, 65536), 16);
	CHECK_EQ(p.index, 48);

	/* A pool whose start is not on a page: alignment is of the device
	 * address, so page-sized mappings take the odd slots. */
	pool_init(&p, 0x100800);
	CHECK_EQ(vtb_tlb_find_slots(&p, 4096), 1);
	CHECK_EQ(vtb_tlb_find_slots(&p, 100), 3);
	CHECK_EQ(vtb_tlb_find_slots(&p, 8192), 5);
	CHECK_EQ(addr_of(&p, 5) % 4096, 0);
}

/* Segments: a run of slots never spans a 128-slot boundary. */
static void test_segments(void)
{
	struct vtb_tlb_pool p;
	pool_init(&p, 0);
	CHECK_EQ(vtb_tlb_find_slots(&p, 126 * VTB_TLB_SIZE), 0);
	CHECK_EQ(vtb_tlb_find_slots(&p, 3 * VTB_TLB_SIZE), 128);	/* 126..128 would cross */
	vtb_tlb_release(&p, 0, 126);
	p.index = 127;
	CHECK_EQ(vtb_tlb_find_slots(&p, 4000), 131);	/* 127 crosses; 128.. taken up to 130 */
	/* The largest mapping is one whole segment, and only at its start. */
	pool_init(&p, 0);
	p.index = 1;
	CHECK_EQ(vtb_tlb_find_slots(&p, VTB_TLB_MAX_MAP), 128);
	CHECK_EQ(vtb_tlb_find_slots(&p, VTB_TLB_MAX_MAP + 1), -1);
	CHECK_EQ(vtb_tlb_find_slots(&p, 0), -1);
}

/* Wrap-around and exhaustion. */
static void test_wrap_full(void)
{
	struct vtb_tlb_pool p;
	pool_init(&p, 0);
	p.index = NSLOTS - 1;
	CHECK_EQ(vtb_tlb_find_slots(&p, 100), (int)NSLOTS - 1);
	CHECK_EQ(p.index, 0);
	p.index = NSLOTS - 1;
	CHECK_EQ(vtb_tlb_find_slots(&p, 4096), 0);	/* NSLOTS-1 is busy, odd and at the end */
	/* Whole segments: only 1..30 are free from end to end. */
	for (unsigned s = 1; s <= 30; s++)
		CHECK_EQ(vtb_tlb_find_slots(&p, VTB_TLB_MAX_MAP), (int)(s * VTB_TLB_SEGSIZE));
	CHECK_EQ(vtb_tlb_find_slots(&p, VTB_TLB_MAX_MAP), -1);
	CHECK_EQ(p.index, 31 * VTB_TLB_SEGSIZE);
	CHECK_EQ(vtb_tlb_find_slots(&p, 1), 31 * VTB_TLB_SEGSIZE);
	CHECK_EQ(vtb_tlb_find_slots(&p, 4096), 31 * VTB_TLB_SEGSIZE + 2);
	pool_init(&p, 0);
	for (unsigned s = 0; s < NSLOTS / VTB_TLB_SEGSIZE; s++)
		CHECK_EQ(vtb_tlb_find_slots(&p, VTB_TLB_MAX_MAP), (int)(s * VTB_TLB_SEGSIZE));
	CHECK_EQ(p.used, NSLOTS);
	CHECK_EQ(vtb_tlb_find_slots(&p, 1), -1);
	vtb_tlb_release(&p, 256, 128);
	CHECK_EQ(vtb_tlb_find_slots(&p, 4096), 256);
}

/* Random maps and unmaps: every rule holds for every mapping. */
static void test_random(void)
{
	struct vtb_tlb_pool p;
	struct { int slot; unsigned n; uint32_t size; } live[256];
	unsigned nlive = 0, big = 0, big_aligned = 0, bad_seg = 0, overlap = 0;
	uint8_t mine[NSLOTS];
	uint64_t x = 88172645463325252ull;
	pool_init(&p, 0x40000000);
	memset(mine, 0, sizeof(mine));
	for (unsigned it = 0; it < 200000; it++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (nlive == 256 || (nlive && x % 3 == 0)) {
			unsigned k = (unsigned)(x >> 20) % nlive;
			vtb_tlb_release(&p, (unsigned)live[k].slot, live[k].n);
			memset(mine + live[k].slot, 0, live[k].n);
			live[k] = live[--nlive];
			continue;
		}
		/* Sizes as the workloads make them: headers, tables, 4k..256k. */
		static const uint32_t sizes[] = { 1, 16, 48, 512, 1500, 2048, 3000, 4096, 4097, 8192, 65536, 262144 };
		uint32_t size = x % 5 ? sizes[(x >> 8) % 12] : 1 + (uint32_t)((x >> 8) % VTB_TLB_MAX_MAP);
		int slot = vtb_tlb_find_slots(&p, size);
		if (slot < 0)
			continue;
		unsigned n = (size + VTB_TLB_SIZE - 1) / VTB_TLB_SIZE;
		if (size >= 4096) {
			big++;
			big_aligned += addr_of(&p, slot) % 4096 == 0;
		}
		bad_seg += (unsigned)slot / VTB_TLB_SEGSIZE != ((unsigned)slot + n - 1) / VTB_TLB_SEGSIZE;
		for (unsigned k = 0; k < n; k++)
			overlap += mine[slot + k];
		memset(mine + slot, 1, n);
		live[nlive++] = (typeof(live[0])){ slot, n, size };
	}
	CHECK(big > 10000);
	CHECK_EQ(big_aligned, big);
	CHECK_EQ(bad_seg, 0);
	CHECK_EQ(overlap, 0);
	unsigned used = 0;
	for (unsigned i = 0; i < NSLOTS; i++)
		used += mine[i];
	CHECK_EQ(p.used, used);
	CHECK(!memcmp(mine, busy, NSLOTS));
}

int main(void)
{
	test_packing();
	test_segments();
	test_wrap_full();
	test_random();
	return vtb_test_end("test_swiotlb");
}
