/* A device's view of guest memory as a table of regions, each a range of
 * guest-physical addresses the device reaches at some address of its own
 * (vhost-user SET_MEM_TABLE: up to 8 regions, or more with
 * CONFIGURE_MEM_SLOTS and ADD_MEM_REG / REM_MEM_REG).  Freestanding: the
 * table lives in caller memory (_memsize() + _init()), a fixed capacity.
 *
 * A range must lie inside one region (vtb_memmap_xlate).  Linux vhost
 * (translate_desc over its iotlb) and libvhost-user (virtqueue_map_desc
 * over vu_gpa_to_va) split a buffer that crosses regions into one iovec a
 * region; the vring engine here carries one pointer a descriptor, so it
 * refuses such a buffer instead.  vtb_memmap_xlate_part is vu_gpa_to_va's
 * step, for a backend that splits. */
#ifndef VTB_MEMMAP_H
#define VTB_MEMMAP_H

#include "vtb_compiler.h"

struct vtb_mem_region {
	uint64_t gpa;		/* guest-physical start */
	uint64_t size;		/* bytes, > 0 */
	void *va;		/* where the device reaches gpa */
	bool writable;		/* false: the device may only read it */
};

struct vtb_memmap;

size_t vtb_memmap_memsize(unsigned cap);
/* An empty table of cap regions at mem (aligned for a pointer); NULL if
 * cap is 0 or mem is NULL.  Initialising again empties it
 * (SET_MEM_TABLE replaces the whole table). */
struct vtb_memmap *vtb_memmap_init(void *mem, unsigned cap);
/* Adds a region.  -EINVAL: zero size, NULL va, or a range that wraps
 * (gpa + size past 2^64, va + size past the address space); -EEXIST: it
 * overlaps a region already there; -ENOSPC: the table is full. */
int vtb_memmap_add(struct vtb_memmap *m, const struct vtb_mem_region *r);
/* Removes the region at exactly [gpa, gpa+size): 0, or -ENOENT. */
int vtb_memmap_remove(struct vtb_memmap *m, uint64_t gpa, uint64_t size);
unsigned vtb_memmap_count(const struct vtb_memmap *m);
/* Where the device reaches [gpa, gpa+len), or NULL: part of it lies
 * outside every region, it crosses from one region into another, or write
 * is asked of a read-only region.  Overflow-safe for any gpa and len.  An
 * empty range is found at any address of a region and at its end. */
void *vtb_memmap_xlate(const struct vtb_memmap *m, uint64_t gpa, uint64_t len, bool write);
/* The part of [gpa, gpa+*len) inside the region that holds gpa: *len is
 * clipped to it and its address returned; NULL (and *len 0) when no region
 * holds gpa or write is asked of a read-only one. */
void *vtb_memmap_xlate_part(const struct vtb_memmap *m, uint64_t gpa, uint64_t *len, bool write);

#endif
