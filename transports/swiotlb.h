/* The swiotlb slot allocator on its own, so a unit test can hold it to
 * Linux's placement rule (kernel/dma/swiotlb.c, swiotlb_search_pool_area). */
#ifndef VTB_SWIOTLB_H
#define VTB_SWIOTLB_H

#include <stdint.h>

#define VTB_TLB_SHIFT 11
#define VTB_TLB_SIZE (1u << VTB_TLB_SHIFT)			/* IO_TLB_SIZE */
#define VTB_TLB_SEGSIZE 128u					/* IO_TLB_SEGSIZE */
#define VTB_TLB_MAX_MAP (VTB_TLB_SIZE * VTB_TLB_SEGSIZE)	/* 256 KiB */

/* One restricted-dma-pool: a single area, as rmem pools have. */
struct vtb_tlb_pool {
	uint64_t start;		/* device address of slot 0 */
	unsigned nslots;
	unsigned index;		/* where the next search starts (area->index) */
	unsigned used;		/* slots taken (area->used) */
	uint8_t *busy;		/* one byte a slot */
};

/* Slots for a streaming mapping of size bytes: the first slot's index, or
 * -1 when none fits. */
int vtb_tlb_find_slots(struct vtb_tlb_pool *p, uint32_t size);
void vtb_tlb_release(struct vtb_tlb_pool *p, unsigned index, unsigned nslots);

#endif
