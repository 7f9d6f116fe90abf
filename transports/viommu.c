/* viommu: the BE reaches only IOVAs the FE mapped through virtio-iommu
 * requests.  As Linux's virtio-iommu driver does, the FE adds a MAP for each
 * buffer and waits for it by polling the request queue; variants:
 *   strict       UNMAP and wait after every request (iotlb_sync per unmap);
 *   lazy         UNMAPs are queued without waiting and IOVAs go to a flush
 *                queue (DMA-FQ) that syncs and frees them when it holds
 *                fq_size entries or its oldest is fq_timeout old;
 *   passthrough  ATTACH with BYPASS: identity, the reference point.
 * The request queue sits in a small pre-shared region.  Requests are served
 * in the BE's process, the only one that can change its address space (as
 * vhost-user IOTLB updates are): MAP installs FE pages into a reserved IOVA
 * window with one map call, UNMAP zaps them (one unmap, one flush). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "viommu_dev.h"
#include "vring.h"

#define PAGE VTB_VIOMMU_PAGE
#define IOVA_PAGES VTB_VIOMMU_IOVA_PAGES
#define IOQ_SIZE 64u			/* request queue entries */
#define REQ_SLOT 64u			/* bytes per request buffer */
#define DOMAIN 1u
#define ENDPOINT VTB_VIOMMU_ENDPOINT

enum { VIO_STRICT, VIO_LAZY, VIO_PASS };

static int variant_of(const char *v)
{
	return !strcmp(v, "lazy") ? VIO_LAZY : !strcmp(v, "passthrough") ? VIO_PASS : VIO_STRICT;
}

static uint64_t viommu_region_bytes(const struct vtb_xenv *env)
{
	(void)env;
	return VTB_ALIGN_UP((uint64_t)vtb_vring_bytes(IOQ_SIZE), (uint64_t)PAGE) + IOQ_SIZE * REQ_SLOT;
}

static unsigned pages_spanned(uint64_t addr, uint32_t len)
{
	return (unsigned)(((addr & (PAGE - 1)) + len + PAGE - 1) / PAGE);
}

/* ================================================================ FE */
struct fq_entry {
	uint32_t first, n;	/* IOVA pages waiting for the flush */
};

struct vio_fe {
	int variant;
	struct vtb_vqd *ioq;
	char *slots;		/* request buffers, FE view */
	uint64_t slots_gpa;
	uint16_t slot_next;
	unsigned pending;	/* requests added and not yet completed */
	uint8_t iova_used[IOVA_PAGES];
	unsigned iova_next;
	struct fq_entry *fq;
	unsigned fq_n, fq_size;
	uint64_t fq_oldest, fq_timeout_ns;
	_Alignas(16) uint8_t ioq_state[];
};

static int iova_alloc(struct vio_fe *v, unsigned n)
{
	for (unsigned tried = 0; tried < IOVA_PAGES; tried++) {
		unsigned i = 1 + (v->iova_next + tried) % (IOVA_PAGES - 1);	/* IOVA 0 stays unmapped */
		if (i + n > IOVA_PAGES)
			continue;
		unsigned k = 0;
		while (k < n && !v->iova_used[i + k])
			k++;
		if (k < n)
			continue;
		memset(v->iova_used + i, 1, n);
		v->iova_next = i + n - 1;
		return (int)i;
	}
	return -1;
}

/* Completes every outstanding request, checking each status. */
static int vio_reap(struct vtb_vfe *fe)
{
	struct vio_fe *v = fe->priv;
	uint32_t len;
	uint8_t *req;
	int err = 0;
	while ((req = vtb_vqd_get_used(v->ioq, &len))) {
		v->pending--;
		/* The tail is the last 4 bytes of each request. */
		uint8_t type = req[0];
		size_t sz = type == VTB_VIOMMU_T_MAP ? sizeof(struct vtb_viommu_map)
			  : type == VTB_VIOMMU_T_UNMAP ? sizeof(struct vtb_viommu_unmap)
			  : sizeof(struct vtb_viommu_attach);
		/* Used length 0: returned unwritten, a failure (Linux's
		 * __viommu_sync_req reads it as IOERR). */
		if (!len || req[sz - 4] != VTB_VIOMMU_S_OK)
			err = -EIO;
	}
	return vtb_vqd_broken(v->ioq) ? -EPROTO : err;
}

/* viommu_sync_req: kick, then poll until the device has served them all. */
static int vio_sync(struct vtb_vfe *fe)
{
	struct vio_fe *v = fe->priv;
	struct vtb_plat *p = fe->env->plat;
	int err = 0;
	if (!v->pending)
		return 0;
	if (vtb_vqd_kick_prepare(v->ioq) && !fe->env->poll)
		p->ops->notify(p, fe->env->kick);
	while (v->pending) {
		int e = vio_reap(fe);
		if (e == -EPROTO)
			return e;
		if (e)
			err = e;
		if (v->pending)
			vtb_cpu_relax();
	}
	return err;
}

/* Adds one request (copied into its buffer in the shared region). */
static int vio_add(struct vtb_vfe *fe, const void *req, uint32_t out, uint32_t in)
{
	struct vio_fe *v = fe->priv;
	/* Ring full (each request is a two-descriptor chain): drain first,
	 * as Linux does. */
	if (v->pending == IOQ_SIZE / 2) {
		int e = vio_sync(fe);
		if (e)
			return e;
	}
	uint16_t s = v->slot_next;
	v->slot_next = (uint16_t)((s + 1) % IOQ_SIZE);
	char *buf = v->slots + (size_t)s * REQ_SLOT;
	memcpy(buf, req, out + in);
	struct vtb_sg sg[2] = { { v->slots_gpa + (uint64_t)s * REQ_SLOT, out },
				{ v->slots_gpa + (uint64_t)s * REQ_SLOT + out, in } };
	int e = vtb_vqd_add(v->ioq, sg, 1, 1, buf, false);
	if (e)
		return e;
	v->pending++;
	fe->env->plat->ctr->xport_ops++;
	return 0;
}

static int vio_map(struct vtb_vfe *fe, uint64_t iova, uint64_t gpa, uint64_t bytes, uint32_t flags)
{
	struct vtb_viommu_map m = {
		.head.type = VTB_VIOMMU_T_MAP, .domain = vtb_le32(DOMAIN),
		.virt_start = vtb_le64(iova), .virt_end = vtb_le64(iova + bytes - 1),
		.phys_start = vtb_le64(gpa), .flags = vtb_le32(flags),
	};
	int e = vio_add(fe, &m, sizeof(m) - sizeof(m.tail), sizeof(m.tail));
	return e ? e : vio_sync(fe);	/* iotlb_sync_map */
}

static int vio_unmap(struct vtb_vfe *fe, uint64_t iova, uint64_t bytes)
{
	struct vtb_viommu_unmap u = {
		.head.type = VTB_VIOMMU_T_UNMAP, .domain = vtb_le32(DOMAIN),
		.virt_start = vtb_le64(iova), .virt_end = vtb_le64(iova + bytes - 1),
	};
	return vio_add(fe, &u, sizeof(u) - sizeof(u.tail), sizeof(u.tail));
}

static int vio_fe_setup(struct vtb_vfe *fe)
{
	struct vtb_xenv *env = fe->env;
	struct vio_fe *v = calloc(1, sizeof(*v) + vtb_vqd_memsize(IOQ_SIZE));
	if (!v)
		return -ENOMEM;
	fe->priv = v;
	v->variant = variant_of(env->variant);
	v->fq_size = env->fq_size ? env->fq_size : 256;
	v->fq_timeout_ns = env->fq_timeout_ns ? env->fq_timeout_ns : 10000000;
	v->fq = calloc(v->fq_size, sizeof(*v->fq));
	if (!v->fq)
		return -ENOMEM;
	char *ring = env->ram + env->shared_gpa;
	v->slots_gpa = env->shared_gpa + VTB_ALIGN_UP((uint64_t)vtb_vring_bytes(IOQ_SIZE), (uint64_t)PAGE);
	v->slots = env->ram + v->slots_gpa;
	struct vtb_vqd_params p = { .num = IOQ_SIZE, .ring = ring };
	if (!(v->ioq = vtb_vqd_init(v->ioq_state, &p)))
		return -EINVAL;
	struct vtb_viommu_attach a = {
		.head.type = VTB_VIOMMU_T_ATTACH, .domain = vtb_le32(DOMAIN), .endpoint = vtb_le32(ENDPOINT),
		.flags = vtb_le32(v->variant == VIO_PASS ? VTB_VIOMMU_ATTACH_F_BYPASS : 0),
	};
	int e = vio_add(fe, &a, sizeof(a) - sizeof(a.tail), sizeof(a.tail));
	return e ? e : vio_sync(fe);
}

/* Rings: allocated coherent, mapped once. */
static int vio_fe_ring(struct vtb_vfe *fe, size_t bytes, uint64_t *addr, void **va)
{
	struct vio_fe *v = fe->priv;
	uint64_t gpa;
	unsigned n = (unsigned)((bytes + PAGE - 1) / PAGE);
	int e = vtb_fe_alloc(fe->env, (uint64_t)n * PAGE, PAGE, &gpa, va);
	if (e)
		return e;
	if (v->variant == VIO_PASS) {
		*addr = gpa;
		return 0;
	}
	int iova = iova_alloc(v, n);
	if (iova < 0)
		return -ENOSPC;
	*addr = (uint64_t)iova * PAGE;
	return vio_map(fe, *addr, gpa, (uint64_t)n * PAGE, VTB_VIOMMU_MAP_F_READ | VTB_VIOMMU_MAP_F_WRITE);
}

static void fq_flush(struct vtb_vfe *fe)
{
	struct vio_fe *v = fe->priv;
	vio_sync(fe);	/* flush_iotlb_all */
	for (unsigned i = 0; i < v->fq_n; i++)
		memset(v->iova_used + v->fq[i].first, 0, v->fq[i].n);
	v->fq_n = 0;
}

static void vio_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len);

static int vio_fe_map(struct vtb_vfe *fe, struct vtb_vfe_req *r, struct vtb_sg *dev)
{
	struct vio_fe *v = fe->priv;
	unsigned total = r->nout + r->nin;
	if (v->variant == VIO_PASS) {
		memcpy(dev, r->orig, total * sizeof(*dev));
		for (unsigned i = 0; i < total; i++)
			r->handle[i] = 0;
		return 0;
	}
	for (unsigned i = 0; i < total; i++) {
		uint64_t gpa = r->orig[i].addr;
		unsigned n = pages_spanned(gpa, r->orig[i].len);
		int iova = iova_alloc(v, n);
		if (iova < 0 && v->fq_n) {	/* IOVAs held by the flush queue */
			fq_flush(fe);
			iova = iova_alloc(v, n);
		}
		int e = iova < 0 ? -VTB_ENOSPC
			: vio_map(fe, (uint64_t)iova * PAGE, gpa & ~(uint64_t)(PAGE - 1), (uint64_t)n * PAGE,
				  vtb_viommu_dma_flags(i >= r->nout));
		if (e) {
			if (iova >= 0)
				memset(v->iova_used + iova, 0, n);
			r->nin = i > r->nout ? i - r->nout : 0;
			r->nout = i < r->nout ? i : r->nout;
			vio_fe_unmap(fe, r, 0);
			return e;
		}
		r->handle[i] = (uint64_t)iova << 32 | n;
		dev[i].addr = (uint64_t)iova * PAGE + (gpa & (PAGE - 1));
		dev[i].len = r->orig[i].len;
	}
	return 0;
}

/* dma_unmap of one mapping: UNMAP, then strict: wait for it (iotlb_sync)
 * and free the IOVA; lazy: the IOVA waits in the flush queue. */
static void vio_unmap_one(struct vtb_vfe *fe, uint32_t first, uint32_t n)
{
	struct vio_fe *v = fe->priv;
	/* An UNMAP that could not be queued leaves the IOVA taken: never
	 * reused while the device may still reach it. */
	if (vio_unmap(fe, (uint64_t)first * PAGE, (uint64_t)n * PAGE))
		return;
	if (v->variant == VIO_STRICT) {
		vio_sync(fe);	/* iotlb_sync: the device has dropped it */
		memset(v->iova_used + first, 0, n);
		return;
	}
	/* DMA-FQ: the IOVA may be reused only after the next flush. */
	if (!v->fq_n)
		v->fq_oldest = vtb_now_ns_fe();
	v->fq[v->fq_n++] = (struct fq_entry){ first, n };
	if (v->fq_n == v->fq_size || vtb_now_ns_fe() - v->fq_oldest >= v->fq_timeout_ns)
		fq_flush(fe);
}

static void vio_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len)
{
	struct vio_fe *v = fe->priv;
	(void)used_len;
	if (v->variant == VIO_PASS)
		return;
	for (unsigned i = 0; i < r->nout + r->nin; i++)
		vio_unmap_one(fe, (uint32_t)(r->handle[i] >> 32), (uint32_t)r->handle[i]);
}

/* The indirect table: a DMA_TO_DEVICE mapping of its own, so a MAP with
 * READ only (dma-iommu's IOMMU_READ), undone at completion like the data
 * (strict: UNMAP and sync; lazy: through the flush queue).  passthrough:
 * the identity, nothing to do. */
static int vio_fe_map_indirect(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint64_t gpa, uint32_t len,
			       uint64_t *dev_addr)
{
	struct vio_fe *v = fe->priv;
	if (v->variant == VIO_PASS) {
		r->ind_handle = 0;
		*dev_addr = gpa;
		return 0;
	}
	unsigned n = pages_spanned(gpa, len);
	int iova = iova_alloc(v, n);
	if (iova < 0 && v->fq_n) {
		fq_flush(fe);
		iova = iova_alloc(v, n);
	}
	if (iova < 0)
		return -VTB_ENOSPC;
	int e = vio_map(fe, (uint64_t)iova * PAGE, gpa & ~(uint64_t)(PAGE - 1), (uint64_t)n * PAGE,
			VTB_VIOMMU_MAP_F_READ);
	if (e) {
		memset(v->iova_used + iova, 0, n);
		return e;
	}
	r->ind_handle = (uint64_t)iova << 32 | n;
	*dev_addr = (uint64_t)iova * PAGE + (gpa & (PAGE - 1));
	return 0;
}

static void vio_fe_unmap_indirect(struct vtb_vfe *fe, struct vtb_vfe_req *r)
{
	struct vio_fe *v = fe->priv;
	if (v->variant != VIO_PASS)
		vio_unmap_one(fe, (uint32_t)(r->ind_handle >> 32), (uint32_t)r->ind_handle);
}

static void vio_fe_teardown(struct vtb_vfe *fe)
{
	struct vio_fe *v = fe->priv;
	if (!v)
		return;
	free(v->fq);
	free(v);
}

/* ================================================================ device */
/* The device as a driver would find it (virtio 1.2 §5.13.3, §5.13.4):
 * MAP_UNMAP; INPUT_RANGE, the IOVA window; DOMAIN_RANGE, every 32-bit id
 * (as QEMU's: one endpoint means one domain at a time, any id fits);
 * BYPASS_CONFIG with bypass 0, so an unattached endpoint reaches nothing
 * and ATTACH_F_BYPASS makes an identity domain.  Not PROBE (no reserved
 * regions to describe), not MMIO.  vtbench has no config space for the
 * IOMMU: the FE is built for exactly this device. */
static const uint64_t vio_features = VTB_BIT(VTB_VIOMMU_F_MAP_UNMAP) | VTB_BIT(VTB_VIOMMU_F_INPUT_RANGE) |
				     VTB_BIT(VTB_VIOMMU_F_DOMAIN_RANGE) | VTB_BIT(VTB_VIOMMU_F_BYPASS_CONFIG);

_Static_assert(IOQ_SIZE <= VTB_VIOMMU_MAX_SEG, "a request chain (no indirect) fits the device's segments");

int vtb_viommu_dev_init(struct vtb_viommu_dev *d, struct vtb_plat *p, const struct vtb_dom *fe)
{
	memset(d, 0, sizeof(*d));
	d->plat = p;
	d->fe = fe;
	d->features = vio_features;
	/* Granule 4 KiB, larger powers of two accepted (QEMU's mask). */
	d->cfg.page_size_mask = vtb_le64(~(uint64_t)(PAGE - 1));
	d->cfg.input_range.start = vtb_le64(0);
	d->cfg.input_range.end = vtb_le64((uint64_t)IOVA_PAGES * PAGE - 1);
	d->cfg.domain_range.start = vtb_le32(0);
	d->cfg.domain_range.end = vtb_le32(UINT32_MAX);
	d->window = mmap(NULL, (size_t)IOVA_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->window == MAP_FAILED) {
		d->window = NULL;
		return -ENOMEM;
	}
	return 0;
}

void vtb_viommu_dev_fini(struct vtb_viommu_dev *d)
{
	if (d->window)
		munmap(d->window, (size_t)IOVA_PAGES * PAGE);
	d->window = NULL;
}

/* dma-iommu's dma_info_to_prot(): DMA_TO_DEVICE is IOMMU_READ only,
 * DMA_FROM_DEVICE IOMMU_WRITE only. */
uint32_t vtb_viommu_dma_flags(bool device_writes)
{
	return device_writes ? VTB_VIOMMU_MAP_F_WRITE : VTB_VIOMMU_MAP_F_READ;
}

/* The page granularity: the least significant bit of page_size_mask. */
static uint64_t granule(const struct vtb_viommu_dev *v)
{
	uint64_t m = vtb_le64(v->cfg.page_size_mask);
	return m & -m;
}

/* Zaps every mapped run of pages [first, last], one unmap (and flush)
 * per run, and forgets them. */
static void zap(struct vtb_viommu_dev *v, uint64_t first, uint64_t last)
{
	for (uint64_t pg = first; pg <= last;) {
		if (!(v->pg[pg] & VTB_VIOMMU_PG_MAPPED)) {
			pg++;
			continue;
		}
		uint64_t run = pg;
		while (run <= last && v->pg[run] & VTB_VIOMMU_PG_MAPPED)
			run++;
		v->plat->ops->unmap(v->plat, v->window + pg * PAGE, (run - pg) * PAGE, true);
		memset(v->pg + pg, 0, run - pg);
		pg = run;
	}
}

/* The endpoint leaves its domain; with no endpoint left the domain
 * ceases to exist (§5.13.6.4), and its mappings with it: Linux relies on
 * that (it replays its mappings when it attaches a domain again). */
static void domain_destroy(struct vtb_viommu_dev *v)
{
	zap(v, 0, IOVA_PAGES - 1);
	v->attached = v->bypass = false;
	v->domain = 0;
}

static bool domain_is(const struct vtb_viommu_dev *v, uint32_t domain)
{
	return v->attached && v->domain == domain;
}

/* §5.13.6.5 */
static uint8_t do_map(struct vtb_viommu_dev *v, const struct vtb_viommu_map *m)
{
	uint64_t start = vtb_le64(m->virt_start), end = vtb_le64(m->virt_end), phys = vtb_le64(m->phys_start);
	uint32_t flags = vtb_le32(m->flags);
	uint64_t g = granule(v);
	/* MMIO is a flag this device does not recognize: F_MMIO not offered. */
	if (flags & ~(VTB_VIOMMU_MAP_F_READ | VTB_VIOMMU_MAP_F_WRITE))
		return VTB_VIOMMU_S_INVAL;
	if (!domain_is(v, vtb_le32(m->domain)))
		return VTB_VIOMMU_S_NOENT;
	if (v->bypass)
		return VTB_VIOMMU_S_INVAL;
	if (start % g || phys % g || (end + 1) % g)
		return VTB_VIOMMU_S_RANGE;
	if (end < start)
		return VTB_VIOMMU_S_INVAL;
	uint64_t len = end - start + 1;
	if (start < vtb_le64(v->cfg.input_range.start) || end > vtb_le64(v->cfg.input_range.end) ||
	    !vtb_range_ok(phys, len, v->fe->ram_size))
		return VTB_VIOMMU_S_RANGE;
	for (uint64_t pg = start / PAGE; pg <= end / PAGE; pg++)
		if (v->pg[pg] & VTB_VIOMMU_PG_MAPPED)
			return VTB_VIOMMU_S_INVAL;	/* a mapping exists in the range */
	/* The host mapping is writable for a WRITE mapping, read-only
	 * otherwise; a host page cannot be write-only, so the device's
	 * translation (vtb_viommu_dev_at) is what refuses a read through a
	 * WRITE-only mapping, and any access through one with no flags. */
	if (!v->plat->ops->map(v->plat, v->fe, phys, len, flags & VTB_VIOMMU_MAP_F_WRITE, v->window + start))
		return VTB_VIOMMU_S_DEVERR;
	memset(v->pg + start / PAGE, (int)(flags | VTB_VIOMMU_PG_MAPPED), len / PAGE);
	v->pg[start / PAGE] |= VTB_VIOMMU_PG_FIRST;
	return VTB_VIOMMU_S_OK;
}

/* §5.13.6.6: every mapping the range covers wholly goes; if it would
 * split one, nothing goes (all or nothing) and the status is RANGE. */
static uint8_t do_unmap(struct vtb_viommu_dev *v, const struct vtb_viommu_unmap *u)
{
	uint64_t start = vtb_le64(u->virt_start), end = vtb_le64(u->virt_end);
	/* reserved: the spec lets the device fail (or not) a non-zero one;
	 * ignored, as nothing depends on it. */
	if (!domain_is(v, vtb_le32(u->domain)))
		return VTB_VIOMMU_S_NOENT;
	if (v->bypass)
		return VTB_VIOMMU_S_INVAL;
	if (end < start)
		return VTB_VIOMMU_S_INVAL;
	const uint64_t top = (uint64_t)IOVA_PAGES * PAGE;	/* nothing is mapped from here on */
	if (start >= top)
		return VTB_VIOMMU_S_OK;
	uint64_t first = start / PAGE, last = (end < top ? end : top - 1) / PAGE;
	/* Mappings are whole pages, runs of pages from a FIRST one: the range
	 * splits one only at its two ends. */
	uint8_t f = v->pg[first];
	if (f & VTB_VIOMMU_PG_MAPPED && (start % PAGE || !(f & VTB_VIOMMU_PG_FIRST)))
		return VTB_VIOMMU_S_RANGE;
	if (end < top && v->pg[last] & VTB_VIOMMU_PG_MAPPED) {
		uint8_t next = last + 1 < IOVA_PAGES ? v->pg[last + 1] : 0;
		if ((end + 1) % PAGE || (next & (VTB_VIOMMU_PG_MAPPED | VTB_VIOMMU_PG_FIRST)) == VTB_VIOMMU_PG_MAPPED)
			return VTB_VIOMMU_S_RANGE;
	}
	zap(v, first, last);
	return VTB_VIOMMU_S_OK;
}

/* §5.13.6.3 */
static uint8_t do_attach(struct vtb_viommu_dev *v, const struct vtb_viommu_attach *a)
{
	uint32_t flags = vtb_le32(a->flags), domain = vtb_le32(a->domain);
	if (a->reserved[0] | a->reserved[1] | a->reserved[2] | a->reserved[3])
		return VTB_VIOMMU_S_INVAL;
	if (flags & ~VTB_VIOMMU_ATTACH_F_BYPASS)
		return VTB_VIOMMU_S_INVAL;
	if (vtb_le32(a->endpoint) != ENDPOINT)
		return VTB_VIOMMU_S_NOENT;
	/* The driver must stay within domain_range; the device says RANGE
	 * (out-of-range parameter) rather than create the domain. */
	if (domain < vtb_le32(v->cfg.domain_range.start) || domain > vtb_le32(v->cfg.domain_range.end))
		return VTB_VIOMMU_S_RANGE;
	bool bypass = flags & VTB_VIOMMU_ATTACH_F_BYPASS;
	if (domain_is(v, domain))	/* already there; the flag must match the domain */
		return bypass == v->bypass ? VTB_VIOMMU_S_OK : VTB_VIOMMU_S_INVAL;
	uint64_t ram = v->fe->ram_size;
	if (bypass && ram > (uint64_t)IOVA_PAGES * PAGE)
		return VTB_VIOMMU_S_UNSUPP;	/* cannot be done: nothing changes */
	/* In another domain: as a DETACH from it, then the ATTACH. */
	if (v->attached)
		domain_destroy(v);
	if (bypass) {
		/* Identity over all FE RAM, one host mapping. */
		if (!v->plat->ops->map(v->plat, v->fe, 0, ram, true, v->window))
			return VTB_VIOMMU_S_DEVERR;	/* left unattached */
		memset(v->pg, VTB_VIOMMU_MAP_F_READ | VTB_VIOMMU_MAP_F_WRITE | VTB_VIOMMU_PG_MAPPED, ram / PAGE);
	}
	v->attached = true;
	v->bypass = bypass;
	v->domain = domain;
	return VTB_VIOMMU_S_OK;
}

/* §5.13.6.4 */
static uint8_t do_detach(struct vtb_viommu_dev *v, const struct vtb_viommu_detach *d)
{
	/* reserved: the device must ignore it. */
	if (vtb_le32(d->endpoint) != ENDPOINT)
		return VTB_VIOMMU_S_NOENT;
	/* No such domain, or the endpoint is not in it: the spec's MAY
	 * INVAL, taken (QEMU's answer too), so a driver learns of it. */
	if (!domain_is(v, vtb_le32(d->domain)))
		return VTB_VIOMMU_S_INVAL;
	domain_destroy(v);
	return VTB_VIOMMU_S_OK;
}

/* Copies n bytes at offset off of the readable (or writable) part of a
 * chain, as one byte stream across its descriptors. */
static void stream_copy(const struct vtb_seg *seg, void *const *va, unsigned from, unsigned to, uint32_t off,
			void *bytes, uint32_t n, bool write)
{
	for (unsigned i = from; i < to && n; i++) {
		if (off >= seg[i].len) {
			off -= seg[i].len;
			continue;
		}
		uint32_t k = seg[i].len - off < n ? seg[i].len - off : n;
		if (write)
			memcpy((char *)va[i] + off, bytes, k);
		else
			memcpy(bytes, (const char *)va[i] + off, k);
		bytes = (char *)bytes + k;
		n -= k;
		off = 0;
	}
}

/* One request: returns the used length (bytes of the writable part
 * written), or <0 if a buffer is out of the device's reach.
 *
 * Framing (§2.7.4.1): no assumption about how the request is cut into
 * descriptors; the readable part and the writable part are each one byte
 * stream.  The request's fields are the start of the readable part (more
 * readable bytes are ignored, as QEMU does), its tail the start of the
 * writable part.  A writable part shorter than the tail leaves the device
 * no way to set status: the buffers go back unwritten, used length 0
 * (§5.13.6: a request the device fails to parse; Linux then reads the
 * status as IOERR).  A readable part short for its type gets INVAL. */
static int dev_request(struct vtb_viommu_dev *v, const struct vtb_seg *seg, unsigned nseg,
		       vtb_viommu_buf_fn buf, void *ctx)
{
	void *va[VTB_VIOMMU_MAX_SEG] = { NULL };
	uint32_t out = 0, in = 0;
	unsigned nout = 0;
	if (nseg > VTB_VIOMMU_MAX_SEG)
		return -E2BIG;
	for (unsigned i = 0; i < nseg; i++) {
		if (seg[i].len && !(va[i] = buf(ctx, seg[i].addr, seg[i].len)))
			return -EFAULT;
		if (seg[i].write) {
			in += seg[i].len;
		} else {
			out += seg[i].len;
			nout = i + 1;
		}
	}
	union {
		struct vtb_viommu_head h;
		struct vtb_viommu_map m;
		struct vtb_viommu_unmap u;
		struct vtb_viommu_attach a;
		struct vtb_viommu_detach d;
	} req;
	memset(&req, 0, sizeof(req));
	/* Read once into local memory, then judged. */
	stream_copy(seg, va, 0, nout, 0, &req, out < sizeof(req) ? out : (uint32_t)sizeof(req), false);
	struct vtb_viommu_tail tail = { .status = VTB_VIOMMU_S_INVAL };
	if (in < sizeof(tail))
		return 0;
	size_t body = sizeof(struct vtb_viommu_tail);
	if (out >= 1) {
		switch (req.h.type) {
		case VTB_VIOMMU_T_ATTACH: body = sizeof(req.a); break;
		case VTB_VIOMMU_T_DETACH: body = sizeof(req.d); break;
		case VTB_VIOMMU_T_MAP: body = sizeof(req.m); break;
		case VTB_VIOMMU_T_UNMAP: body = sizeof(req.u); break;
		default:
			/* §5.13.6.2: a type the device does not recognize is not
			 * written, used length 0 (not UNSUPP, which is QEMU's
			 * answer).  PROBE is one: F_PROBE is not offered
			 * (§5.13.6.7.2 asks the same). */
			return 0;
		}
		body -= sizeof(struct vtb_viommu_tail);
	}
	if (out < 1 || out < body)
		tail.status = VTB_VIOMMU_S_INVAL;
	else if (req.h.type == VTB_VIOMMU_T_ATTACH)
		tail.status = do_attach(v, &req.a);
	else if (req.h.type == VTB_VIOMMU_T_DETACH)
		tail.status = do_detach(v, &req.d);
	else if (req.h.type == VTB_VIOMMU_T_MAP)
		tail.status = do_map(v, &req.m);
	else
		tail.status = do_unmap(v, &req.u);
	stream_copy(seg, va, nout, nseg, 0, &tail, sizeof(tail), true);
	return (int)sizeof(tail);
}

int vtb_viommu_dev_serve(struct vtb_viommu_dev *d, struct vtb_vqdev *q, vtb_viommu_buf_fn buf, void *ctx)
{
	struct vtb_chain c = { .seg = d->seg, .max_seg = VTB_VIOMMU_MAX_SEG };
	int served = 0, r;
	if (d->broken)
		return -EIO;
	while ((r = vtb_vqdev_pop(q, &c)) == 1) {
		int used = dev_request(d, c.seg, c.nseg, buf, ctx);
		if (used < 0) {
			d->broken = true;
			return used;
		}
		vtb_vqdev_push(q, c.head, (uint32_t)used);
		served++;
	}
	if (r < 0)
		d->broken = true;
	return r < 0 ? r : served;
}

/* The device's translation: [iova, iova+len) if every page of it is
 * mapped with the right the access needs (§5.13.6.5.2).  An access it
 * refuses is a translation fault; the BE's device then reports bad input
 * (NEEDS_RESET), as a device whose DMA faults does. */
void *vtb_viommu_dev_at(struct vtb_viommu_dev *v, uint64_t iova, uint64_t len, bool write)
{
	uint8_t need = VTB_VIOMMU_PG_MAPPED | (write ? VTB_VIOMMU_MAP_F_WRITE : VTB_VIOMMU_MAP_F_READ);
	if (!len || !vtb_range_ok(iova, len, (uint64_t)IOVA_PAGES * PAGE))
		return NULL;
	for (uint64_t pg = iova / PAGE; pg <= (iova + len - 1) / PAGE; pg++)
		if ((v->pg[pg] & need) != need)
			return NULL;
	return v->window + iova;
}

/* ================================================================ BE */
struct vio_be {
	char *region;			/* the request queue, as the hypervisor sees it */
	uint64_t region_gpa, region_size;
	struct vtb_vqdev *ioq;
	struct vtb_viommu_dev dev;
	_Alignas(16) uint8_t ioq_state[];
};

static void *vio_region_buf(void *ctx, uint64_t addr, uint32_t len)
{
	struct vio_be *v = ctx;
	if (addr < v->region_gpa || !vtb_range_ok(addr - v->region_gpa, len, v->region_size))
		return NULL;
	return v->region + (addr - v->region_gpa);
}

static int vio_be_service(struct vtb_vbe *be)
{
	struct vio_be *v = be->priv;
	return vtb_viommu_dev_serve(&v->dev, v->ioq, vio_region_buf, v);
}

static bool vio_be_arm(struct vtb_vbe *be)
{
	struct vio_be *v = be->priv;
	return vtb_vqdev_enable_notify(v->ioq);
}

static void vio_be_teardown(struct vtb_vbe *be);

static int vio_be_setup(struct vtb_vbe *be)
{
	struct vtb_xenv *env = be->env;
	struct vio_be *v = calloc(1, sizeof(*v) + vtb_vqdev_memsize(IOQ_SIZE));
	if (!v)
		return -ENOMEM;
	v->region_gpa = env->shared_gpa;
	v->region_size = env->shared_size;
	v->region = env->plat->ops->map(env->plat, env->fe, v->region_gpa, v->region_size, true, NULL);
	if (!v->region)
		goto free_v;
	if (vtb_viommu_dev_init(&v->dev, env->plat, env->fe))
		goto unmap_region;
	/* The request queue sits at the region's start in the driver's
	 * one-allocation layout: configuration, not the driver's word. */
	struct vtb_vqdev_params p = {
		.num = IOQ_SIZE, .desc = v->region,
		.avail = v->region + vtb_ring_driver_off(IOQ_SIZE, false),
		.used = v->region + vtb_ring_device_off(IOQ_SIZE, false),
	};
	v->ioq = vtb_vqdev_init(v->ioq_state, &p);
	be->priv = v;
	if (!v->ioq) {	/* refused, never used half-made: be_open then fails */
		vio_be_teardown(be);
		be->priv = NULL;
		return -EINVAL;
	}
	return 0;
unmap_region:
	env->plat->ops->unmap(env->plat, v->region, v->region_size, false);
free_v:
	free(v);
	return -ENOMEM;
}

static void *vio_be_ring(struct vtb_vbe *be, uint64_t addr, size_t bytes)
{
	struct vio_be *v = be->priv;
	/* The device reads (avail, descriptors) and writes (used) a ring. */
	void *va = vtb_viommu_dev_at(&v->dev, addr, bytes, true);
	return va && vtb_viommu_dev_at(&v->dev, addr, bytes, false) ? va : NULL;
}

static const void *vio_be_indirect(struct vtb_vbe *be, uint64_t addr, uint32_t len)
{
	struct vio_be *v = be->priv;
	return vtb_viommu_dev_at(&v->dev, addr, len, false);
}

static int vio_be_get(struct vtb_vbe *be, struct vtb_vbe_map *m)
{
	struct vio_be *v = be->priv;
	m->va = vtb_viommu_dev_at(&v->dev, m->addr, m->len, m->write);
	return m->va ? 0 : -EFAULT;
}

static void vio_be_teardown(struct vtb_vbe *be)
{
	struct vio_be *v = be->priv;
	if (!v)
		return;
	vtb_viommu_dev_fini(&v->dev);
	be->env->plat->ops->unmap(be->env->plat, v->region, v->region_size, false);
	free(v);
}

static const struct vtb_vring_policy viommu_policy = {
	.access_platform = true,	/* behind the IOMMU, passthrough (identity) too */
	.fe_setup = vio_fe_setup,
	.fe_ring = vio_fe_ring,
	.fe_map = vio_fe_map,
	.fe_unmap = vio_fe_unmap,
	.fe_map_indirect = vio_fe_map_indirect,
	.fe_unmap_indirect = vio_fe_unmap_indirect,
	.fe_teardown = vio_fe_teardown,
	.be_setup = vio_be_setup,
	.be_ring = vio_be_ring,
	.be_indirect = vio_be_indirect,
	.be_get = vio_be_get,
	.be_teardown = vio_be_teardown,
	.be_service = vio_be_service,
	.be_arm = vio_be_arm,
};

static int viommu_fe_open(struct vtb_xenv *env, uint64_t wanted, void **fe)
{
	return vtb_vring_fe_open(env, &viommu_policy, wanted, fe);
}

static int viommu_be_open(struct vtb_xenv *env, void **be)
{
	return vtb_vring_be_open(env, &viommu_policy, be);
}

static const char *const viommu_variants[] = { "strict", "lazy", "passthrough", NULL };
static const char *const viommu_variant_desc[] = {
	"MAP per buffer, UNMAP and wait (IOTLB sync) after every request",
	"MAP per buffer, UNMAPs queued; a flush queue (fq_size, fq_timeout) syncs and frees IOVAs in batches",
	"ATTACH with BYPASS: identity mapping of all FE RAM, the reference point",
	NULL,
};

static const char *const viommu_lazy[] = { "lazy", NULL };
static const struct vtb_xport_opt viommu_opts[] = {
	{ "fq_size", VTB_XOPT_UINT, "256", 1, 65536, 0, viommu_lazy, VTB_XOPT_AT(fq_size),
	  "IOVAs a flush queue holds before it syncs (Linux IOVA_FQ_SIZE)" },
	{ "fq_timeout", VTB_XOPT_TIME, "10ms", 0, 10, VTB_XOPT_ABOVE_MIN, viommu_lazy, VTB_XOPT_AT(fq_timeout_ns),
	  "age at which the flush queue syncs anyway (Linux IOVA_FQ_TIMEOUT)" },
	{ NULL, VTB_XOPT_UINT, NULL, 0, 0, 0, NULL, 0, 0, NULL },
};

const struct vtb_transport_ops vtb_transport_viommu = {
	.name = "viommu",
	.desc = "virtio-iommu: the BE reaches only IOVAs the FE mapped with MAP/UNMAP requests",
	.variants = viommu_variants,
	.variant_desc = viommu_variant_desc,
	.caps = VTB_CAP_SPLIT | VTB_CAP_INDIRECT | VTB_CAP_NOTIFY_EVENT | VTB_CAP_NOTIFY_POLL | VTB_CAP_REGION,
	.opts = viommu_opts,
	.region_bytes = viommu_region_bytes,
	.fe_open = viommu_fe_open,
	.be_open = viommu_be_open,
	VTB_VRING_OPS,
};
