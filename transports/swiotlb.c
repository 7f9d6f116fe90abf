/* swiotlb: bounce buffers in a region the FE shares from the start (a
 * Linux restricted-dma-pool).  The region holds the rings and a pool of
 * 2 KiB slots in 128-slot segments (IO_TLB_SIZE, IO_TLB_SEGSIZE), so one
 * mapping is at most 256 KiB and never crosses a segment; slots are placed
 * by Linux's rule (vtb_tlb_find_slots).  The FE copies each buffer into
 * slots at map time (Linux also copies device-writable buffers, so a
 * partial device write cannot leak stale slot data) and copies
 * device-writable ones back at unmap; indirect tables are mapped per
 * request like any device-readable buffer.  The BE maps only the region. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "swiotlb.h"
#include "vring.h"

#define TLB_SHIFT VTB_TLB_SHIFT
#define TLB_SIZE VTB_TLB_SIZE
#define TLB_SEGSIZE VTB_TLB_SEGSIZE
#define TLB_MAX_MAP VTB_TLB_MAX_MAP
#define TLB_PAGE 4096u				/* PAGE_SIZE */
#define POOL_BYTES (8u << 20)			/* 32 segments */

/* Rings only (split: packed rings are shm's variant): indirect tables are
 * mapped (bounced) per request. */
static uint64_t ring_area(const struct vtb_xenv *env, unsigned nq)
{
	return VTB_ALIGN_UP((uint64_t)vtb_vring_bytes(env->qsize), 4096ull) * nq;
}

static uint64_t swiotlb_region_bytes(const struct vtb_xenv *env)
{
	return ring_area(env, env->nqueues) + POOL_BYTES;
}

/* ---------------------------------------------------------------- slots */

static unsigned wrap_index(const struct vtb_tlb_pool *p, unsigned i)
{
	return i >= p->nslots ? 0 : i;
}

/* pool->slots[i].list >= n: n free slots from i, inside i's segment. */
static int run_free(const struct vtb_tlb_pool *p, unsigned i, unsigned n)
{
	if (i % TLB_SEGSIZE + n > TLB_SEGSIZE || i + n > p->nslots)
		return 0;
	for (unsigned k = 0; k < n; k++)
		if (p->busy[i + k])
			return 0;
	return 1;
}

/* swiotlb_search_pool_area as of 6.12 for a virtio device: min_align_mask
 * is 0 (virtio sets none) and swiotlb_map passes alloc_align_mask 0, so
 * the only alignment is the historical one: a mapping of PAGE_SIZE or more
 * starts on a page, searched with a stride of a page; smaller ones take
 * the next free slot.  No offset inside the slot is kept (it would come
 * from min_align_mask).  The segment boundary comes from the slots' free
 * runs, which stop at every 128th slot; the device's own DMA segment
 * boundary (4 GiB by default) never falls inside this pool. */
int vtb_tlb_find_slots(struct vtb_tlb_pool *p, uint32_t size)
{
	unsigned n = (unsigned)(((uint64_t)size + TLB_SIZE - 1) / TLB_SIZE);
	uint64_t align = (size >= TLB_PAGE ? TLB_PAGE - 1 : 0) | (TLB_SIZE - 1);
	unsigned stride = (unsigned)(align >> TLB_SHIFT) + 1;
	if (!n || n > TLB_SEGSIZE || n > p->nslots - p->used)
		return -1;
	unsigned index = p->index;
	for (unsigned checked = 0; checked < p->nslots;) {
		if ((p->start + (uint64_t)index * TLB_SIZE) & align) {
			index = wrap_index(p, index + 1);
			checked++;
			continue;
		}
		if (run_free(p, index, n)) {
			memset(p->busy + index, 1, n);
			p->used += n;
			p->index = wrap_index(p, index + n);
			return (int)index;
		}
		index = wrap_index(p, index + stride);
		checked += stride;
	}
	return -1;
}

void vtb_tlb_release(struct vtb_tlb_pool *p, unsigned index, unsigned nslots)
{
	memset(p->busy + index, 0, nslots);
	p->used -= nslots;
}

/* ---------------------------------------------------------------- FE */
struct tlb_fe {
	char *base;		/* FE pointer to the region */
	uint64_t gpa;
	uint64_t ring_used, ring_size;
	char *pool;
	struct vtb_tlb_pool slots;
};

static int tlb_fe_setup(struct vtb_vfe *fe)
{
	struct vtb_xenv *env = fe->env;
	struct tlb_fe *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->gpa = env->shared_gpa;
	t->base = env->ram + env->shared_gpa;
	t->ring_size = ring_area(env, env->regs->num_queues);
	t->pool = t->base + t->ring_size;
	t->slots.start = t->gpa + t->ring_size;
	t->slots.nslots = (unsigned)((env->shared_size - t->ring_size) / TLB_SIZE);
	t->slots.busy = calloc(t->slots.nslots, 1);
	if (!t->slots.busy || t->slots.nslots < TLB_SEGSIZE) {
		free(t->slots.busy);
		free(t);
		return -ENOSPC;
	}
	fe->priv = t;
	return 0;
}

static int tlb_fe_ring(struct vtb_vfe *fe, size_t bytes, uint64_t *addr, void **va)
{
	struct tlb_fe *t = fe->priv;
	uint64_t need = VTB_ALIGN_UP((uint64_t)bytes, 4096ull);
	if (need > t->ring_size - t->ring_used)
		return -ENOSPC;
	*addr = t->gpa + t->ring_used;
	*va = t->base + t->ring_used;
	t->ring_used += need;
	return 0;
}

/* swiotlb_tbl_map_single: slots, then the original bounced in whatever the
 * direction (Linux copies device-writable buffers in too, so a partial
 * device write cannot expose stale pool data: the CVE-2022-0854 fix, still
 * unconditional in 6.12).  Returns the slot handle, or <0. */
static int64_t tlb_map_one(struct vtb_vfe *fe, uint64_t gpa, uint32_t len, uint64_t *dev)
{
	struct tlb_fe *t = fe->priv;
	struct vtb_plat_counters *c = fe->env->plat->ctr;
	if (len > TLB_MAX_MAP)
		return -E2BIG;
	int slot = vtb_tlb_find_slots(&t->slots, len);
	if (slot < 0)
		return -VTB_ENOSPC;
	c->xport_ops++;
	memcpy(t->pool + (size_t)slot * TLB_SIZE, fe->env->ram + gpa, len);
	c->bounce_copies++;
	c->bounce_bytes += len;
	*dev = t->slots.start + (uint64_t)slot * TLB_SIZE;
	return (int64_t)((uint64_t)slot << 32 | ((len + TLB_SIZE - 1) / TLB_SIZE));
}

static void tlb_release(struct tlb_fe *t, uint64_t handle)
{
	vtb_tlb_release(&t->slots, (unsigned)(handle >> 32), (unsigned)handle);
}

static void tlb_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len);

static int tlb_fe_map(struct vtb_vfe *fe, struct vtb_vfe_req *r, struct vtb_sg *dev)
{
	unsigned total = r->nout + r->nin;
	for (unsigned i = 0; i < total; i++) {
		int64_t h = r->orig[i].len ? tlb_map_one(fe, r->orig[i].addr, r->orig[i].len, &dev[i].addr)
					   : -VTB_ENOSPC;
		if (h < 0) {
			/* Back-pressure: give back what this request took. */
			r->nin = i > r->nout ? i - r->nout : 0;
			r->nout = i < r->nout ? i : r->nout;
			tlb_fe_unmap(fe, r, 0);
			return (int)h;
		}
		r->handle[i] = (uint64_t)h;
		dev[i].len = r->orig[i].len;
	}
	return 0;
}

/* swiotlb_tbl_unmap_single: device-writable buffers (DMA_FROM_DEVICE) are
 * bounced out whole, the mapping size, not what the device wrote. */
static void tlb_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len)
{
	struct tlb_fe *t = fe->priv;
	struct vtb_plat_counters *c = fe->env->plat->ctr;
	(void)used_len;
	for (unsigned i = 0; i < r->nout + r->nin; i++) {
		if (i >= r->nout) {
			unsigned slot = (unsigned)(r->handle[i] >> 32);
			memcpy(fe->env->ram + r->orig[i].addr, t->pool + (size_t)slot * TLB_SIZE, r->orig[i].len);
			c->bounce_copies++;
			c->bounce_bytes += r->orig[i].len;
		}
		tlb_release(t, r->handle[i]);
	}
}

/* The indirect table: one more DMA_TO_DEVICE mapping, bounced in at map,
 * nothing copied back. */
static int tlb_fe_map_indirect(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint64_t gpa, uint32_t len,
			       uint64_t *dev_addr)
{
	int64_t h = tlb_map_one(fe, gpa, len, dev_addr);
	if (h < 0)
		return (int)h;
	r->ind_handle = (uint64_t)h;
	return 0;
}

static void tlb_fe_unmap_indirect(struct vtb_vfe *fe, struct vtb_vfe_req *r)
{
	tlb_release(fe->priv, r->ind_handle);
}

static void tlb_fe_teardown(struct vtb_vfe *fe)
{
	struct tlb_fe *t = fe->priv;
	if (t)
		free(t->slots.busy);
	free(t);
}

/* ---------------------------------------------------------------- BE */
struct tlb_be {
	char *base;	/* the region: all the BE can reach */
	uint64_t gpa, size;
};

static int tlb_be_setup(struct vtb_vbe *be)
{
	struct vtb_xenv *env = be->env;
	struct tlb_be *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->gpa = env->shared_gpa;
	t->size = env->shared_size;
	t->base = env->plat->ops->map(env->plat, env->fe, t->gpa, t->size, true, NULL);
	if (!t->base) {
		int e = -errno;
		free(t);
		return e;
	}
	be->priv = t;
	return 0;
}

static void *tlb_at(struct vtb_vbe *be, uint64_t addr, uint64_t len)
{
	struct tlb_be *t = be->priv;
	if (addr < t->gpa || !vtb_range_ok(addr - t->gpa, len, t->size))
		return NULL;
	return t->base + (addr - t->gpa);
}

static void *tlb_be_ring(struct vtb_vbe *be, uint64_t addr, size_t bytes) { return tlb_at(be, addr, bytes); }
static const void *tlb_be_indirect(struct vtb_vbe *be, uint64_t addr, uint32_t len) { return tlb_at(be, addr, len); }

static int tlb_be_get(struct vtb_vbe *be, struct vtb_vbe_map *m)
{
	m->va = tlb_at(be, m->addr, m->len);
	return m->va ? 0 : -EFAULT;
}

static void tlb_be_teardown(struct vtb_vbe *be)
{
	struct tlb_be *t = be->priv;
	if (!t)
		return;
	be->env->plat->ops->unmap(be->env->plat, t->base, t->size, false);
	free(t);
}

static const struct vtb_vring_policy swiotlb_policy = {
	.access_platform = true,	/* the bounce pool is the DMA API's */
	.fe_setup = tlb_fe_setup,
	.fe_ring = tlb_fe_ring,
	.fe_map = tlb_fe_map,
	.fe_unmap = tlb_fe_unmap,
	.fe_map_indirect = tlb_fe_map_indirect,
	.fe_unmap_indirect = tlb_fe_unmap_indirect,
	.fe_teardown = tlb_fe_teardown,
	.be_setup = tlb_be_setup,
	.be_ring = tlb_be_ring,
	.be_indirect = tlb_be_indirect,
	.be_get = tlb_be_get,
	.be_teardown = tlb_be_teardown,
};

static int swiotlb_fe_open(struct vtb_xenv *env, uint64_t wanted, void **fe)
{
	return vtb_vring_fe_open(env, &swiotlb_policy, wanted, fe);
}

static int swiotlb_be_open(struct vtb_xenv *env, void **be)
{
	return vtb_vring_be_open(env, &swiotlb_policy, be);
}

static const char *const swiotlb_variants[] = { "pool", NULL };
static const char *const swiotlb_variant_desc[] = {
	"restricted-dma-pool of 8 MiB: 2 KiB slots, 128-slot segments; rings in the pool region",
	NULL,
};

const struct vtb_transport_ops vtb_transport_swiotlb = {
	.name = "swiotlb",
	.desc = "bounce buffers in a pre-shared region (restricted-dma-pool): FE copies in and out, BE maps only the region",
	.variants = swiotlb_variants,
	.variant_desc = swiotlb_variant_desc,
	.caps = VTB_CAP_SPLIT | VTB_CAP_INDIRECT | VTB_CAP_NOTIFY_EVENT | VTB_CAP_NOTIFY_POLL | VTB_CAP_REGION |
		VTB_CAP_MAX_BUFFER,
	.region_bytes = swiotlb_region_bytes,
	.max_buffer = TLB_MAX_MAP,
	.fe_open = swiotlb_fe_open,
	.be_open = swiotlb_be_open,
	VTB_VRING_OPS,
};
