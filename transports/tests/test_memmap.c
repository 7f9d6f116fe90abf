/* The region table: several guest memory regions, as a vhost-user
 * SET_MEM_TABLE gives them.  Translation inside each, refusal outside every
 * region, across a boundary and at the overflow edges, and the inserts
 * that must be refused. */
#include <string.h>

#include "../../ci/vtb_test.h"
#include "../core/vtb_memmap.h"

#define CAP 8

static _Alignas(16) unsigned char tbl[4096];
static unsigned char a[0x3000], b[0x1000], c[0x2000], top[0x1000];

static struct vtb_memmap *fresh(void)
{
	CHECK(vtb_memmap_memsize(CAP) <= sizeof(tbl));
	return vtb_memmap_init(tbl, CAP);
}

static int add(struct vtb_memmap *m, uint64_t gpa, uint64_t size, void *va, bool writable)
{
	struct vtb_mem_region r = { .gpa = gpa, .size = size, .va = va, .writable = writable };
	return vtb_memmap_add(m, &r);
}

/* Three regions, added out of order: one at 0, one just above it with no
 * gap (its memory elsewhere), one read-only far above, and one ending at
 * the top of the 64-bit space. */
static struct vtb_memmap *three(void)
{
	struct vtb_memmap *m = fresh();
	CHECK_EQ(add(m, 0x100000000ull, sizeof(c), c, false), 0);
	CHECK_EQ(add(m, 0, sizeof(a), a, true), 0);
	CHECK_EQ(add(m, sizeof(a), sizeof(b), b, true), 0);
	CHECK_EQ(add(m, UINT64_MAX - sizeof(top) + 1, sizeof(top), top, true), 0);
	CHECK_EQ(vtb_memmap_count(m), 4);
	return m;
}

static void test_translate(void)
{
	struct vtb_memmap *m = three();
	CHECK(vtb_memmap_xlate(m, 0, 16, true) == a);
	CHECK(vtb_memmap_xlate(m, 0x2ff0, 16, true) == a + 0x2ff0);	/* a's last bytes */
	CHECK(vtb_memmap_xlate(m, 0x3000, 16, true) == b);		/* b, not a's end */
	CHECK(vtb_memmap_xlate(m, 0x3000 + 0x800, 0x800, false) == b + 0x800);
	CHECK(vtb_memmap_xlate(m, 0x100000000ull + 0x10, 0x100, false) == c + 0x10);
	CHECK(vtb_memmap_xlate(m, UINT64_MAX - 15, 16, true) == top + sizeof(top) - 16);
	CHECK(vtb_memmap_xlate(m, UINT64_MAX, 1, false) == top + sizeof(top) - 1);
	/* Empty ranges: anywhere in a region and at its end (shm's rule). */
	CHECK(vtb_memmap_xlate(m, 0x4000, 0, false) == b + sizeof(b));
	CHECK(vtb_memmap_xlate(m, 0x10, 0, false) == a + 0x10);
}

static void test_refuse(void)
{
	struct vtb_memmap *m = three();
	/* Across the boundary of two regions adjacent in guest memory. */
	CHECK(vtb_memmap_xlate(m, 0x2ff0, 32, false) == NULL);
	/* In no region: the gap above b, below c, above c. */
	CHECK(vtb_memmap_xlate(m, 0x4000, 1, false) == NULL);
	CHECK(vtb_memmap_xlate(m, 0xffffffffull, 1, false) == NULL);
	CHECK(vtb_memmap_xlate(m, 0x100000000ull + sizeof(c), 1, false) == NULL);
	/* Starts inside, runs out of the region into nothing. */
	CHECK(vtb_memmap_xlate(m, 0x100000000ull + sizeof(c) - 4, 8, false) == NULL);
	/* Overflow edges: gpa + len past 2^64, a length of 2^64 - 1. */
	CHECK(vtb_memmap_xlate(m, UINT64_MAX - 15, 32, false) == NULL);
	CHECK(vtb_memmap_xlate(m, UINT64_MAX, 2, false) == NULL);
	CHECK(vtb_memmap_xlate(m, 0x10, UINT64_MAX, false) == NULL);
	CHECK(vtb_memmap_xlate(m, UINT64_MAX, UINT64_MAX, false) == NULL);
	/* Write to the read-only region. */
	CHECK(vtb_memmap_xlate(m, 0x100000000ull, 16, true) == NULL);
	/* An empty table holds nothing. */
	m = fresh();
	CHECK(vtb_memmap_xlate(m, 0, 0, false) == NULL);
}

/* vu_gpa_to_va's step: the part inside the region holding gpa. */
static void test_part(void)
{
	struct vtb_memmap *m = three();
	uint64_t len = 0x40;
	CHECK(vtb_memmap_xlate_part(m, 0x2fe0, &len, true) == a + 0x2fe0);
	CHECK_EQ(len, 0x20);
	len = 0x40;
	CHECK(vtb_memmap_xlate_part(m, 0x3000, &len, true) == b);
	CHECK_EQ(len, 0x40);
	len = UINT64_MAX;
	CHECK(vtb_memmap_xlate_part(m, UINT64_MAX - 3, &len, false) == top + sizeof(top) - 4);
	CHECK_EQ(len, 4);
	len = 8;
	CHECK(vtb_memmap_xlate_part(m, 0x4000, &len, false) == NULL);
	CHECK_EQ(len, 0);
	len = 8;
	CHECK(vtb_memmap_xlate_part(m, 0x100000000ull, &len, true) == NULL);
	CHECK_EQ(len, 0);
}

static void test_insert_checks(void)
{
	struct vtb_memmap *m = three();
	CHECK_EQ(add(m, 0x10000, 0, a, true), -VTB_EINVAL);			/* zero size */
	CHECK_EQ(add(m, 0x10000, 16, NULL, true), -VTB_EINVAL);		/* no memory */
	CHECK_EQ(add(m, UINT64_MAX - 0xfff, 0x2000, a, true), -VTB_EINVAL);	/* gpa wraps */
	CHECK_EQ(add(m, 0x200000000ull, 0x1000, (void *)(UINTPTR_MAX - 0x7ff), true), -VTB_EINVAL);	/* va wraps */
	/* Overlaps: inside, over a start, over an end, covering, equal. */
	CHECK_EQ(add(m, 0x100, 0x10, a, true), -VTB_EEXIST);
	CHECK_EQ(add(m, 0x100000000ull - 0x10, 0x20, a, true), -VTB_EEXIST);
	CHECK_EQ(add(m, 0x100000000ull + sizeof(c) - 1, 0x10, a, true), -VTB_EEXIST);
	CHECK_EQ(add(m, 0x2000, 0x4000, a, true), -VTB_EEXIST);
	CHECK_EQ(add(m, 0, sizeof(a), a, true), -VTB_EEXIST);
	CHECK_EQ(add(m, UINT64_MAX, 1, a, true), -VTB_EEXIST);
	CHECK_EQ(vtb_memmap_count(m), 4);
	/* Adjacent on both sides is not an overlap. */
	CHECK_EQ(add(m, 0x4000, 0x100000000ull - 0x4000, a, true), 0);
	CHECK((uintptr_t)vtb_memmap_xlate(m, 0xffffffffull, 1, false) == (uintptr_t)a + 0xffffffffull - 0x4000);
	/* Full. */
	for (unsigned i = 0; vtb_memmap_count(m) < CAP; i++)
		CHECK_EQ(add(m, 0x1000000000ull + i * 0x1000ull, 0x1000, b, true), 0);
	CHECK_EQ(add(m, 0x2000000000ull, 0x1000, b, true), -VTB_ENOSPC);
	/* Remove: exact ranges only; what was there is gone, the rest stays. */
	CHECK_EQ(vtb_memmap_remove(m, 0x3000, 0x800), -VTB_ENOENT);
	CHECK_EQ(vtb_memmap_remove(m, 0x3000, sizeof(b)), 0);
	CHECK(vtb_memmap_xlate(m, 0x3000, 1, false) == NULL);
	CHECK(vtb_memmap_xlate(m, 0x2fff, 1, false) == a + 0x2fff);
	CHECK(vtb_memmap_xlate(m, 0x100000000ull, 1, false) == c);
	CHECK_EQ(add(m, 0x3000, sizeof(b), b, true), 0);
	CHECK(vtb_memmap_xlate(m, 0x3000, 1, false) == b);
	/* Bad tables. */
	CHECK(vtb_memmap_init(tbl, 0) == NULL);
	CHECK(vtb_memmap_init(NULL, 1) == NULL);
	CHECK(vtb_memmap_init(tbl + 1, 1) == NULL);
}

int main(void)
{
	test_translate();
	test_refuse();
	test_part();
	test_insert_checks();
	return vtb_test_end("test_memmap");
}
