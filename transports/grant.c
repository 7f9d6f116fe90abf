/* grant: Xen grant tables v1.  The FE shares memory page by page through
 * entries {flags, domid, frame} in a table only it and the hypervisor see;
 * descriptors carry grant addresses (1<<63 | gref<<12 | offset, as Linux's
 * grant DMA ops make them).  Variants:
 *   map        the BE maps each granted page per request and unmaps it after
 *              (GNTTABOP_map/unmap_grant_ref; the unmap's TLB flush counts);
 *   copy       the hypervisor copies between grants and the BE's own memory,
 *              one batched call per direction per request (GNTTABOP_copy);
 *   persistent a pool granted once; the BE maps each pool page the first
 *              time it sees it and keeps it (blkback persistent grants); the
 *              FE copies data through the pool.
 * The hypervisor's part (entry checks, GTF_reading/writing, the map or
 * copy) is the platform's grant service (hvsvc.h): the FE shares and ends
 * references in its own table, the BE maps, unmaps and copies by reference. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/vtb_grant.h"
#include "vring.h"

#define NENT 16384u			/* 32 v1 grant frames */
#define POOL_PAGES 1024u		/* persistent: 4 MiB */
#define PAGE VTB_XEN_PAGE_SIZE

enum { GNT_MAP, GNT_COPY, GNT_PERSIST };

static uint64_t grant_region_bytes(const struct vtb_xenv *env)
{
	(void)env;
	return (uint64_t)NENT * sizeof(struct vtb_grant_entry_v1);
}

static int variant_of(const char *v)
{
	return !strcmp(v, "copy") ? GNT_COPY : !strcmp(v, "persistent") ? GNT_PERSIST : GNT_MAP;
}

static unsigned pages_spanned(uint64_t addr, uint32_t len)
{
	return (unsigned)(((addr & (PAGE - 1)) + len + PAGE - 1) / PAGE);
}

/* ================================================================ FE */
struct gnt_fe {
	int variant;
	struct vtb_plat *plat;
	const struct vtb_grant_service *svc;
	struct vtb_gntshr *gs;		/* our table */
	const struct vtb_dom *be;
	uint8_t used[NENT];
	unsigned next;
	/* persistent pool */
	char *pool;
	uint32_t pool_gref;
	uint8_t pool_used[POOL_PAGES];
};

/* n consecutive free references, first fit from a rotating index. */
static int gref_alloc(struct gnt_fe *g, unsigned n)
{
	unsigned span = NENT - VTB_GNTTAB_NR_RESERVED_ENTRIES;
	for (unsigned tried = 0; tried < span; tried++) {
		unsigned i = VTB_GNTTAB_NR_RESERVED_ENTRIES + (g->next + tried) % span;
		if (i + n > NENT)
			continue;
		unsigned k = 0;
		while (k < n && !g->used[i + k])
			k++;
		if (k < n)
			continue;
		memset(g->used + i, 1, n);
		g->next = (i + n - VTB_GNTTAB_NR_RESERVED_ENTRIES) % span;
		return (int)i;
	}
	return -1;
}

static void grant_access(struct gnt_fe *g, uint32_t ref, uint32_t frame, bool readonly)
{
	g->svc->share(g->plat, g->gs, ref, g->be, frame, readonly);
}

/* 0, or -EBUSY while the BE still maps the page (the entry then stays). */
static int end_access(struct gnt_fe *g, uint32_t ref)
{
	return g->svc->end(g->plat, g->gs, ref);
}

static int gnt_fe_setup(struct vtb_vfe *fe)
{
	struct vtb_xenv *env = fe->env;
	struct gnt_fe *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->variant = variant_of(env->variant);
	g->plat = env->plat;
	g->svc = env->plat->ops->grant;
	g->be = env->be;
	fe->priv = g;
	/* Our table, where configuration put it (the grant frames' place). */
	void *tbl = env->ram + env->shared_gpa;
	memset(tbl, 0, (size_t)NENT * sizeof(struct vtb_grant_entry_v1));
	int e = g->svc ? g->svc->setup(env->plat, env->fe, tbl, env->shared_gpa, NENT, &g->gs) : -EOPNOTSUPP;
	if (e)
		return e;
	if (g->variant == GNT_PERSIST) {
		uint64_t gpa;
		void *va;
		int ref = gref_alloc(g, POOL_PAGES);
		if (ref < 0 || vtb_fe_alloc(env, (uint64_t)POOL_PAGES * PAGE, PAGE, &gpa, &va))
			return -ENOMEM;
		g->pool = va;
		g->pool_gref = (uint32_t)ref;
		for (unsigned i = 0; i < POOL_PAGES; i++)
			grant_access(g, (uint32_t)ref + i, (uint32_t)(gpa / PAGE) + i, false);
		env->plat->ctr->xport_ops += POOL_PAGES;
	}
	return 0;
}

/* Rings: granted once, writable, like dma_alloc_coherent. */
static int gnt_fe_ring(struct vtb_vfe *fe, size_t bytes, uint64_t *addr, void **va)
{
	struct gnt_fe *g = fe->priv;
	uint64_t gpa;
	unsigned n = (unsigned)((bytes + PAGE - 1) / PAGE);
	int ref, e = vtb_fe_alloc(fe->env, (uint64_t)n * PAGE, PAGE, &gpa, va);
	if (e)
		return e;
	if ((ref = gref_alloc(g, n)) < 0)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		grant_access(g, (uint32_t)ref + i, (uint32_t)(gpa / PAGE) + i, false);
	*addr = vtb_grant_to_dma((uint32_t)ref);
	return 0;
}

static void gnt_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len);

static int gnt_fe_map(struct vtb_vfe *fe, struct vtb_vfe_req *r, struct vtb_sg *dev)
{
	struct gnt_fe *g = fe->priv;
	struct vtb_plat_counters *c = fe->env->plat->ctr;
	unsigned total = r->nout + r->nin;
	for (unsigned i = 0; i < total; i++) {
		uint64_t gpa = r->orig[i].addr;
		uint32_t len = r->orig[i].len;
		if (g->variant == GNT_PERSIST) {
			/* blkfront: data goes through pages granted once, reused
			 * lowest first so the BE's set of mapped pages stays small. */
			unsigned n = (len + PAGE - 1) / PAGE, slot = 0;
			bool found = false;
			for (unsigned tried = 0; n && tried < POOL_PAGES && !found; tried++) {
				slot = tried;
				if (slot + n > POOL_PAGES)
					break;
				found = true;
				for (unsigned k = 0; k < n && found; k++)
					found = !g->pool_used[slot + k];
			}
			if (!found) {
				r->nin = i > r->nout ? i - r->nout : 0;
				r->nout = i < r->nout ? i : r->nout;
				gnt_fe_unmap(fe, r, 0);
				return n > POOL_PAGES ? -E2BIG : -VTB_ENOSPC;
			}
			memset(g->pool_used + slot, 1, n);
			r->handle[i] = (uint64_t)slot << 32 | n;
			if (i < r->nout) {
				memcpy(g->pool + (size_t)slot * PAGE, fe->env->ram + gpa, len);
				c->bounce_copies++;
				c->bounce_bytes += len;
			}
			dev[i].addr = vtb_grant_to_dma(g->pool_gref + slot);
			dev[i].len = len;
			continue;
		}
		/* grant_dma_map_page: one reference per page, consecutive. */
		unsigned n = pages_spanned(gpa, len);
		int ref = gref_alloc(g, n);
		if (ref < 0) {
			r->nin = i > r->nout ? i - r->nout : 0;
			r->nout = i < r->nout ? i : r->nout;
			gnt_fe_unmap(fe, r, 0);
			return -VTB_ENOSPC;
		}
		for (unsigned k = 0; k < n; k++)
			grant_access(g, (uint32_t)ref + k, (uint32_t)(gpa / PAGE) + k, i < r->nout);
		c->xport_ops += n;
		r->handle[i] = (uint64_t)ref << 32 | n;
		dev[i].addr = vtb_grant_to_dma((uint32_t)ref) + (gpa & (PAGE - 1));
		dev[i].len = len;
	}
	return 0;
}

static void gnt_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len)
{
	struct gnt_fe *g = fe->priv;
	struct vtb_plat_counters *c = fe->env->plat->ctr;
	(void)used_len;
	for (unsigned i = 0; i < r->nout + r->nin; i++) {
		unsigned first = (unsigned)(r->handle[i] >> 32), n = (unsigned)r->handle[i];
		if (g->variant == GNT_PERSIST) {
			if (i >= r->nout) {
				memcpy(fe->env->ram + r->orig[i].addr, g->pool + (size_t)first * PAGE, r->orig[i].len);
				c->bounce_copies++;
				c->bounce_bytes += r->orig[i].len;
			}
			memset(g->pool_used + first, 0, n);
			continue;
		}
		for (unsigned k = 0; k < n; k++) {
			/* A page the BE still maps stays granted (and its reference
			 * is never reused): Linux leaks it the same way. */
			if (end_access(g, first + k))
				continue;
			g->used[first + k] = 0;
		}
		c->xport_ops += n;
	}
}

/* The indirect table, filled, as one more device-readable buffer.
 * map, copy: granted read-only per request and ended at completion, as
 * Linux's grant DMA ops do for any vring_map_single (grant_dma_map_page
 * takes fresh references per map).  persistent: copied into a pool page
 * like every other device-readable buffer, as blkfront puts its indirect
 * segment pages in the persistent set (and blkback keeps them mapped); the
 * pool is what this variant stands for, so nothing is granted per request. */
static int gnt_fe_map_indirect(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint64_t gpa, uint32_t len,
			       uint64_t *dev_addr)
{
	struct gnt_fe *g = fe->priv;
	struct vtb_plat_counters *c = fe->env->plat->ctr;
	if (g->variant == GNT_PERSIST) {
		/* A table is at most VTB_REQ_MAX_SEG * 16 bytes: one pool page. */
		unsigned slot = 0;
		while (slot < POOL_PAGES && g->pool_used[slot])
			slot++;
		if (slot == POOL_PAGES || len > PAGE)
			return -VTB_ENOSPC;
		g->pool_used[slot] = 1;
		memcpy(g->pool + (size_t)slot * PAGE, fe->env->ram + gpa, len);
		c->bounce_copies++;
		c->bounce_bytes += len;
		r->ind_handle = slot;
		*dev_addr = vtb_grant_to_dma(g->pool_gref + slot);
		return 0;
	}
	unsigned n = pages_spanned(gpa, len);
	int ref = gref_alloc(g, n);
	if (ref < 0)
		return -VTB_ENOSPC;
	for (unsigned k = 0; k < n; k++)
		grant_access(g, (uint32_t)ref + k, (uint32_t)(gpa / PAGE) + k, true);
	c->xport_ops += n;
	r->ind_handle = (uint64_t)ref << 32 | n;
	*dev_addr = vtb_grant_to_dma((uint32_t)ref) + (gpa & (PAGE - 1));
	return 0;
}

static void gnt_fe_unmap_indirect(struct vtb_vfe *fe, struct vtb_vfe_req *r)
{
	struct gnt_fe *g = fe->priv;
	if (g->variant == GNT_PERSIST) {
		g->pool_used[r->ind_handle] = 0;
		return;
	}
	unsigned first = (unsigned)(r->ind_handle >> 32), n = (unsigned)r->ind_handle;
	for (unsigned k = 0; k < n; k++)
		if (!end_access(g, first + k))	/* still mapped: leaked, as for data */
			g->used[first + k] = 0;
	fe->env->plat->ctr->xport_ops += n;
}

static void gnt_fe_teardown(struct vtb_vfe *fe)
{
	struct gnt_fe *g = fe->priv;
	if (g && g->gs)
		g->svc->release(g->plat, g->gs);
	free(g);
}

/* ================================================================ BE */
struct gnt_be {
	int variant;
	struct vtb_plat *plat;
	const struct vtb_grant_service *svc;
	struct vtb_gnttab *gt;		/* our handle on the FE's grants */
	/* Grant space mapped linearly: reference r at arena + r * PAGE (the
	 * service shares one mapping among a reference's handles there). */
	char *arena;
	/* Rings and persistent pages: mapped writable once and kept. */
	bool kept[NENT];
	/* The indirect table of the pop in progress: map mapped it (unmapped
	 * by gnt_be_indirect_put), copy copied it here. */
	uint64_t ind_addr;
	uint32_t ind_len;
	bool ind_mapped;
	uint8_t ind_copy[VTB_VQ_MAX_SIZE * 16 + 2 * PAGE];	/* used from a page boundary, at the grant's offset */
};

/* One GNTTABOP_copy for a run of pieces: each piece within one page on
 * both sides (split at the grant's and the local buffer's page
 * boundaries); the service checks and pins every reference. */
static int be_copy(struct vtb_vbe *be, struct vtb_vbe_slot *s, bool to_fe, uint32_t written)
{
	struct gnt_be *g = be->priv;
	struct vtb_gnt_seg segs[VTB_GNT_COPY_MAX_SEGS];
	unsigned n = 0;
	for (unsigned i = 0; i < s->n; i++) {
		struct vtb_vbe_map *m = &s->m[i];
		uint32_t len = m->len;
		if (to_fe) {
			if (!m->write)
				continue;
			len = written < m->len ? written : m->len;
			written -= len;
		} else if (m->write) {
			continue;
		}
		uint64_t a = m->addr & ~VTB_GRANT_DMA_ADDR_OFF;
		char *local = m->va;
		for (uint32_t done = 0; done < len;) {
			uint64_t ref = (a + done) / PAGE, off = (a + done) % PAGE;
			uint32_t piece = vtb_grant_copy_piece(off, (uintptr_t)(local + done), len - done);
			if (n == VTB_GNT_COPY_MAX_SEGS)
				return -E2BIG;
			/* A reference beyond 32 bits is beyond any table: the
			 * service refuses UINT32_MAX as it refuses any bad one. */
			segs[n++] = (struct vtb_gnt_seg){ ref > UINT32_MAX ? UINT32_MAX : (uint32_t)ref, (uint16_t)off,
							  (uint16_t)piece, local + done, 0 };
			done += piece;
		}
	}
	return n ? g->svc->copy(g->plat, g->gt, segs, n, to_fe) : 0;
}

/* Where buffer m of a chain goes in the BE's local memory, given where the
 * previous one ended: on a page of its own, at its grant's offset within
 * the page, as a backend that copies does it (Linux's netback lays a
 * frag at the grant's offset).  Then no op is split at a local page that
 * the grant side does not split too: Xen's one op per page on either side
 * costs what the grants span, not an artefact of our layout. */
static uint64_t local_at(uint64_t prev_end, const struct vtb_vbe_map *m)
{
	return (prev_end + PAGE - 1) / PAGE * PAGE + ((m->addr & ~VTB_GRANT_DMA_ADDR_OFF) % PAGE);
}

/* Ops one direction of a chain needs, laid out by local_at. */
static uint64_t copy_ops_needed(const struct vtb_vbe_slot *s, bool write)
{
	uint64_t ops = 0, end = 0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct vtb_vbe_map *m = &s->m[i];
		uint64_t local = local_at(end, m);
		if (m->write == write) {
			uint64_t a = m->addr & ~VTB_GRANT_DMA_ADDR_OFF;
			for (uint32_t done = 0; done < m->len && ops <= VTB_COPY_MAX_OPS; ops++)
				done += vtb_grant_copy_piece(a + done, local + done, m->len - done);
		}
		end = local + m->len;
	}
	return ops;
}

/* ---- the backend's part ---- */

static int gnt_be_setup(struct vtb_vbe *be)
{
	struct vtb_xenv *env = be->env;
	struct gnt_be *g = calloc(1, sizeof(*g));
	int e;
	if (!g)
		return -ENOMEM;
	g->variant = variant_of(env->variant);
	g->plat = env->plat;
	g->svc = env->plat->ops->grant;
	if (!g->svc) {
		e = -EOPNOTSUPP;
		goto free_g;
	}
	if ((e = g->svc->open(env->plat, env->be, env->fe, &g->gt)))
		goto free_g;
	g->arena = mmap(NULL, (size_t)NENT * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g->arena == MAP_FAILED) {
		e = -ENOMEM;
		goto close_gt;
	}
	be->priv = g;
	return 0;

close_gt:
	g->svc->close(env->plat, g->gt);
free_g:
	free(g);
	return e;
}

/* References first .. first+n-1 (n <= NENT - first). */
static void ref_run(uint32_t *refs, uint64_t first, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		refs[k] = (uint32_t)(first + k);
}

/* Maps [addr, addr+len) of grant space at its place in the arena; NULL on
 * any refusal. */
static void *map_range(struct vtb_vbe *be, uint64_t addr, uint64_t len, bool write)
{
	struct gnt_be *g = be->priv;
	uint32_t refs[NENT];
	if (!vtb_dma_is_grant(addr) || len == 0 || len > (uint64_t)NENT * PAGE)
		return NULL;
	uint64_t a = addr & ~VTB_GRANT_DMA_ADDR_OFF, first = a / PAGE;
	unsigned n = pages_spanned(a, (uint32_t)len);
	if (first >= NENT || n > NENT - first)
		return NULL;
	ref_run(refs, first, n);
	if (g->svc->map(g->plat, g->gt, refs, n, write, g->arena + first * PAGE))
		return NULL;
	return g->arena + a;
}

/* write: the handles map_range(write) made. */
static void unmap_range(struct vtb_vbe *be, uint64_t addr, uint64_t len, bool write)
{
	struct gnt_be *g = be->priv;
	uint32_t refs[NENT];
	uint64_t a = addr & ~VTB_GRANT_DMA_ADDR_OFF;
	unsigned n = pages_spanned(a, (uint32_t)len);
	if (a / PAGE >= NENT || n > NENT - a / PAGE)
		return;
	ref_run(refs, a / PAGE, n);
	g->svc->unmap(g->plat, g->gt, refs, n, write, true);
}

/* Rings stay mapped: granted once at setup by the FE. */
static void *gnt_be_ring(struct vtb_vbe *be, uint64_t addr, size_t bytes)
{
	struct gnt_be *g = be->priv;
	void *va = map_range(be, addr, bytes, true);
	uint64_t a = addr & ~VTB_GRANT_DMA_ADDR_OFF;
	if (va)
		memset(g->kept + a / PAGE, true, pages_spanned(a, (uint32_t)bytes));
	return va;
}

static int gnt_be_get(struct vtb_vbe *be, struct vtb_vbe_map *m);

static void gnt_be_indirect_put(struct vtb_vbe *be)
{
	struct gnt_be *g = be->priv;
	if (g->ind_mapped)
		unmap_range(be, g->ind_addr, g->ind_len, false);
	g->ind_mapped = false;
}

/* An indirect table, resolved as the variant resolves a device-readable
 * buffer, for the pop in progress only. */
static const void *gnt_be_indirect(struct vtb_vbe *be, uint64_t addr, uint32_t len)
{
	struct gnt_be *g = be->priv;
	uint64_t a = addr & ~VTB_GRANT_DMA_ADDR_OFF;
	if (!vtb_dma_is_grant(addr) || !len || a / PAGE >= NENT || pages_spanned(a, len) > NENT - a / PAGE)
		return NULL;
	if (g->variant == GNT_PERSIST) {
		/* A pool page: mapped on first sight and kept, as for data. */
		struct vtb_vbe_map m = { .addr = addr, .len = len };
		return gnt_be_get(be, &m) ? NULL : m.va;
	}
	if (g->variant == GNT_COPY) {
		/* One GNTTABOP_copy into our own memory at the grant's page
		 * offset (local_at's layout: one op per granted page), then
		 * parse that. */
		uint8_t *local = (uint8_t *)VTB_ALIGN_UP((uintptr_t)g->ind_copy, (uintptr_t)PAGE) + a % PAGE;
		if (len > VTB_VQ_MAX_SIZE * 16)
			return NULL;
		struct vtb_vbe_slot s = { .n = 1, .buf = local, .buf_len = len };
		s.m[0] = (struct vtb_vbe_map){ .addr = addr, .len = len, .va = local };
		return be_copy(be, &s, false, 0) ? NULL : local;
	}
	gnt_be_indirect_put(be);	/* one table per pop */
	void *va = map_range(be, addr, len, false);
	if (va) {
		g->ind_addr = addr;
		g->ind_len = len;
		g->ind_mapped = true;
	}
	return va;
}

static int gnt_be_get(struct vtb_vbe *be, struct vtb_vbe_map *m)
{
	struct gnt_be *g = be->priv;
	if (g->variant == GNT_PERSIST) {
		/* Map on first sight and keep (blkback's persistent grant tree). */
		uint64_t a = m->addr & ~VTB_GRANT_DMA_ADDR_OFF;
		if (!vtb_dma_is_grant(m->addr) || a / PAGE >= NENT || pages_spanned(a, m->len) > NENT - a / PAGE)
			return -EFAULT;
		for (unsigned k = 0; k < pages_spanned(a, m->len); k++) {
			uint32_t ref = (uint32_t)(a / PAGE + k);
			if (!g->kept[ref] && g->svc->map(g->plat, g->gt, &ref, 1, true, g->arena + (size_t)ref * PAGE))
				return -EPERM;
			g->kept[ref] = true;
		}
		m->va = g->arena + a;
		return 0;
	}
	m->va = map_range(be, m->addr, m->len, m->write);
	m->own = m->va;		/* mapped per request: unmap at put */
	return m->va ? 0 : -EPERM;
}

static int gnt_be_put(struct vtb_vbe *be, struct vtb_vbe_map *m, uint32_t written)
{
	(void)written;
	if (m->own)
		unmap_range(be, m->addr, m->len, m->write);
	m->own = NULL;
	return 0;
}

/* copy variant: the BE's own buffers, filled and drained by the hypervisor. */
static int gnt_be_get_chain(struct vtb_vbe *be, struct vtb_vbe_slot *s)
{
	/* The lengths are the FE's: judge them before allocating anything.
	 * One GNTTABOP_copy call per direction carries at most
	 * VTB_COPY_MAX_OPS pieces of a page, so a chain needing more could
	 * never be served, and must not make us allocate 4 GiB first
	 * (fuzz_xport_grant_copy found exactly that). */
	size_t total = 0;
	for (unsigned i = 0; i < s->n; i++) {
		if (!vtb_dma_is_grant(s->m[i].addr))
			return -EFAULT;
		total = local_at(total, &s->m[i]) + s->m[i].len;
	}
	if (copy_ops_needed(s, false) > VTB_COPY_MAX_OPS || copy_ops_needed(s, true) > VTB_COPY_MAX_OPS)
		return -E2BIG;
	if (total > s->buf_len)
		return -E2BIG;
	uint64_t end = 0;
	for (unsigned i = 0; i < s->n; i++) {
		uint64_t at = local_at(end, &s->m[i]);
		s->m[i].va = (char *)s->buf + at;
		end = at + s->m[i].len;
	}
	return be_copy(be, s, false, 0);
}

static int gnt_be_put_chain(struct vtb_vbe *be, struct vtb_vbe_slot *s, uint32_t written)
{
	return be_copy(be, s, true, written);
}

static void gnt_be_teardown(struct vtb_vbe *be)
{
	struct gnt_be *g = be->priv;
	if (!g)
		return;
	g->svc->close(g->plat, g->gt);	/* unmaps what is still mapped */
	munmap(g->arena, (size_t)NENT * PAGE);
	free(g);
}

#define GNT_COMMON \
	.access_platform = true /* Xen grant DMA ops need it */, .fe_setup = gnt_fe_setup, .fe_ring = gnt_fe_ring, .fe_map = gnt_fe_map, \
	.fe_unmap = gnt_fe_unmap, .fe_teardown = gnt_fe_teardown, .be_setup = gnt_be_setup, \
	.fe_map_indirect = gnt_fe_map_indirect, .fe_unmap_indirect = gnt_fe_unmap_indirect, \
	.be_ring = gnt_be_ring, .be_indirect = gnt_be_indirect, .be_indirect_put = gnt_be_indirect_put, \
	.be_teardown = gnt_be_teardown

static const struct vtb_vring_policy grant_map_policy = {
	GNT_COMMON, .be_get = gnt_be_get, .be_put = gnt_be_put,
};
static const struct vtb_vring_policy grant_copy_policy = {
	GNT_COMMON, .be_get_chain = gnt_be_get_chain, .be_put_chain = gnt_be_put_chain,
	/* Page-aligned (the op count is the layout's, not an allocator's), and
	 * room for the largest chain a copy call can serve: each direction at
	 * most VTB_COPY_MAX_OPS pages, and local_at's rounding a page per
	 * buffer. */
	.chain_buf = ((size_t)2 * VTB_COPY_MAX_OPS + VTB_REQ_MAX_SEG) * PAGE,
};

static const struct vtb_vring_policy *policy(const char *variant)
{
	return variant_of(variant) == GNT_COPY ? &grant_copy_policy : &grant_map_policy;
}

static int grant_fe_open(struct vtb_xenv *env, uint64_t wanted, void **fe)
{
	return vtb_vring_fe_open(env, policy(env->variant), wanted, fe);
}

static int grant_be_open(struct vtb_xenv *env, void **be)
{
	return vtb_vring_be_open(env, policy(env->variant), be);
}

static const char *const grant_variants[] = { "map", "copy", "persistent", NULL };
static const char *const grant_variant_desc[] = {
	"BE maps each granted page per request and unmaps it after (TLB flush per unmap)",
	"hypervisor copies between grants and BE buffers, one batched call per direction per request",
	"a 4 MiB pool granted once and mapped by the BE on first use; the FE copies through it",
	NULL,
};

const struct vtb_transport_ops vtb_transport_grant = {
	.name = "grant",
	.desc = "Xen grant tables v1: the BE reaches only pages the FE granted, by grant reference",
	.variants = grant_variants,
	.variant_desc = grant_variant_desc,
	.caps = VTB_CAP_SPLIT | VTB_CAP_INDIRECT | VTB_CAP_NOTIFY_EVENT | VTB_CAP_NOTIFY_POLL | VTB_CAP_REGION,
	.region_bytes = grant_region_bytes,
	.needs = VTB_NEEDS_GRANT,
	.fe_open = grant_fe_open,
	.be_open = grant_be_open,
	VTB_VRING_OPS,
};
