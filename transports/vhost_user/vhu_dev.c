#include "vhu_dev.h"

struct vhu_region {
	uint64_t gpa, size, uva;
	void *va;
	uint64_t map_size;
};

struct vhu_queue {
	uint16_t num;		/* 0: SET_VRING_NUM not seen */
	bool addr_set;
	struct vtb_vhu_vring_addr addr;
	bool has_base;
	uint32_t base;		/* GET_VRING_BASE's layout */
	int kick, call, err;	/* -1: none */
	bool enabled;
	bool vq_ok;		/* vq initialised for the ring as it stands */
	bool fresh;		/* vq initialised since it last ran */
	bool running;		/* queue_start called, queue_stop not yet */
	struct vtb_vqdev *vq;
};

struct vtb_vhu_dev {
	struct vtb_vhu_hooks h;
	unsigned queues;
	uint16_t max_num;
	uint64_t offered, acked;
	uint64_t pf_offered, pf_acked;
	uint64_t refused;
	unsigned nregions;
	struct vhu_region reg[VTB_VHU_MAX_REGIONS];
	struct vtb_memmap *map;
	struct vhu_queue q[VTB_VHU_MAX_QUEUES];
	_Alignas(16) unsigned char mem[];	/* memmap, then one vq per ring */
};

static const char *const req_names[VTB_VHU_REQ_MAX] = {
	[VTB_VHU_GET_FEATURES] = "GET_FEATURES",
	[VTB_VHU_SET_FEATURES] = "SET_FEATURES",
	[VTB_VHU_SET_OWNER] = "SET_OWNER",
	[VTB_VHU_RESET_OWNER] = "RESET_OWNER",
	[VTB_VHU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VTB_VHU_SET_LOG_BASE] = "SET_LOG_BASE",
	[VTB_VHU_SET_LOG_FD] = "SET_LOG_FD",
	[VTB_VHU_SET_VRING_NUM] = "SET_VRING_NUM",
	[VTB_VHU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VTB_VHU_SET_VRING_BASE] = "SET_VRING_BASE",
	[VTB_VHU_GET_VRING_BASE] = "GET_VRING_BASE",
	[VTB_VHU_SET_VRING_KICK] = "SET_VRING_KICK",
	[VTB_VHU_SET_VRING_CALL] = "SET_VRING_CALL",
	[VTB_VHU_SET_VRING_ERR] = "SET_VRING_ERR",
	[VTB_VHU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VTB_VHU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VTB_VHU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VTB_VHU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VTB_VHU_SEND_RARP] = "SEND_RARP",
	[VTB_VHU_NET_SET_MTU] = "NET_SET_MTU",
	[VTB_VHU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VTB_VHU_IOTLB_MSG] = "IOTLB_MSG",
	[VTB_VHU_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VTB_VHU_GET_CONFIG] = "GET_CONFIG",
	[VTB_VHU_SET_CONFIG] = "SET_CONFIG",
	[VTB_VHU_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
	[VTB_VHU_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
	[VTB_VHU_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	[VTB_VHU_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	[VTB_VHU_POSTCOPY_END] = "POSTCOPY_END",
	[VTB_VHU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VTB_VHU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VTB_VHU_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
	[VTB_VHU_RESET_DEVICE] = "RESET_DEVICE",
	[VTB_VHU_VRING_KICK] = "VRING_KICK",
	[VTB_VHU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VTB_VHU_ADD_MEM_REG] = "ADD_MEM_REG",
	[VTB_VHU_REM_MEM_REG] = "REM_MEM_REG",
	[VTB_VHU_SET_STATUS] = "SET_STATUS",
	[VTB_VHU_GET_STATUS] = "GET_STATUS",
};

const char *vtb_vhu_req_name(uint32_t request)
{
	if (request < VTB_VHU_REQ_MAX && req_names[request])
		return req_names[request];
	return "UNKNOWN";
}

static size_t vq_stride(uint16_t max_num)
{
	return VTB_ALIGN_UP(vtb_vqdev_memsize(max_num), (size_t)16);
}

static size_t map_bytes(void)
{
	return VTB_ALIGN_UP(vtb_memmap_memsize(VTB_VHU_MAX_REGIONS), (size_t)16);
}

size_t vtb_vhu_dev_memsize(unsigned queues, uint16_t max_num)
{
	return sizeof(struct vtb_vhu_dev) + map_bytes() + (size_t)queues * vq_stride(max_num);
}

static void queue_reset(struct vhu_queue *q, bool enabled)
{
	struct vtb_vqdev *vq = q->vq;
	vtb_memset(q, 0, sizeof(*q));
	q->vq = vq;
	q->kick = q->call = q->err = -1;
	q->enabled = enabled;
}

struct vtb_vhu_dev *vtb_vhu_dev_init(void *mem, const struct vtb_vhu_params *p)
{
	if (!mem || !p || !p->hooks || !p->queues || p->queues > VTB_VHU_MAX_QUEUES ||
	    !vtb_vq_num_ok(p->max_num))
		return NULL;
	const struct vtb_vhu_hooks *h = p->hooks;
	if (!h->map || !h->unmap || !h->close_fd || !h->queue_start || !h->queue_stop ||
	    !h->reply || !h->log || !h->get_config)
		return NULL;
	struct vtb_vhu_dev *d = mem;
	vtb_memset(d, 0, sizeof(*d));
	d->h = *h;
	d->queues = p->queues;
	d->max_num = p->max_num;
	d->offered = p->features;
	d->pf_offered = p->protocol_features;
	d->map = vtb_memmap_init(d->mem, VTB_VHU_MAX_REGIONS);
	if (!d->map)
		return NULL;
	for (unsigned i = 0; i < d->queues; i++) {
		d->q[i].vq = (struct vtb_vqdev *)(void *)(d->mem + map_bytes() + i * vq_stride(p->max_num));
		queue_reset(&d->q[i], false);
	}
	return d;
}

static bool negotiated(const struct vtb_vhu_dev *d, unsigned bit)
{
	return d->acked & VTB_BIT(bit);
}

static bool pf_negotiated(const struct vtb_vhu_dev *d, unsigned bit)
{
	return d->pf_acked & VTB_BIT(bit);
}

/* ------------------------------------------------------------ rings */
static void q_stop(struct vtb_vhu_dev *d, unsigned i)
{
	if (d->q[i].running) {
		d->h.queue_stop(d->h.ctx, i);
		d->q[i].running = false;
	}
}

/* Runs ring i if it may run and does not, stops it if it runs and may not. */
static void q_update(struct vtb_vhu_dev *d, unsigned i)
{
	struct vhu_queue *q = &d->q[i];
	bool want = q->vq_ok && q->enabled;
	if (want && !q->running) {
		if (d->h.queue_start(d->h.ctx, i, q->fresh)) {
			d->h.log(d->h.ctx, VTB_VHU_SET_VRING_KICK, "the ring's worker did not start");
			return;
		}
		q->running = true;
		q->fresh = false;
	} else if (!want) {
		q_stop(d, i);
	}
}

/* The front-end's address of one of its regions to ours. */
static void *uva_xlate(const struct vtb_vhu_dev *d, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < d->nregions; i++) {
		const struct vhu_region *r = &d->reg[i];
		if (uva >= r->uva && vtb_range_ok(uva - r->uva, len, r->size))
			return (char *)r->va + (uva - r->uva);
	}
	return NULL;
}

static const void *indirect_xlate(void *ctx, uint64_t addr, uint32_t len)
{
	return vtb_memmap_xlate(ctx, addr, len, false);
}

/* The ring's parameters as they stand: -EFAULT when an area lies outside
 * every region, -EINVAL when the core refuses them. */
static int q_params(struct vtb_vhu_dev *d, unsigned i, struct vtb_vqdev_params *p)
{
	struct vhu_queue *q = &d->q[i];
	bool packed = negotiated(d, VTB_F_RING_PACKED);
	vtb_memset(p, 0, sizeof(*p));
	p->num = q->num;
	p->packed = packed;
	p->event_idx = negotiated(d, VTB_F_EVENT_IDX);
	p->indirect = negotiated(d, VTB_F_INDIRECT_DESC);
	p->xlate = indirect_xlate;
	p->xlate_ctx = d->map;
	/* The used index once per burst, as vhost does; a worker makes each
	 * burst visible with need_notify. */
	p->used_batch = 32;
	p->desc = uva_xlate(d, q->addr.desc, vtb_ring_desc_bytes(q->num));
	p->avail = uva_xlate(d, q->addr.avail, vtb_ring_driver_bytes(q->num, packed));
	p->used = uva_xlate(d, q->addr.used, vtb_ring_device_bytes(q->num, packed));
	if (!p->desc || !p->avail || !p->used)
		return -VTB_EFAULT;
	if (q->has_base) {
		p->has_base = true;
		p->avail_base = (uint16_t)q->base;
		p->used_base = (uint16_t)(q->base >> 16);
	}
	return vtb_vqdev_check(p);
}

/* Ring i started (kick seen): its queue state from what was set. */
static int q_init(struct vtb_vhu_dev *d, unsigned i)
{
	struct vhu_queue *q = &d->q[i];
	struct vtb_vqdev_params p;
	if (!q->num || !q->addr_set)
		return -VTB_EINVAL;
	int e = q_params(d, i, &p);
	if (e)
		return e;
	if (!vtb_vqdev_init(q->vq, &p))
		return -VTB_EINVAL;
	q->vq_ok = true;
	q->fresh = true;
	return 0;
}

/* Stops ring i for good (GET_VRING_BASE, a new region table): where it
 * stands becomes its base. */
static void q_halt(struct vtb_vhu_dev *d, unsigned i)
{
	struct vhu_queue *q = &d->q[i];
	q_stop(d, i);
	if (q->vq_ok) {
		q->base = vtb_vqdev_base(q->vq);
		q->has_base = true;
		q->vq_ok = false;
	}
}

static void close_fd(struct vtb_vhu_dev *d, int *fd)
{
	if (*fd >= 0)
		d->h.close_fd(d->h.ctx, *fd);
	*fd = -1;
}

static void q_forget(struct vtb_vhu_dev *d, unsigned i, bool enabled)
{
	struct vhu_queue *q = &d->q[i];
	q_stop(d, i);
	close_fd(d, &q->kick);
	close_fd(d, &q->call);
	close_fd(d, &q->err);
	queue_reset(q, enabled);
}

/* ------------------------------------------------------------ memory */
static void regions_unmap(struct vtb_vhu_dev *d, struct vhu_region *reg, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (reg[i].va)
			d->h.unmap(d->h.ctx, reg[i].va, reg[i].map_size);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* The table's own consistency, before anything is mapped. */
static const char *regions_check(const struct vtb_vhu_region *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (!r[i].size)
			return "a region of size 0";
		if (r[i].gpa + r[i].size < r[i].gpa || r[i].uva + r[i].size < r[i].uva ||
		    r[i].mmap_offset + r[i].size < r[i].mmap_offset)
			return "a region wraps";
		for (unsigned j = 0; j < i; j++)
			if (ranges_overlap(r[i].gpa, r[i].size, r[j].gpa, r[j].size) ||
			    ranges_overlap(r[i].uva, r[i].size, r[j].uva, r[j].size))
				return "regions overlap";
	}
	return NULL;
}

static int set_mem_table(struct vtb_vhu_dev *d, const uint8_t *pl, uint32_t size, const int *fds,
			 unsigned nfds, const char **why)
{
	struct vtb_vhu_region r[VTB_VHU_MAX_REGIONS];
	struct vhu_region nreg[VTB_VHU_MAX_REGIONS];
	uint32_t n;
	int e = -VTB_EINVAL;
	if (size < 8) {
		*why = "payload too short for a region count";
		return -VTB_EINVAL;
	}
	vtb_memcpy(&n, pl, 4);
	if (n > VTB_VHU_MAX_REGIONS) {
		*why = "more regions than the table holds";
		return -VTB_E2BIG;
	}
	/* QEMU sends the regions given; others the whole fixed table. */
	if (size != 8 + 32 * n && size != sizeof(struct vtb_vhu_memory)) {
		*why = "payload size does not match the region count";
		return -VTB_EINVAL;
	}
	if (nfds != n) {
		*why = nfds < n ? "fewer fds than regions" : "more fds than regions";
		return -VTB_EINVAL;
	}
	vtb_memcpy(r, pl + 8, 32 * n);
	if ((*why = regions_check(r, n)))
		return -VTB_EINVAL;
	vtb_memset(nreg, 0, sizeof(nreg));
	for (unsigned i = 0; i < n; i++) {
		nreg[i].gpa = r[i].gpa;
		nreg[i].size = r[i].size;
		nreg[i].uva = r[i].uva;
		nreg[i].map_size = r[i].size;
		if ((e = d->h.map(d->h.ctx, fds[i], r[i].mmap_offset, r[i].size, &nreg[i].va)) || !nreg[i].va) {
			nreg[i].va = NULL;
			*why = "a region's fd cannot be mapped (offset or size beyond it?)";
			regions_unmap(d, nreg, i);
			return e ? e : -VTB_EFAULT;
		}
	}
	/* The new table is good: rings stop, the old goes, the rings that
	 * ran resume where they stood, over the new one. */
	bool ran[VTB_VHU_MAX_QUEUES];
	for (unsigned i = 0; i < d->queues; i++) {
		ran[i] = d->q[i].vq_ok;
		q_halt(d, i);
	}
	regions_unmap(d, d->reg, d->nregions);
	vtb_memcpy(d->reg, nreg, sizeof(nreg));
	d->nregions = n;
	vtb_memmap_init(d->map, VTB_VHU_MAX_REGIONS);
	for (unsigned i = 0; i < n; i++) {
		struct vtb_mem_region m = { .gpa = nreg[i].gpa, .size = nreg[i].size, .va = nreg[i].va,
					    .writable = true };
		if (vtb_memmap_add(d->map, &m)) {
			/* Only a mapping that wraps our address space gets here. */
			*why = "a region's mapping does not fit the address space";
			regions_unmap(d, d->reg, d->nregions);
			d->nregions = 0;
			vtb_memmap_init(d->map, VTB_VHU_MAX_REGIONS);
			return -VTB_EFAULT;
		}
	}
	for (unsigned i = 0; i < d->queues; i++) {
		if (!ran[i])
			continue;
		if (q_init(d, i))
			d->h.log(d->h.ctx, VTB_VHU_SET_MEM_TABLE, "a running ring lies outside the new table: stopped");
		q_update(d, i);
	}
	return 0;
}

/* ------------------------------------------------------------ messages */
static int send_reply(struct vtb_vhu_dev *d, uint32_t req, const void *pl, uint32_t size)
{
	struct {
		struct vtb_vhu_hdr h;
		uint8_t pl[sizeof(struct vtb_vhu_config)];
	} m;
	if (size > sizeof(m.pl))
		return -VTB_E2BIG;
	m.h.request = req;
	m.h.flags = VTB_VHU_VERSION | VTB_VHU_FLAG_REPLY;
	m.h.size = size;
	vtb_memcpy(m.pl, pl, size);
	return d->h.reply(d->h.ctx, &m, (uint32_t)sizeof(m.h) + size);
}

static int reply_u64(struct vtb_vhu_dev *d, uint32_t req, uint64_t v)
{
	return send_reply(d, req, &v, 8);
}

/* Requests answered with a message of their own (never with an ack). */
static bool has_reply(uint32_t req)
{
	return req == VTB_VHU_GET_FEATURES || req == VTB_VHU_GET_PROTOCOL_FEATURES ||
	       req == VTB_VHU_GET_QUEUE_NUM || req == VTB_VHU_GET_VRING_BASE ||
	       req == VTB_VHU_GET_CONFIG;
}

/* Payload bytes each request carries; -1: it varies, checked where handled. */
static int payload_size(uint32_t req)
{
	switch (req) {
	case VTB_VHU_GET_FEATURES:
	case VTB_VHU_GET_PROTOCOL_FEATURES:
	case VTB_VHU_GET_QUEUE_NUM:
	case VTB_VHU_SET_OWNER:
	case VTB_VHU_RESET_OWNER:
	case VTB_VHU_RESET_DEVICE:
		return 0;
	case VTB_VHU_SET_FEATURES:
	case VTB_VHU_SET_PROTOCOL_FEATURES:
	case VTB_VHU_SET_VRING_KICK:
	case VTB_VHU_SET_VRING_CALL:
	case VTB_VHU_SET_VRING_ERR:
		return 8;
	case VTB_VHU_SET_VRING_NUM:
	case VTB_VHU_SET_VRING_BASE:
	case VTB_VHU_GET_VRING_BASE:
	case VTB_VHU_SET_VRING_ENABLE:
		return (int)sizeof(struct vtb_vhu_vring_state);
	case VTB_VHU_SET_VRING_ADDR:
		return (int)sizeof(struct vtb_vhu_vring_addr);
	default:
		return -1;
	}
}

/* fds each request carries, given its payload (already size-checked). */
static unsigned fds_wanted(uint32_t req, const uint8_t *pl)
{
	uint64_t v;
	switch (req) {
	case VTB_VHU_SET_VRING_KICK:
	case VTB_VHU_SET_VRING_CALL:
	case VTB_VHU_SET_VRING_ERR:
		vtb_memcpy(&v, pl, 8);
		return (v & VTB_VHU_VRING_NOFD) ? 0 : 1;
	default:
		return 0;	/* SET_MEM_TABLE counts its own */
	}
}

struct msgctx {
	uint32_t req;
	const uint8_t *pl;
	uint32_t size;
	const char *why;
};

static int vring_index(struct vtb_vhu_dev *d, struct msgctx *m, uint32_t idx)
{
	if (idx >= d->queues) {
		m->why = "ring index out of range";
		return -VTB_ERANGE;
	}
	return 0;
}

static int h_set_features(struct vtb_vhu_dev *d, struct msgctx *m)
{
	uint64_t v;
	vtb_memcpy(&v, m->pl, 8);
	if (v & ~d->offered) {
		m->why = "features not offered";
		return -VTB_EINVAL;
	}
	for (unsigned i = 0; i < d->queues; i++)
		if (d->q[i].vq_ok && v != d->acked) {
			m->why = "features changed while a ring runs";
			return -VTB_EBUSY;
		}
	d->acked = v;
	/* Without protocol features a ring is enabled as it starts. */
	if (!(v & VTB_BIT(VTB_VHU_F_PROTOCOL_FEATURES)))
		for (unsigned i = 0; i < d->queues; i++) {
			d->q[i].enabled = true;
			q_update(d, i);
		}
	return 0;
}

static int h_set_protocol_features(struct vtb_vhu_dev *d, struct msgctx *m)
{
	uint64_t v;
	vtb_memcpy(&v, m->pl, 8);
	if (v & ~d->pf_offered) {
		m->why = "protocol features not offered";
		return -VTB_EINVAL;
	}
	d->pf_acked = v;
	return 0;
}

static int h_vring_state(struct vtb_vhu_dev *d, struct msgctx *m)
{
	struct vtb_vhu_vring_state s;
	vtb_memcpy(&s, m->pl, sizeof(s));
	int e = vring_index(d, m, s.index);
	if (e)
		return e;
	struct vhu_queue *q = &d->q[s.index];
	switch (m->req) {
	case VTB_VHU_SET_VRING_NUM:
		if (q->vq_ok) {
			m->why = "ring size changed while the ring runs";
			return -VTB_EBUSY;
		}
		if (!vtb_vq_num_ok(s.num) || s.num > d->max_num) {
			m->why = "ring size not a power of two within the maximum";
			return -VTB_EINVAL;
		}
		q->num = (uint16_t)s.num;
		q->addr_set = false;	/* the areas' extents depend on num */
		return 0;
	case VTB_VHU_SET_VRING_BASE:
		if (q->vq_ok) {
			m->why = "ring base changed while the ring runs";
			return -VTB_EBUSY;
		}
		if (!negotiated(d, VTB_F_RING_PACKED) && s.num > 0xffff) {
			m->why = "split ring base beyond 16 bits";
			return -VTB_EINVAL;
		}
		q->base = s.num;
		q->has_base = true;
		return 0;
	case VTB_VHU_SET_VRING_ENABLE:
		if (s.num > 1) {
			m->why = "enable is neither 0 nor 1";
			return -VTB_EINVAL;
		}
		q->enabled = s.num;
		q_update(d, s.index);
		return 0;
	default: {	/* GET_VRING_BASE */
		q_halt(d, s.index);
		/* The kick fd goes with the stop; a restart sends a new one. */
		close_fd(d, &q->kick);
		struct vtb_vhu_vring_state r = { .index = s.index, .num = q->has_base ? q->base : 0 };
		return send_reply(d, m->req, &r, sizeof(r));
	}
	}
}

static int h_vring_addr(struct vtb_vhu_dev *d, struct msgctx *m)
{
	struct vtb_vhu_vring_addr a;
	struct vtb_vqdev_params p;
	vtb_memcpy(&a, m->pl, sizeof(a));
	int e = vring_index(d, m, a.index);
	if (e)
		return e;
	struct vhu_queue *q = &d->q[a.index];
	if (q->vq_ok) {
		m->why = "ring addresses changed while the ring runs";
		return -VTB_EBUSY;
	}
	if (a.flags & ~VTB_VHU_VRING_F_LOG) {
		m->why = "unknown ring address flags";
		return -VTB_EINVAL;
	}
	if (!q->num) {
		m->why = "ring addresses before the ring's size";
		return -VTB_EINVAL;
	}
	struct vtb_vhu_vring_addr old = q->addr;
	q->addr = a;
	if ((e = q_params(d, a.index, &p))) {
		q->addr = old;
		m->why = e == -VTB_EFAULT ? "a ring area lies outside every region"
					  : "ring areas misaligned or overlapping";
		return e;
	}
	q->addr_set = true;
	return 0;
}

static int h_vring_fd(struct vtb_vhu_dev *d, struct msgctx *m, const int *fds, unsigned nfds)
{
	uint64_t v;
	int fd = nfds ? fds[0] : -1;
	int e = 0;
	vtb_memcpy(&v, m->pl, 8);
	if (v & ~(uint64_t)(VTB_VHU_VRING_IDX_MASK | VTB_VHU_VRING_NOFD)) {
		m->why = "reserved bits set in the ring index";
		e = -VTB_EINVAL;
	}
	unsigned idx = (unsigned)(v & VTB_VHU_VRING_IDX_MASK);
	if (e || (e = vring_index(d, m, idx))) {
		close_fd(d, &fd);
		return e;
	}
	struct vhu_queue *q = &d->q[idx];
	q_stop(d, idx);	/* the worker lets go of the old fd */
	int *slot = m->req == VTB_VHU_SET_VRING_KICK ? &q->kick : m->req == VTB_VHU_SET_VRING_CALL ? &q->call : &q->err;
	close_fd(d, slot);
	*slot = fd;
	if (m->req == VTB_VHU_SET_VRING_KICK) {
		/* The kick starts the ring (or restarts it as it stood). */
		if (!q->vq_ok && (e = q_init(d, idx))) {
			m->why = e == -VTB_EFAULT ? "ring started with an area outside every region"
						  : "ring started before its size and addresses, or with a bad base";
			close_fd(d, slot);
			return e;
		}
	}
	q_update(d, idx);
	return 0;
}

static int h_config(struct vtb_vhu_dev *d, struct msgctx *m)
{
	struct vtb_vhu_config c;
	if (m->size < VTB_VHU_CONFIG_HDR) {
		m->why = "config payload shorter than its header";
		return -VTB_EINVAL;
	}
	vtb_memcpy(&c, m->pl, VTB_VHU_CONFIG_HDR);
	if (c.size > VTB_VHU_MAX_CONFIG || m->size != VTB_VHU_CONFIG_HDR + c.size ||
	    !vtb_range_ok(c.offset, c.size, VTB_VHU_MAX_CONFIG)) {
		m->why = "config size or offset out of range";
		return -VTB_EINVAL;
	}
	if (m->req == VTB_VHU_SET_CONFIG) {
		m->why = "config space is read-only";
		return -VTB_EPERM;
	}
	uint8_t space[VTB_VHU_MAX_CONFIG];
	vtb_memset(space, 0, sizeof(space));
	uint32_t n = d->h.get_config(d->h.ctx, space, sizeof(space));
	(void)n;	/* bytes past the device's own read as 0 */
	vtb_memcpy(c.payload, space + c.offset, c.size);
	return send_reply(d, m->req, &c, VTB_VHU_CONFIG_HDR + c.size);
}

static void reset_rings(struct vtb_vhu_dev *d)
{
	bool enabled = !negotiated(d, VTB_VHU_F_PROTOCOL_FEATURES);
	for (unsigned i = 0; i < d->queues; i++)
		q_forget(d, i, enabled);
}

static int dispatch(struct vtb_vhu_dev *d, struct msgctx *m, const int *fds, unsigned nfds)
{
	switch (m->req) {
	case VTB_VHU_GET_FEATURES:
		return reply_u64(d, m->req, d->offered);
	case VTB_VHU_SET_FEATURES:
		return h_set_features(d, m);
	case VTB_VHU_GET_PROTOCOL_FEATURES:
		return reply_u64(d, m->req, d->pf_offered);
	case VTB_VHU_SET_PROTOCOL_FEATURES:
		return h_set_protocol_features(d, m);
	case VTB_VHU_GET_QUEUE_NUM:
		return reply_u64(d, m->req, d->queues);
	case VTB_VHU_SET_OWNER:
		return 0;
	case VTB_VHU_RESET_OWNER:
		reset_rings(d);
		d->acked = 0;
		return 0;
	case VTB_VHU_RESET_DEVICE:
		if (!pf_negotiated(d, VTB_VHU_PF_RESET_DEVICE)) {
			m->why = "RESET_DEVICE without its protocol feature";
			return -VTB_ENOTSUP;
		}
		reset_rings(d);
		return 0;
	case VTB_VHU_SET_MEM_TABLE:
		return set_mem_table(d, m->pl, m->size, fds, nfds, &m->why);
	case VTB_VHU_SET_VRING_NUM:
	case VTB_VHU_SET_VRING_BASE:
	case VTB_VHU_GET_VRING_BASE:
	case VTB_VHU_SET_VRING_ENABLE:
		return h_vring_state(d, m);
	case VTB_VHU_SET_VRING_ADDR:
		return h_vring_addr(d, m);
	case VTB_VHU_SET_VRING_KICK:
	case VTB_VHU_SET_VRING_CALL:
	case VTB_VHU_SET_VRING_ERR:
		return h_vring_fd(d, m, fds, nfds);
	case VTB_VHU_GET_CONFIG:
	case VTB_VHU_SET_CONFIG:
		if (!pf_negotiated(d, VTB_VHU_PF_CONFIG)) {
			m->why = "config access without its protocol feature";
			return -VTB_ENOTSUP;
		}
		return h_config(d, m);
	default:
		m->why = "request not implemented";
		return -VTB_ENOTSUP;
	}
}

static void close_all(struct vtb_vhu_dev *d, const int *fds, unsigned nfds)
{
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			d->h.close_fd(d->h.ctx, fds[i]);
}

int vtb_vhu_dev_handle(struct vtb_vhu_dev *d, const void *msg, uint32_t len,
		       const int *fds, unsigned nfds, bool *close)
{
	struct vtb_vhu_hdr h;
	struct msgctx m = { 0 };
	int e;
	*close = false;
	if (len < sizeof(h)) {
		close_all(d, fds, nfds);
		d->h.log(d->h.ctx, 0, "message shorter than its header");
		d->refused++;
		*close = true;
		return -VTB_EPROTO;
	}
	vtb_memcpy(&h, msg, sizeof(h));
	m.req = h.request;
	m.pl = (const uint8_t *)msg + sizeof(h);
	m.size = len - (uint32_t)sizeof(h);
	if (h.size != m.size || (h.flags & VTB_VHU_VERSION_MASK) != VTB_VHU_VERSION ||
	    (h.flags & VTB_VHU_FLAG_REPLY)) {
		close_all(d, fds, nfds);
		d->h.log(d->h.ctx, h.request, "bad header (size, version or reply flag)");
		d->refused++;
		*close = true;
		return -VTB_EPROTO;
	}
	int want = payload_size(m.req);
	if (want >= 0 && m.size != (uint32_t)want) {
		m.why = "payload size does not match the request";
		e = -VTB_EINVAL;
		goto refuse_fds;
	}
	if (m.req != VTB_VHU_SET_MEM_TABLE && want >= 0 && nfds != fds_wanted(m.req, m.pl)) {
		m.why = nfds > fds_wanted(m.req, m.pl) ? "more fds than the request carries"
						      : "an fd the request needs is missing";
		e = -VTB_EINVAL;
		goto refuse_fds;
	}
	if (want < 0 && m.req != VTB_VHU_SET_MEM_TABLE && nfds) {
		m.why = "fds with a request that carries none";
		e = -VTB_EINVAL;
		goto refuse_fds;
	}
	e = dispatch(d, &m, fds, nfds);
	/* SET_MEM_TABLE's fds are mapped (or refused): closed either way. */
	if (m.req == VTB_VHU_SET_MEM_TABLE)
		close_all(d, fds, nfds);
	/* A ring's fd was kept or closed where it was handled; others carry none. */
	goto answer;
refuse_fds:
	close_all(d, fds, nfds);
answer:
	if (e) {
		d->refused++;
		d->h.log(d->h.ctx, m.req, m.why ? m.why : "refused");
		if (has_reply(m.req)) {
			*close = true;	/* the front-end waits for an answer we cannot give */
			return e;
		}
	}
	if (!has_reply(m.req) && (h.flags & VTB_VHU_FLAG_NEED_REPLY) && pf_negotiated(d, VTB_VHU_PF_REPLY_ACK))
		if (reply_u64(d, m.req, e ? 1 : 0))
			*close = true;
	return e;
}

void vtb_vhu_dev_disconnect(struct vtb_vhu_dev *d)
{
	for (unsigned i = 0; i < d->queues; i++)
		q_forget(d, i, false);
	regions_unmap(d, d->reg, d->nregions);
	d->nregions = 0;
	vtb_memmap_init(d->map, VTB_VHU_MAX_REGIONS);
	d->acked = 0;
	d->pf_acked = 0;
}

struct vtb_vqdev *vtb_vhu_dev_vq(struct vtb_vhu_dev *d, unsigned q)
{
	return q < d->queues && d->q[q].vq_ok ? d->q[q].vq : NULL;
}

int vtb_vhu_dev_kickfd(const struct vtb_vhu_dev *d, unsigned q)
{
	return q < d->queues ? d->q[q].kick : -1;
}

int vtb_vhu_dev_callfd(const struct vtb_vhu_dev *d, unsigned q)
{
	return q < d->queues ? d->q[q].call : -1;
}

int vtb_vhu_dev_errfd(const struct vtb_vhu_dev *d, unsigned q)
{
	return q < d->queues ? d->q[q].err : -1;
}

const struct vtb_memmap *vtb_vhu_dev_memmap(const struct vtb_vhu_dev *d)
{
	return d->map;
}

uint64_t vtb_vhu_dev_features(const struct vtb_vhu_dev *d)
{
	return d->acked;
}

unsigned vtb_vhu_dev_queues(const struct vtb_vhu_dev *d)
{
	return d->queues;
}

uint64_t vtb_vhu_dev_refused(const struct vtb_vhu_dev *d)
{
	return d->refused;
}
