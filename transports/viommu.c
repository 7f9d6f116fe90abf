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

#include "core/vtb_viommu.h"
#include "vring.h"

#define PAGE 4096u
#define IOVA_PAGES 65536u		/* a 256 MiB IOVA space */
#define IOQ_SIZE 64u			/* request queue entries */
#define REQ_SLOT 64u			/* bytes per request buffer */
#define DOMAIN 1u
#define ENDPOINT 0u

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
		if (req[sz - 4] != VTB_VIOMMU_S_OK)
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
			__builtin_ia32_pause();
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

/* Rings and indirect tables: allocated coherent, mapped once. */
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
				  VTB_VIOMMU_MAP_F_READ | (i >= r->nout ? VTB_VIOMMU_MAP_F_WRITE : 0));
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

static void vio_fe_unmap(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len)
{
	struct vio_fe *v = fe->priv;
	(void)used_len;
	if (v->variant == VIO_PASS)
		return;
	for (unsigned i = 0; i < r->nout + r->nin; i++) {
		uint32_t first = (uint32_t)(r->handle[i] >> 32), n = (uint32_t)r->handle[i];
		/* An UNMAP that could not be queued leaves the IOVA taken: never
		 * reused while the device may still reach it. */
		if (vio_unmap(fe, (uint64_t)first * PAGE, (uint64_t)n * PAGE))
			continue;
		if (v->variant == VIO_STRICT) {
			vio_sync(fe);	/* iotlb_sync: the device has dropped it */
			memset(v->iova_used + first, 0, n);
			continue;
		}
		/* DMA-FQ: the IOVA may be reused only after the next flush. */
		if (!v->fq_n)
			v->fq_oldest = vtb_now_ns_fe();
		v->fq[v->fq_n++] = (struct fq_entry){ first, n };
		if (v->fq_n == v->fq_size || vtb_now_ns_fe() - v->fq_oldest >= v->fq_timeout_ns)
			fq_flush(fe);
	}
}

static void vio_fe_teardown(struct vtb_vfe *fe)
{
	struct vio_fe *v = fe->priv;
	if (!v)
		return;
	free(v->fq);
	free(v);
}

/* ================================================================ BE */
struct vio_be {
	char *region;			/* the request queue, as the hypervisor sees it */
	uint64_t region_gpa, region_size;
	struct vtb_vqdev *ioq;
	bool attached, bypass;
	char *window;			/* IOVA i is reachable at window + i */
	uint8_t perm[IOVA_PAGES];	/* MAP_F_* of each mapped IOVA page, 0 unmapped */
	struct vtb_seg seg[2];
	_Alignas(16) uint8_t ioq_state[];
};

static const void *vio_region_xlate(void *ctx, uint64_t addr, uint32_t len)
{
	struct vio_be *v = ctx;
	if (addr < v->region_gpa || !vtb_range_ok(addr - v->region_gpa, len, v->region_size))
		return NULL;
	return v->region + (addr - v->region_gpa);
}

static uint8_t do_map(struct vtb_vbe *be, const struct vtb_viommu_map *m)
{
	struct vio_be *v = be->priv;
	struct vtb_plat *p = be->env->plat;
	uint64_t start = vtb_le64(m->virt_start), end = vtb_le64(m->virt_end), phys = vtb_le64(m->phys_start);
	uint32_t flags = vtb_le32(m->flags);
	if (!v->attached || vtb_le32(m->domain) != DOMAIN)
		return VTB_VIOMMU_S_NOENT;
	if (start % PAGE || (end + 1) % PAGE || phys % PAGE || end < start || flags & ~3u || !flags)
		return VTB_VIOMMU_S_INVAL;
	uint64_t len = end - start + 1;
	if (end >= (uint64_t)IOVA_PAGES * PAGE || !vtb_range_ok(phys, len, be->env->fe->ram_size))
		return VTB_VIOMMU_S_RANGE;
	for (uint64_t pg = start / PAGE; pg <= end / PAGE; pg++)
		if (v->perm[pg])
			return VTB_VIOMMU_S_INVAL;	/* overlaps a mapping */
	if (!p->ops->map(p, be->env->fe, phys, len, flags & VTB_VIOMMU_MAP_F_WRITE, v->window + start))
		return VTB_VIOMMU_S_DEVERR;
	memset(v->perm + start / PAGE, (int)flags, len / PAGE);
	return VTB_VIOMMU_S_OK;
}

static uint8_t do_unmap(struct vtb_vbe *be, const struct vtb_viommu_unmap *u)
{
	struct vio_be *v = be->priv;
	struct vtb_plat *p = be->env->plat;
	uint64_t start = vtb_le64(u->virt_start), end = vtb_le64(u->virt_end);
	if (!v->attached || vtb_le32(u->domain) != DOMAIN)
		return VTB_VIOMMU_S_NOENT;
	if (start % PAGE || (end + 1) % PAGE || end < start || end >= (uint64_t)IOVA_PAGES * PAGE)
		return VTB_VIOMMU_S_RANGE;
	/* One zap (and flush) per mapped run in the range. */
	for (uint64_t pg = start / PAGE; pg <= end / PAGE;) {
		if (!v->perm[pg]) {
			pg++;
			continue;
		}
		uint64_t run = pg;
		while (run <= end / PAGE && v->perm[run])
			run++;
		p->ops->unmap(p, v->window + pg * PAGE, (run - pg) * PAGE, true);
		memset(v->perm + pg, 0, run - pg);
		pg = run;
	}
	return VTB_VIOMMU_S_OK;
}

static uint8_t do_attach(struct vtb_vbe *be, const struct vtb_viommu_attach *a)
{
	struct vio_be *v = be->priv;
	struct vtb_plat *p = be->env->plat;
	uint32_t flags = vtb_le32(a->flags);
	if (vtb_le32(a->endpoint) != ENDPOINT || vtb_le32(a->domain) != DOMAIN || flags & ~1u)
		return VTB_VIOMMU_S_INVAL;
	if (v->attached)
		return VTB_VIOMMU_S_OK;
	v->attached = true;
	if (flags & VTB_VIOMMU_ATTACH_F_BYPASS) {
		/* Identity: all FE RAM at IOVA = guest address. */
		uint64_t ram = be->env->fe->ram_size;
		if (ram > (uint64_t)IOVA_PAGES * PAGE || !p->ops->map(p, be->env->fe, 0, ram, true, v->window))
			return VTB_VIOMMU_S_DEVERR;
		memset(v->perm, VTB_VIOMMU_MAP_F_READ | VTB_VIOMMU_MAP_F_WRITE, ram / PAGE);
		v->bypass = true;
	}
	return VTB_VIOMMU_S_OK;
}

static int vio_be_service(struct vtb_vbe *be)
{
	struct vio_be *v = be->priv;
	struct vtb_chain c = { .seg = v->seg, .max_seg = 2 };
	int served = 0, r;
	while ((r = vtb_vqdev_pop(v->ioq, &c)) == 1) {
		/* Read the request once into local memory, then judge it. */
		union {
			struct vtb_viommu_head h;
			struct vtb_viommu_map m;
			struct vtb_viommu_unmap u;
			struct vtb_viommu_attach a;
			uint8_t b[REQ_SLOT];
		} req;
		memset(&req, 0, sizeof(req));
		uint8_t status = VTB_VIOMMU_S_INVAL;
		const void *out = c.nseg == 2 && !c.seg[0].write && c.seg[1].write && c.seg[1].len >= 4 &&
					  c.seg[0].len <= sizeof(req)
				  ? vio_region_xlate(v, c.seg[0].addr, c.seg[0].len) : NULL;
		uint8_t *tail = out ? (uint8_t *)vio_region_xlate(v, c.seg[1].addr, c.seg[1].len) : NULL;
		if (!out || !tail)
			return -EFAULT;
		memcpy(&req, out, c.seg[0].len);
		size_t want = req.h.type == VTB_VIOMMU_T_MAP ? sizeof(req.m)
			    : req.h.type == VTB_VIOMMU_T_UNMAP ? sizeof(req.u)
			    : req.h.type == VTB_VIOMMU_T_ATTACH ? sizeof(req.a) : 0;
		if (!want)
			status = VTB_VIOMMU_S_UNSUPP;
		else if (c.seg[0].len != want - sizeof(struct vtb_viommu_tail))
			status = VTB_VIOMMU_S_INVAL;
		else if (req.h.type == VTB_VIOMMU_T_MAP)
			status = do_map(be, &req.m);
		else if (req.h.type == VTB_VIOMMU_T_UNMAP)
			status = do_unmap(be, &req.u);
		else
			status = do_attach(be, &req.a);
		tail[0] = status;
		vtb_vqdev_push(v->ioq, c.head, c.seg[1].len);
		served++;
	}
	return r < 0 ? r : served;
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
	v->window = mmap(NULL, (size_t)IOVA_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!v->region || v->window == MAP_FAILED) {
		if (v->region)
			env->plat->ops->unmap(env->plat, v->region, v->region_size, false);
		free(v);
		return -ENOMEM;
	}
	struct vtb_vqdev_params p = { .num = IOQ_SIZE, .ring = v->region };
	v->ioq = vtb_vqdev_init(v->ioq_state, &p);
	be->priv = v;
	if (!v->ioq) {	/* refused, never used half-made: be_open then fails */
		vio_be_teardown(be);
		be->priv = NULL;
		return -EINVAL;
	}
	return 0;
}

/* IOVA -> BE pointer, if every page is mapped with the rights needed. */
static void *vio_at(struct vtb_vbe *be, uint64_t iova, uint64_t len, bool write)
{
	struct vio_be *v = be->priv;
	if (!len || !vtb_range_ok(iova, len, (uint64_t)IOVA_PAGES * PAGE))
		return NULL;
	for (uint64_t pg = iova / PAGE; pg <= (iova + len - 1) / PAGE; pg++)
		if (!v->perm[pg] || (write && !(v->perm[pg] & VTB_VIOMMU_MAP_F_WRITE)))
			return NULL;
	return v->window + iova;
}

static void *vio_be_ring(struct vtb_vbe *be, uint64_t addr, size_t bytes) { return vio_at(be, addr, bytes, true); }
static const void *vio_be_indirect(struct vtb_vbe *be, uint64_t addr, uint32_t len) { return vio_at(be, addr, len, false); }

static int vio_be_get(struct vtb_vbe *be, struct vtb_vbe_map *m)
{
	m->va = vio_at(be, m->addr, m->len, m->write);
	return m->va ? 0 : -EFAULT;
}

static void vio_be_teardown(struct vtb_vbe *be)
{
	struct vio_be *v = be->priv;
	if (!v)
		return;
	munmap(v->window, (size_t)IOVA_PAGES * PAGE);
	be->env->plat->ops->unmap(be->env->plat, v->region, v->region_size, false);
	free(v);
}

static const struct vtb_vring_policy viommu_policy = {
	.access_platform = true,	/* behind the IOMMU, passthrough (identity) too */
	.fe_setup = vio_fe_setup,
	.fe_ring = vio_fe_ring,
	.fe_map = vio_fe_map,
	.fe_unmap = vio_fe_unmap,
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

const struct vtb_transport_ops vtb_transport_viommu = {
	.name = "viommu",
	.desc = "virtio-iommu: the BE reaches only IOVAs the FE mapped with MAP/UNMAP requests",
	.variants = viommu_variants,
	.variant_desc = viommu_variant_desc,
	.region_bytes = viommu_region_bytes,
	.fe_open = viommu_fe_open,
	.be_open = viommu_be_open,
	VTB_VRING_OPS,
};
