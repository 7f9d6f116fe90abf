/* swiotlb: bounce buffers in a region the FE shares from the start (a
 * Linux restricted-dma-pool).  The region holds the rings and a pool of
 * 2 KiB slots in 128-slot segments (IO_TLB_SIZE, IO_TLB_SEGSIZE), so one
 * mapping is at most 256 KiB and never crosses a segment.  The FE copies
 * each buffer into slots at map time (Linux >= 5.19 also copies
 * device-writable buffers, so a partial device write cannot leak stale
 * slot data) and copies device-writable ones back at unmap; the BE maps
 * only the region. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vring.h"

#define TLB_SHIFT 11
#define TLB_SIZE (1u << TLB_SHIFT)		/* IO_TLB_SIZE */
#define TLB_SEGSIZE 128u			/* IO_TLB_SEGSIZE */
#define TLB_MAX_MAP (TLB_SIZE * TLB_SEGSIZE)	/* 256 KiB */
#define POOL_BYTES (8u << 20)			/* 32 segments */

static uint64_t ring_area(uint16_t qsize, unsigned nq, bool indirect)
{
	uint64_t per = VTB_ALIGN_UP((uint64_t)vtb_vring_bytes(qsize), 4096ull);
	if (indirect)
		per += VTB_ALIGN_UP((uint64_t)qsize * VTB_REQ_MAX_SEG * 16, 4096ull);
	return per * nq;
}

static uint64_t swiotlb_region_bytes(const struct vtb_xenv *env)
{
	return ring_area(env->qsize, env->nqueues, env->indirect) + POOL_BYTES;
}

/* ---------------------------------------------------------------- FE */
struct tlb_fe {
	char *base;		/* FE pointer to the region */
	uint64_t gpa;
	uint64_t ring_used, ring_size;
	uint64_t pool_gpa;
	char *pool;
	unsigned nslots;
	unsigned next;		/* where the next search starts, as Linux's index */
	uint8_t *used;		/* one byte a slot: simple and clear */
};

static int tlb_fe_setup(struct vtb_vfe *fe)
{
	struct vtb_xenv *env = fe->env;
	struct tlb_fe *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->gpa = env->shared_gpa;
	t->base = env->ram + env->shared_gpa;
	t->ring_size = ring_area(env->qsize, env->regs->num_queues, env->indirect);
	t->pool_gpa = t->gpa + t->ring_size;
	t->pool = t->base + t->ring_size;
	t->nslots = (unsigned)((env->shared_size - t->ring_size) / TLB_SIZE);
	t->used = calloc(t->nslots, 1);
	if (!t->used || t->nslots < TLB_SEGSIZE) {
		free(t->used);
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

/* First fit of n free slots inside one segment, from the rotating index. */
static int tlb_alloc(struct tlb_fe *t, unsigned n)
{
	for (unsigned tried = 0; tried < t->nslots; tried++) {
		unsigned i = (t->next + tried) % t->nslots;
		if (i % TLB_SEGSIZE + n > TLB_SEGSIZE || i + n > t->nslots)
			continue;
		unsigned k = 0;
		while (k < n && !t->used[i + k])
			k++;
		if (k < n)
			continue;
		memset(t->used + i, 1, n);
		t->next = (i + n) % t->nslots;
		return (int)i;
	}
	return -1;
}

static void tlb_free(struct tlb_fe *t, uint64_t handle)
{
	unsigned i = (unsigned)(handle >> 32), n = (unsigned)handle;
	memset(t->used + i, 0, n);
}

static void tlb_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len);

static int tlb_fe_map(struct vtb_vfe *fe, struct vtb_vfe_req *r, struct vtb_sg *dev)
{
	struct tlb_fe *t = fe->priv;
	struct vtb_plat_counters *c = fe->env->plat->ctr;
	unsigned total = r->nout + r->nin;
	for (unsigned i = 0; i < total; i++) {
		uint32_t len = r->orig[i].len;
		unsigned n = (len + TLB_SIZE - 1) / TLB_SIZE;
		int slot = len <= TLB_MAX_MAP && n ? tlb_alloc(t, n) : -1;
		if (slot < 0) {
			/* Back-pressure: give back what this request took. */
			r->nin = i > r->nout ? i - r->nout : 0;
			r->nout = i < r->nout ? i : r->nout;
			tlb_fe_unmap(fe, r, 0);
			return len > TLB_MAX_MAP ? -E2BIG : -VTB_ENOSPC;
		}
		r->handle[i] = (uint64_t)slot << 32 | n;
		c->xport_ops++;
		/* swiotlb_tbl_map_single: bounce the original in, whatever the direction. */
		memcpy(t->pool + (size_t)slot * TLB_SIZE, fe->env->ram + r->orig[i].addr, len);
		c->bounce_copies++;
		c->bounce_bytes += len;
		dev[i].addr = t->pool_gpa + (uint64_t)slot * TLB_SIZE;
		dev[i].len = len;
	}
	return 0;
}

static void tlb_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len)
{
	struct tlb_fe *t = fe->priv;
	struct vtb_plat_counters *c = fe->env->plat->ctr;
	(void)used_len;	/* swiotlb syncs the whole mapping, not what was written */
	for (unsigned i = 0; i < r->nout + r->nin; i++) {
		if (i >= r->nout) {
			unsigned slot = (unsigned)(r->handle[i] >> 32);
			memcpy(fe->env->ram + r->orig[i].addr, t->pool + (size_t)slot * TLB_SIZE, r->orig[i].len);
			c->bounce_copies++;
			c->bounce_bytes += r->orig[i].len;
		}
		tlb_free(t, r->handle[i]);
	}
}

static void tlb_fe_teardown(struct vtb_vfe *fe)
{
	struct tlb_fe *t = fe->priv;
	if (t)
		free(t->used);
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
	.region_bytes = swiotlb_region_bytes,
	.max_buffer = TLB_MAX_MAP,
	.fe_open = swiotlb_fe_open,
	.be_open = swiotlb_be_open,
	VTB_VRING_OPS,
};
