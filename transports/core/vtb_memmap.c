#include "vtb_memmap.h"

/* Regions sorted by gpa, none overlapping: the one that may hold an
 * address is the last that starts at or below it. */
struct vtb_memmap {
	unsigned n, cap;
	struct vtb_mem_region r[];
};

size_t vtb_memmap_memsize(unsigned cap)
{
	return sizeof(struct vtb_memmap) + (size_t)cap * sizeof(struct vtb_mem_region);
}

struct vtb_memmap *vtb_memmap_init(void *mem, unsigned cap)
{
	if (!mem || !cap || (uintptr_t)mem % _Alignof(struct vtb_memmap))
		return NULL;
	struct vtb_memmap *m = mem;
	m->n = 0;
	m->cap = cap;
	return m;
}

unsigned vtb_memmap_count(const struct vtb_memmap *m) { return m->n; }

/* The number of regions that start at or below gpa. */
static unsigned memmap_below(const struct vtb_memmap *m, uint64_t gpa)
{
	unsigned lo = 0, hi = m->n;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (m->r[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Last byte of a region: no overflow, as its size is at least 1 and it
 * was refused at add if gpa + size passed 2^64. */
static uint64_t region_last(const struct vtb_mem_region *r)
{
	return r->gpa + (r->size - 1);
}

int vtb_memmap_add(struct vtb_memmap *m, const struct vtb_mem_region *r)
{
	if (!r->size || !r->va || r->gpa > UINT64_MAX - (r->size - 1) ||
	    (uintptr_t)(r->size - 1) != r->size - 1 || (uintptr_t)r->va > UINTPTR_MAX - (uintptr_t)(r->size - 1))
		return -VTB_EINVAL;
	unsigned i = memmap_below(m, r->gpa);
	if ((i > 0 && region_last(&m->r[i - 1]) >= r->gpa) || (i < m->n && region_last(r) >= m->r[i].gpa))
		return -VTB_EEXIST;
	if (m->n == m->cap)
		return -VTB_ENOSPC;
	vtb_memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(m->r[0]));
	m->r[i] = *r;
	m->n++;
	return 0;
}

int vtb_memmap_remove(struct vtb_memmap *m, uint64_t gpa, uint64_t size)
{
	unsigned i = memmap_below(m, gpa);
	if (!i || m->r[i - 1].gpa != gpa || m->r[i - 1].size != size)
		return -VTB_ENOENT;
	i--;
	vtb_memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(m->r[0]));
	m->n--;
	return 0;
}

void *vtb_memmap_xlate(const struct vtb_memmap *m, uint64_t gpa, uint64_t len, bool write)
{
	unsigned i = memmap_below(m, gpa);
	if (!i)
		return NULL;
	const struct vtb_mem_region *r = &m->r[i - 1];
	/* gpa - r->gpa cannot wrap (r starts at or below gpa); the range check
	 * is the overflow-safe one, so gpa + len is never formed. */
	if ((write && !r->writable) || !vtb_range_ok(gpa - r->gpa, len, r->size))
		return NULL;
	return (char *)r->va + (gpa - r->gpa);
}

void *vtb_memmap_xlate_part(const struct vtb_memmap *m, uint64_t gpa, uint64_t *len, bool write)
{
	unsigned i = memmap_below(m, gpa);
	const struct vtb_mem_region *r = i ? &m->r[i - 1] : NULL;
	if (!r || gpa - r->gpa >= r->size || (write && !r->writable)) {
		*len = 0;
		return NULL;
	}
	uint64_t room = r->size - (gpa - r->gpa);
	if (*len > room)
		*len = room;
	return (char *)r->va + (gpa - r->gpa);
}
