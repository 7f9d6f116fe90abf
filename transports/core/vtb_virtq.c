#include "vtb_virtq.h"

size_t vtb_vring_avail_off(uint16_t num)
{
	return (size_t)num * sizeof(struct vtb_vring_desc);
}

size_t vtb_vring_used_off(uint16_t num)
{
	/* avail: flags, idx, ring[num], used_event */
	return VTB_ALIGN_UP(vtb_vring_avail_off(num) + 6 + 2 * (size_t)num, (size_t)4);
}

size_t vtb_pvring_bytes(uint16_t num)
{
	return (size_t)num * sizeof(struct vtb_pvq_desc) + 2 * sizeof(struct vtb_pvq_event);
}

size_t vtb_vring_bytes(uint16_t num)
{
	/* used: flags, idx, ring[num], avail_event */
	return vtb_vring_used_off(num) + 6 + 8 * (size_t)num;
}

size_t vtb_ring_desc_bytes(uint16_t num)
{
	return (size_t)num * sizeof(struct vtb_vring_desc);
}

size_t vtb_ring_driver_bytes(uint16_t num, bool packed)
{
	return packed ? sizeof(struct vtb_pvq_event) : 6 + 2 * (size_t)num;
}

size_t vtb_ring_device_bytes(uint16_t num, bool packed)
{
	return packed ? sizeof(struct vtb_pvq_event) : 6 + 8 * (size_t)num;
}

size_t vtb_ring_driver_off(uint16_t num, bool packed)
{
	return packed ? vtb_ring_desc_bytes(num) : vtb_vring_avail_off(num);
}

size_t vtb_ring_device_off(uint16_t num, bool packed)
{
	return packed ? vtb_ring_driver_off(num, true) + sizeof(struct vtb_pvq_event) : vtb_vring_used_off(num);
}

/* The three areas, for either side: each aligned as §2.7 / §2.8 say, none
 * wrapping the address space, none overlapping another (the device's
 * writes would land in what it reads as the driver's). */
static int vq_areas_check(uint16_t num, bool packed, const void *desc, const void *drv, const void *dev)
{
	const struct {
		uintptr_t at;
		size_t len, align;
	} a[3] = {
		{ (uintptr_t)desc, vtb_ring_desc_bytes(num), VTB_RING_DESC_ALIGN },
		{ (uintptr_t)drv, vtb_ring_driver_bytes(num, packed), vtb_ring_driver_align(packed) },
		{ (uintptr_t)dev, vtb_ring_device_bytes(num, packed), VTB_RING_DEVICE_ALIGN },
	};
	for (unsigned i = 0; i < 3; i++) {
		if (!a[i].at || a[i].at % a[i].align || a[i].at > UINTPTR_MAX - a[i].len)
			return -VTB_EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (a[i].at < a[j].at + a[j].len && a[j].at < a[i].at + a[i].len)
				return -VTB_EINVAL;
	}
	return 0;
}

/* ================================================================ driver */

struct vtb_vqd_state {
	void *token;		/* NULL: head is free */
	uint16_t ndesc;		/* descriptors taken from the free list */
};

struct vtb_vqd {
	uint16_t num;
	uint16_t free_head;
	/* split: the last free descriptor.  Completions join the list at
	 * its tail, so with chains completed in order the heads come round in
	 * ring order, each lap with the same descriptor and avail entry
	 * contents as the last: VTB_SET_IF_CHANGED then writes neither. */
	uint16_t free_tail;
	uint16_t num_free;
	uint16_t avail_idx;	/* private shadow; the shared one is write-only */
	uint16_t kicked_idx;	/* avail_idx at the last kick decision */
	uint16_t last_used;
	uint16_t used_seen;	/* used->idx as last read and validated */
	bool event_idx;
	bool defer_avail;
	bool broken;
	bool packed;
	/* packed: positions wrap with these counters (§2.8.1) */
	bool avail_wrap, used_wrap, kicked_wrap;
	struct vtb_pvq_desc *pdesc;
	struct vtb_pvq_event *drv_ev;	/* written by us */
	struct vtb_pvq_event *dev_ev;	/* written by the device */
	uint16_t indirect_max;
	struct vtb_vring_desc *desc;
	struct vtb_vring_avail *avail;
	struct vtb_vring_used *used;
	uint16_t *used_event;	/* written by us, read by the device */
	uint16_t *avail_event;	/* written by the device */
	void *indirect;		/* tables of indirect_max entries, by head (split) or buffer id (packed) */
	uint64_t indirect_addr;
	int (*map_indirect)(void *ctx, void *token, const void *tbl, uint32_t len, uint64_t *addr);
	void *map_ctx;
	/* Private free list: the device can scribble on desc[].next, so the
	 * driver never trusts shared memory for its own bookkeeping. */
	uint16_t *next;
	struct vtb_vqd_state *state;
};

size_t vtb_vqd_memsize(uint16_t num)
{
	return VTB_ALIGN_UP(sizeof(struct vtb_vqd), (size_t)16) +
	       VTB_ALIGN_UP((size_t)num * sizeof(uint16_t), (size_t)16) +
	       (size_t)num * sizeof(struct vtb_vqd_state);
}

struct vtb_vqd *vtb_vqd_init(void *mem, const struct vtb_vqd_params *p)
{
	if (!mem || !p || !vtb_vq_num_ok(p->num))
		return NULL;
	if (p->indirect && p->indirect_max == 0)
		return NULL;
	char *ring = p->ring;
	void *desc = ring ? ring : p->desc;
	void *drv = ring ? ring + vtb_ring_driver_off(p->num, p->packed) : p->avail;
	void *dev = ring ? ring + vtb_ring_device_off(p->num, p->packed) : p->used;
	if (vq_areas_check(p->num, p->packed, desc, drv, dev))
		return NULL;
	if (ring) {
		vtb_memset(ring, 0, vtb_ring_bytes(p->num, p->packed));
	} else {
		vtb_memset(desc, 0, vtb_ring_desc_bytes(p->num));
		vtb_memset(drv, 0, vtb_ring_driver_bytes(p->num, p->packed));
		vtb_memset(dev, 0, vtb_ring_device_bytes(p->num, p->packed));
	}
	vtb_memset(mem, 0, vtb_vqd_memsize(p->num));
	struct vtb_vqd *vq = mem;
	char *base = (char *)mem + VTB_ALIGN_UP(sizeof(*vq), (size_t)16);
	vq->next = (uint16_t *)base;
	vq->state = (struct vtb_vqd_state *)(base + VTB_ALIGN_UP((size_t)p->num * 2, (size_t)16));
	vq->num = p->num;
	vq->num_free = p->num;
	vq->event_idx = p->event_idx;
	vq->defer_avail = p->defer_avail;
	vq->indirect = p->indirect;
	vq->indirect_addr = p->indirect_addr;
	vq->indirect_max = p->indirect ? p->indirect_max : 0;
	vq->map_indirect = p->map_indirect;
	vq->map_ctx = p->map_ctx;
	for (uint16_t i = 0; i < p->num; i++)
		vq->next[i] = (uint16_t)(i + 1);	/* split: the free list; packed: free buffer ids */
	if (p->packed) {
		vq->packed = true;
		vq->avail_wrap = vq->used_wrap = vq->kicked_wrap = true;
		vq->pdesc = desc;
		vq->drv_ev = drv;
		vq->dev_ev = dev;
		return vq;
	}
	vq->desc = desc;
	vq->avail = drv;
	vq->used = dev;
	vq->used_event = &vq->avail->ring[p->num];
	vq->avail_event = (uint16_t *)&vq->used->ring[p->num];
	vq->free_tail = (uint16_t)(p->num - 1);
	return vq;
}

/* ---- packed driver (§2.8) ---- */

static uint16_t pflags(bool write, bool more, bool wrap)
{
	return (uint16_t)((write ? VTB_DESC_F_WRITE : 0) | (more ? VTB_DESC_F_NEXT : 0) |
			  (wrap ? VTB_PDESC_F_AVAIL : VTB_PDESC_F_USED));
}

/* Packed indirect (§2.8.7, as Linux's virtqueue_add_indirect_packed): the
 * table is an array of packed descriptors in which only WRITE means
 * anything, and one ring descriptor, carrying the buffer id, points to it.
 * The table is indexed by buffer id, which stays ours until it is used. */
static int pvqd_fill_indirect(struct vtb_vqd *vq, struct vtb_pvq_desc *rd, uint16_t id,
			      const struct vtb_sg *sg, unsigned nout, unsigned total, void *token)
{
	struct vtb_pvq_desc *tbl = (struct vtb_pvq_desc *)vq->indirect + (size_t)id * vq->indirect_max;
	for (unsigned k = 0; k < total; k++) {
		tbl[k].addr = vtb_le64(sg[k].addr);
		tbl[k].len = vtb_le32(sg[k].len);
		tbl[k].id = 0;
		tbl[k].flags = vtb_le16((uint16_t)(k >= nout ? VTB_DESC_F_WRITE : 0));
	}
	uint32_t len = (uint32_t)(total * sizeof(*tbl));
	uint64_t addr = vq->indirect_addr + (uint64_t)id * vq->indirect_max * sizeof(*tbl);
	if (vq->map_indirect) {	/* the table's own DMA mapping, per request */
		int e = vq->map_indirect(vq->map_ctx, token, tbl, len, &addr);
		if (e)
			return e;
	}
	rd->addr = vtb_le64(addr);
	rd->len = vtb_le32(len);
	return 0;
}

static int pvqd_add(struct vtb_vqd *vq, const struct vtb_sg *sg, unsigned nout, unsigned nin, void *token,
		    bool use_indirect)
{
	unsigned total = nout + nin;
	if (use_indirect && (!vq->indirect || total > vq->indirect_max))
		return -VTB_EINVAL;
	unsigned need = use_indirect ? 1 : total;
	if (need > vq->num_free)
		return -VTB_ENOSPC;
	uint16_t id = vq->free_head;
	uint16_t head = vq->avail_idx, pos = head;
	bool wrap = vq->avail_wrap;
	uint16_t head_flags;
	if (use_indirect) {
		/* The ring slot is not the device's until its flags say so, and
		 * the id is taken only once the table is mapped. */
		struct vtb_pvq_desc *d = &vq->pdesc[pos];
		int e = pvqd_fill_indirect(vq, d, id, sg, nout, total, token);
		if (e)
			return e;
		d->id = vtb_le16(id);
		head_flags = (uint16_t)(VTB_DESC_F_INDIRECT | pflags(false, false, wrap));
		if (++pos == vq->num) {
			pos = 0;
			wrap = !wrap;
		}
	} else {
		head_flags = 0;
		for (unsigned k = 0; k < total; k++) {
			struct vtb_pvq_desc *d = &vq->pdesc[pos];
			uint16_t f = pflags(k >= nout, k + 1 < total, wrap);
			d->addr = vtb_le64(sg[k].addr);
			d->len = vtb_le32(sg[k].len);
			d->id = vtb_le16(id);
			if (k == 0)
				head_flags = f;	/* published last, below */
			else
				d->flags = vtb_le16(f);
			if (++pos == vq->num) {
				pos = 0;
				wrap = !wrap;
			}
		}
	}
	vq->free_head = vq->next[id];
	/* The head's flags make the whole chain (and its table) available at
	 * once: everything written above is ordered before it (virtio_wmb). */
	VTB_STORE_RELEASE(vq->pdesc[head].flags, vtb_le16(head_flags));
	vq->avail_idx = pos;
	vq->avail_wrap = wrap;
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->state[id].token = token;
	vq->state[id].ndesc = (uint16_t)need;
	return 0;
}

/* The other side's event suppression structure, read in one 32-bit load
 * (as Linux's virtqueue_kick_prepare_packed reads its snapshot): its flags
 * and off_wrap are then of one moment, and the writer's order (off_wrap
 * first, then flags with a release) cannot be seen torn. */
typedef uint32_t __attribute__((may_alias)) vtb_u32_alias;
static struct vtb_pvq_event pvq_event_read(const struct vtb_pvq_event *ev)
{
	uint32_t v = VTB_READ_ONCE(*(const vtb_u32_alias *)ev);
	struct vtb_pvq_event e;
	vtb_memcpy(&e, &v, sizeof(e));
	e.off_wrap = vtb_le16(e.off_wrap);
	e.flags = vtb_le16(e.flags);
	return e;
}

/* A packed position: descriptor index in bits 0-14, wrap counter in 15
 * (an event off_wrap, a vhost-user base). */
static uint16_t pvq_pos(uint16_t idx, bool wrap)
{
	return (uint16_t)(idx | (wrap ? 0x8000u : 0));
}

/* Enables the peer's notifications: with EVENT_IDX, off_wrap must be
 * visible no later than the flags that make the peer read it
 * (virtqueue_enable_cb_prepare_packed: virtio_wmb between the two). */
static void pvq_event_enable(struct vtb_pvq_event *ev, bool event_idx, uint16_t pos, bool wrap)
{
	if (event_idx) {
		VTB_WRITE_ONCE(ev->off_wrap, vtb_le16(pvq_pos(pos, wrap)));
		VTB_STORE_RELEASE(ev->flags, vtb_le16(VTB_RING_EVENT_FLAGS_DESC));
	} else {
		VTB_WRITE_ONCE(ev->flags, vtb_le16(VTB_RING_EVENT_FLAGS_ENABLE));
	}
}

/* Whether an event at off_wrap lies in (old, new] of the ring positions. */
static bool pvq_need_event(uint16_t off_wrap, bool cur_wrap, uint16_t num, uint16_t new, uint16_t old)
{
	uint16_t event = off_wrap & 0x7fffu;
	bool ewrap = off_wrap >> 15;
	if (ewrap != cur_wrap)
		event = (uint16_t)(event - num);
	return vtb_need_event(event, new, old);
}

/* Whether the peer asked to hear of the positions we moved through since
 * the last decision (*seen, *seen_wrap), up to cur: the driver's kick and
 * the device's interrupt are the same question of the other side's event
 * suppression structure. */
static bool pvq_peer_wants(uint16_t *seen, bool *seen_wrap, uint16_t cur, bool cur_wrap,
			   const struct vtb_pvq_event *peer, uint16_t num)
{
	uint16_t old = *seen;
	bool wrapped = *seen_wrap != cur_wrap;
	*seen = cur;
	*seen_wrap = cur_wrap;
	if (old == cur && !wrapped)
		return false;
	vtb_mb();	/* our descriptors' flags visible before we read the peer's wish */
	struct vtb_pvq_event ev = pvq_event_read(peer);
	if (ev.flags != VTB_RING_EVENT_FLAGS_DESC)
		return ev.flags != VTB_RING_EVENT_FLAGS_DISABLE;
	/* Positions as a continuous count: old may sit one lap behind. */
	if (wrapped)
		old = (uint16_t)(old - num);
	return pvq_need_event(ev.off_wrap, cur_wrap, num, cur, old);
}

static bool pvqd_kick_prepare(struct vtb_vqd *vq)
{
	return pvq_peer_wants(&vq->kicked_idx, &vq->kicked_wrap, vq->avail_idx, vq->avail_wrap, vq->dev_ev, vq->num);
}

static bool pdesc_is_used(const struct vtb_pvq_desc *d, bool wrap, uint16_t *flags_out)
{
	uint16_t f = vtb_le16(VTB_LOAD_ACQUIRE(d->flags));
	*flags_out = f;
	return !!(f & VTB_PDESC_F_AVAIL) == wrap && !!(f & VTB_PDESC_F_USED) == wrap;
}

static void *pvqd_get_used(struct vtb_vqd *vq, uint32_t *len)
{
	uint16_t f;
	if (!pdesc_is_used(&vq->pdesc[vq->last_used], vq->used_wrap, &f))
		return NULL;
	struct vtb_pvq_desc *d = &vq->pdesc[vq->last_used];
	uint16_t id = vtb_le16(VTB_READ_ONCE(d->id));
	uint32_t ulen = vtb_le32(VTB_READ_ONCE(d->len));
	if (id >= vq->num || !vq->state[id].token) {
		vq->broken = true;
		return NULL;
	}
	uint16_t n = vq->state[id].ndesc;
	uint32_t next = (uint32_t)vq->last_used + n;
	if (next >= vq->num) {
		next -= vq->num;
		vq->used_wrap = !vq->used_wrap;
	}
	vq->last_used = (uint16_t)next;
	vq->num_free = (uint16_t)(vq->num_free + n);
	void *token = vq->state[id].token;
	vq->state[id].token = NULL;
	vq->next[id] = vq->free_head;
	vq->free_head = id;
	if (len)
		*len = ulen;
	return token;
}

static bool pvqd_enable_cb(struct vtb_vqd *vq)
{
	uint16_t f;
	pvq_event_enable(vq->drv_ev, vq->event_idx, vq->last_used, vq->used_wrap);
	vtb_mb();	/* enabled before we look for work (virtqueue_poll_packed) */
	return pdesc_is_used(&vq->pdesc[vq->last_used], vq->used_wrap, &f);
}

static void vqd_fill(struct vtb_vring_desc *d, const struct vtb_sg *sg, bool write,
		     bool more, uint16_t next)
{
	VTB_SET_IF_CHANGED(d->addr, vtb_le64(sg->addr));
	VTB_SET_IF_CHANGED(d->len, vtb_le32(sg->len));
	VTB_SET_IF_CHANGED(d->flags, vtb_le16((uint16_t)((write ? VTB_DESC_F_WRITE : 0) | (more ? VTB_DESC_F_NEXT : 0))));
	VTB_SET_IF_CHANGED(d->next, vtb_le16(more ? next : 0));
}

int vtb_vqd_add(struct vtb_vqd *vq, const struct vtb_sg *sg, unsigned nout,
		unsigned nin, void *token, bool use_indirect)
{
	unsigned total = nout + nin;

	if (vq->broken)
		return -VTB_EIO;
	if (!token || total == 0 || total > vq->num)
		return -VTB_EINVAL;
	if (vq->packed)
		return pvqd_add(vq, sg, nout, nin, token, use_indirect);
	if (use_indirect && (!vq->indirect || total > vq->indirect_max))
		return -VTB_EINVAL;
	unsigned need = use_indirect ? 1 : total;
	if (need > vq->num_free)
		return -VTB_ENOSPC;

	uint16_t head = vq->free_head;
	if (use_indirect) {
		struct vtb_vring_desc *tbl = (struct vtb_vring_desc *)vq->indirect + (size_t)head * vq->indirect_max;
		for (unsigned i = 0; i < total; i++)
			vqd_fill(&tbl[i], &sg[i], i >= nout, i + 1 < total, (uint16_t)(i + 1));
		struct vtb_vring_desc *d = &vq->desc[head];
		uint32_t len = (uint32_t)(total * sizeof(*d));
		uint64_t addr = vq->indirect_addr + (uint64_t)head * vq->indirect_max * sizeof(*d);
		if (vq->map_indirect) {
			int e = vq->map_indirect(vq->map_ctx, token, tbl, len, &addr);
			if (e)
				return e;
		}
		d->addr = vtb_le64(addr);
		d->len = vtb_le32(len);
		d->flags = vtb_le16(VTB_DESC_F_INDIRECT);
		d->next = 0;
		vq->free_head = vq->next[head];
	} else {
		uint16_t i = head, prev = head;
		for (unsigned k = 0; k < total; k++) {
			prev = i;
			i = vq->next[i];
			vqd_fill(&vq->desc[prev], &sg[k], k >= nout, k + 1 < total, i);
		}
		vq->free_head = i;
	}
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->state[head].token = token;
	vq->state[head].ndesc = (uint16_t)need;

	VTB_SET_IF_CHANGED(vq->avail->ring[vq->avail_idx & (vq->num - 1)], vtb_le16(head));
	vq->avail_idx++;
	/* Descriptors and ring entry before the index (virtio_wmb). */
	if (!vq->defer_avail)
		VTB_STORE_RELEASE(vq->avail->idx, vtb_le16(vq->avail_idx));
	return 0;
}

bool vtb_vqd_kick_prepare(struct vtb_vqd *vq)
{
	if (vq->packed)
		return pvqd_kick_prepare(vq);
	uint16_t old = vq->kicked_idx, new = vq->avail_idx;
	bool need;

	vq->kicked_idx = new;
	if (old == new)
		return false;
	if (vq->defer_avail)	/* the whole batch at once (virtio_wmb) */
		VTB_STORE_RELEASE(vq->avail->idx, vtb_le16(new));
	vtb_mb();	/* avail idx visible before we read the device's wish */
	if (vq->event_idx)
		need = vtb_need_event(vtb_le16(VTB_READ_ONCE(*vq->avail_event)), new, old);
	else
		need = !(vtb_le16(VTB_READ_ONCE(vq->used->flags)) & VTB_USED_F_NO_NOTIFY);
	return need;
}

void *vtb_vqd_get_used(struct vtb_vqd *vq, uint32_t *len)
{
	if (vq->broken)
		return NULL;
	if (vq->packed)
		return pvqd_get_used(vq, len);
	/* The device's index is read (and its cache line pulled over) only
	 * once what it last said has been consumed. */
	if (vq->used_seen == vq->last_used) {
		uint16_t used_idx = vtb_le16(VTB_LOAD_ACQUIRE(vq->used->idx));
		if (used_idx == vq->last_used)
			return NULL;
		if ((uint16_t)(used_idx - vq->last_used) > vq->num) {
			vq->broken = true;
			return NULL;
		}
		vq->used_seen = used_idx;
	}
	struct vtb_vring_used_elem *e = &vq->used->ring[vq->last_used & (vq->num - 1)];
	uint32_t id = vtb_le32(VTB_READ_ONCE(e->id));
	uint32_t ulen = vtb_le32(VTB_READ_ONCE(e->len));
	if (id >= vq->num || !vq->state[id].token) {
		vq->broken = true;
		return NULL;
	}
	vq->last_used++;
	void *token = vq->state[id].token;
	/* Return descriptors from our private record, not from desc[].next. */
	uint16_t n = vq->state[id].ndesc, last = (uint16_t)id;
	for (uint16_t k = 1; k < n; k++)
		last = vq->next[last];
	if (vq->num_free)	/* to the tail: heads come round in ring order */
		vq->next[vq->free_tail] = (uint16_t)id;
	else
		vq->free_head = (uint16_t)id;
	vq->free_tail = last;
	vq->num_free = (uint16_t)(vq->num_free + n);
	vq->state[id].token = NULL;
	if (len)
		*len = ulen;
	return token;
}

bool vtb_vqd_enable_cb(struct vtb_vqd *vq)
{
	if (vq->packed)
		return pvqd_enable_cb(vq);
	if (vq->event_idx)
		VTB_WRITE_ONCE(*vq->used_event, vtb_le16(vq->last_used));
	else
		VTB_WRITE_ONCE(vq->avail->flags, 0);
	vtb_mb();	/* publish before re-reading used idx */
	return vtb_le16(VTB_READ_ONCE(vq->used->idx)) != vq->last_used;
}

void vtb_vqd_disable_cb(struct vtb_vqd *vq)
{
	/* With event-idx a stale used_event already suppresses; the flag is
	 * what a driver without it has. */
	if (vq->packed)
		VTB_WRITE_ONCE(vq->drv_ev->flags, vtb_le16(VTB_RING_EVENT_FLAGS_DISABLE));
	else if (!vq->event_idx)
		VTB_WRITE_ONCE(vq->avail->flags, vtb_le16(VTB_AVAIL_F_NO_INTERRUPT));
}

unsigned vtb_vqd_num_free(const struct vtb_vqd *vq) { return vq->num_free; }
bool vtb_vqd_broken(const struct vtb_vqd *vq) { return vq->broken; }
uint16_t vtb_vqd_num(const struct vtb_vqd *vq) { return vq->num; }

/* ================================================================ device */

struct vtb_vqdev {
	uint16_t num;
	uint16_t last_avail;
	uint16_t avail_seen;	/* avail->idx as last read and validated */
	uint16_t used_idx;
	uint16_t used_pub;	/* used_idx as last published */
	uint16_t used_batch;
	uint16_t signalled_used;
	uint16_t inflight;
	bool event_idx;
	bool indirect;
	bool broken;
	bool packed;
	bool avail_wrap, used_wrap, signalled_wrap;
	const struct vtb_pvq_desc *pdesc;	/* the device writes used entries back in place */
	const struct vtb_pvq_event *drv_ev;
	struct vtb_pvq_event *dev_ev;
	uint16_t *chain_len;	/* packed: descriptors of each buffer id in flight */
	const struct vtb_vring_desc *desc;
	const struct vtb_vring_avail *avail;
	struct vtb_vring_used *used;
	const uint16_t *used_event;
	uint16_t *avail_event;
	vtb_xlate_fn xlate;
	void *xlate_ctx;
	uint8_t *busy;		/* bitmap: head popped and not yet pushed */
};

size_t vtb_vqdev_memsize(uint16_t num)
{
	return VTB_ALIGN_UP(sizeof(struct vtb_vqdev) + ((size_t)num + 7) / 8, (size_t)2) + (size_t)num * 2;
}

/* The used elements written so far become the driver's: they before the
 * index (virtio_wmb). */
static void vqdev_publish_used(struct vtb_vqdev *vq)
{
	VTB_STORE_RELEASE(vq->used->idx, vtb_le16(vq->used_idx));
	vq->used_pub = vq->used_idx;
}

/* A packed base: both positions inside the ring, and the used one at most
 * a ring's worth of descriptors behind the avail one. */
static bool pvq_base_ok(uint16_t num, uint16_t avail, uint16_t used)
{
	uint16_t a = avail & 0x7fffu, u = used & 0x7fffu;
	if (a >= num || u >= num)
		return false;
	uint32_t behind = (avail >> 15) == (used >> 15) ? (uint32_t)a - u : (uint32_t)a + num - u;
	return behind <= num;	/* a - u wrapped (used ahead) is huge */
}

int vtb_vqdev_check(const struct vtb_vqdev_params *p)
{
	if (!p || !vtb_vq_num_ok(p->num) || (p->indirect && !p->xlate) ||
	    vq_areas_check(p->num, p->packed, p->desc, p->avail, p->used))
		return -VTB_EINVAL;
	if (p->has_base && p->packed && !pvq_base_ok(p->num, p->avail_base, p->used_base))
		return -VTB_EINVAL;
	return 0;
}

struct vtb_vqdev *vtb_vqdev_init(void *mem, const struct vtb_vqdev_params *p)
{
	if (!mem || vtb_vqdev_check(p))
		return NULL;
	vtb_memset(mem, 0, vtb_vqdev_memsize(p->num));
	struct vtb_vqdev *vq = mem;
	vq->busy = (uint8_t *)(vq + 1);
	vq->num = p->num;
	vq->event_idx = p->event_idx;
	vq->indirect = p->indirect;
	vq->used_batch = p->used_batch ? p->used_batch : 1;
	vq->xlate = p->xlate;
	vq->xlate_ctx = p->xlate_ctx;
	if (p->packed) {
		uint16_t avail = p->has_base ? p->avail_base : pvq_pos(0, true);
		uint16_t used = p->has_base ? p->used_base : pvq_pos(0, true);
		vq->packed = true;
		vq->last_avail = avail & 0x7fffu;
		vq->avail_wrap = avail >> 15;
		vq->used_idx = vq->signalled_used = used & 0x7fffu;
		vq->used_wrap = vq->signalled_wrap = used >> 15;
		vq->chain_len = (uint16_t *)((char *)vq + VTB_ALIGN_UP(sizeof(*vq) + ((size_t)p->num + 7) / 8, (size_t)2));
		vq->pdesc = p->desc;
		vq->drv_ev = p->avail;
		vq->dev_ev = p->used;
		return vq;
	}
	vq->desc = p->desc;
	vq->avail = p->avail;
	vq->used = p->used;
	vq->used_event = &vq->avail->ring[p->num];
	vq->avail_event = (uint16_t *)&vq->used->ring[p->num];
	if (p->has_base) {
		/* The used index is where the last instance left it; the ring
		 * is the driver's to scribble on, so it is judged like any
		 * index it offers. */
		uint16_t used = vtb_le16(VTB_READ_ONCE(vq->used->idx));
		if ((uint16_t)(p->avail_base - used) > p->num)
			return NULL;
		vq->last_avail = vq->avail_seen = p->avail_base;
		vq->used_idx = vq->used_pub = vq->signalled_used = used;
	}
	return vq;
}

uint32_t vtb_vqdev_base(struct vtb_vqdev *vq)
{
	if (vq->packed)
		return pvq_pos(vq->last_avail, vq->avail_wrap) | (uint32_t)pvq_pos(vq->used_idx, vq->used_wrap) << 16;
	vqdev_publish_used(vq);	/* even if unchanged: the driver may have scribbled on it */
	return vq->last_avail;
}

static int vqdev_fail(struct vtb_vqdev *vq, int err)
{
	vq->broken = true;
	return err;
}

/* Reads one descriptor from shared memory exactly once, into a local the
 * caller validates and uses from then on.  A byte copy, because an
 * indirect table sits wherever the driver put it: nothing makes it 8-byte
 * aligned (found by fuzz_virtq). */
static struct vtb_vring_desc vqdev_read_desc(const struct vtb_vring_desc *d)
{
	struct vtb_vring_desc l;
	vtb_memcpy(&l, (const void *)d, sizeof(l));
	VTB_OPAQUE(l);	/* the copy is the one fetch: no re-reads of *d below */
	l.addr = vtb_le64(l.addr);
	l.len = vtb_le32(l.len);
	l.flags = vtb_le16(l.flags);
	l.next = vtb_le16(l.next);
	return l;
}

static int vqdev_add_seg(struct vtb_vqdev *vq, struct vtb_chain *c, const struct vtb_vring_desc *d)
{
	bool write = d->flags & VTB_DESC_F_WRITE;
	if (c->nseg >= c->max_seg)
		return vqdev_fail(vq, -VTB_E2BIG);
	/* §2.7.4.2: device-readable descriptors come before writable ones. */
	if (!write && c->nseg != c->nout)
		return vqdev_fail(vq, -VTB_EPROTO);
	uint32_t *acc = write ? &c->in_bytes : &c->out_bytes;
	if (d->len > UINT32_MAX - *acc)
		return vqdev_fail(vq, -VTB_ERANGE);
	*acc += d->len;
	c->seg[c->nseg].addr = d->addr;
	c->seg[c->nseg].len = d->len;
	c->seg[c->nseg].write = write;
	c->nseg++;
	if (!write)
		c->nout++;
	return 0;
}

/* An indirect table's entries, split or packed (both 16 bytes): refused
 * without the feature, its length judged (whole entries, at least one, at
 * most a queue's worth) and its address reached, for the pop in progress. */
_Static_assert(sizeof(struct vtb_vring_desc) == sizeof(struct vtb_pvq_desc), "one table entry size");
static int vqdev_table(struct vtb_vqdev *vq, const struct vtb_vring_desc *d, uint32_t *n, const void **tbl)
{
	if (!vq->indirect)
		return vqdev_fail(vq, -VTB_EPROTO);
	if (d->len == 0 || d->len % sizeof(struct vtb_vring_desc) ||
	    d->len / sizeof(struct vtb_vring_desc) > VTB_VQ_MAX_SIZE)
		return vqdev_fail(vq, -VTB_EINVAL);
	*n = d->len / sizeof(struct vtb_vring_desc);
	if (!(*tbl = vq->xlate(vq->xlate_ctx, d->addr, d->len)))
		return vqdev_fail(vq, -VTB_EFAULT);
	return 0;
}

static int vqdev_walk_indirect(struct vtb_vqdev *vq, struct vtb_chain *c, const struct vtb_vring_desc *d)
{
	if (d->flags & VTB_DESC_F_NEXT)
		return vqdev_fail(vq, -VTB_EPROTO);
	uint32_t n;
	const void *t;
	int e = vqdev_table(vq, d, &n, &t);
	if (e)
		return e;
	const struct vtb_vring_desc *tbl = t;
	uint32_t i = 0;
	for (uint32_t count = 0;; count++) {
		if (count >= n)	/* more hops than entries: a loop */
			return vqdev_fail(vq, -VTB_ELOOP);
		struct vtb_vring_desc l = vqdev_read_desc(&tbl[i]);
		if (l.flags & VTB_DESC_F_INDIRECT)	/* no nesting (§2.7.5.3.1) */
			return vqdev_fail(vq, -VTB_EPROTO);
		int r = vqdev_add_seg(vq, c, &l);
		if (r)
			return r;
		if (!(l.flags & VTB_DESC_F_NEXT))
			return 0;
		if (l.next >= n)
			return vqdev_fail(vq, -VTB_ERANGE);
		i = l.next;
	}
}

/* ---- packed device (§2.8) ---- */

/* A packed indirect table (§2.8.7): len / 16 packed descriptors in a row,
 * no next links.  Only WRITE is valid in an entry; the other flags and the
 * buffer id are reserved and ignored by the device, as the spec says (so a
 * NEXT or INDIRECT in a table entry changes nothing).  The WRITE flag of
 * the ring descriptor that points to the table is ignored too. */
static int pvqdev_walk_indirect(struct vtb_vqdev *vq, struct vtb_chain *c, const struct vtb_vring_desc *d)
{
	uint32_t n;
	const void *t;
	int e = vqdev_table(vq, d, &n, &t);
	if (e)
		return e;
	const struct vtb_pvq_desc *tbl = t;
	for (uint32_t i = 0; i < n; i++) {
		struct vtb_pvq_desc e;
		vtb_memcpy(&e, (const void *)&tbl[i], sizeof(e));	/* one fetch; any alignment */
		VTB_OPAQUE(e);
		struct vtb_vring_desc l = {
			.addr = vtb_le64(e.addr), .len = vtb_le32(e.len),
			.flags = (uint16_t)(vtb_le16(e.flags) & VTB_DESC_F_WRITE),
		};
		int r = vqdev_add_seg(vq, c, &l);
		if (r)
			return r;
	}
	return 0;
}

static bool pdesc_avail(uint16_t f, bool wrap)
{
	return !!(f & VTB_PDESC_F_AVAIL) == wrap && !!(f & VTB_PDESC_F_USED) != wrap;
}

static int pvqdev_pop(struct vtb_vqdev *vq, struct vtb_chain *c)
{
	uint16_t pos = vq->last_avail;
	bool wrap = vq->avail_wrap;
	if (!pdesc_avail(vtb_le16(VTB_LOAD_ACQUIRE(vq->pdesc[pos].flags)), wrap))
		return 0;
	c->nseg = c->nout = 0;
	c->out_bytes = c->in_bytes = 0;
	uint16_t id = 0;
	for (uint32_t count = 0;; count++) {
		if (count >= vq->num)
			return vqdev_fail(vq, -VTB_ELOOP);
		const struct vtb_pvq_desc *d = &vq->pdesc[pos];
		struct vtb_vring_desc l;	/* read once, as the split path does */
		uint16_t f = vtb_le16(VTB_READ_ONCE(d->flags));
		l.addr = vtb_le64(VTB_READ_ONCE(d->addr));
		l.len = vtb_le32(VTB_READ_ONCE(d->len));
		id = vtb_le16(VTB_READ_ONCE(d->id));
		l.flags = f & (VTB_DESC_F_NEXT | VTB_DESC_F_WRITE | VTB_DESC_F_INDIRECT);
		/* Every descriptor of the chain must carry this lap's avail bits. */
		if (!pdesc_avail(f, wrap))
			return vqdev_fail(vq, -VTB_EPROTO);
		int r;
		if (l.flags & VTB_DESC_F_INDIRECT) {
			/* §2.8.19: the driver MUST NOT link an indirect descriptor
			 * into a list with NEXT, so it stands alone: refused
			 * mid-list or with NEXT of its own. */
			if (count != 0 || (l.flags & VTB_DESC_F_NEXT))
				return vqdev_fail(vq, -VTB_EPROTO);
			r = pvqdev_walk_indirect(vq, c, &l);
		} else {
			r = vqdev_add_seg(vq, c, &l);
		}
		if (r)
			return r;
		if (++pos == vq->num) {
			pos = 0;
			wrap = !wrap;
		}
		if (!(f & VTB_DESC_F_NEXT)) {
			count++;
			if (id >= vq->num || (vq->busy[id / 8] & (1u << (id % 8))))
				return vqdev_fail(vq, -VTB_EPROTO);
			vq->chain_len[id] = (uint16_t)count;
			break;
		}
	}
	vq->busy[id / 8] |= (uint8_t)(1u << (id % 8));
	vq->inflight++;
	vq->last_avail = pos;
	vq->avail_wrap = wrap;
	c->head = id;
	return 1;
}

static int pvqdev_push(struct vtb_vqdev *vq, uint16_t id, uint32_t len)
{
	if (id >= vq->num || !(vq->busy[id / 8] & (1u << (id % 8))))
		return -VTB_EINVAL;
	vq->busy[id / 8] &= (uint8_t)~(1u << (id % 8));
	vq->inflight--;
	struct vtb_pvq_desc *d = (struct vtb_pvq_desc *)&vq->pdesc[vq->used_idx];
	VTB_WRITE_ONCE(d->id, vtb_le16(id));
	VTB_WRITE_ONCE(d->len, vtb_le32(len));
	VTB_STORE_RELEASE(d->flags, vtb_le16((uint16_t)(vq->used_wrap ? VTB_PDESC_F_AVAIL | VTB_PDESC_F_USED : 0)));
	uint32_t next = (uint32_t)vq->used_idx + vq->chain_len[id];
	if (next >= vq->num) {
		next -= vq->num;
		vq->used_wrap = !vq->used_wrap;
	}
	vq->used_idx = (uint16_t)next;
	return 0;
}

static bool pvqdev_need_notify(struct vtb_vqdev *vq)
{
	return pvq_peer_wants(&vq->signalled_used, &vq->signalled_wrap, vq->used_idx, vq->used_wrap, vq->drv_ev,
			      vq->num);
}

static bool pvqdev_enable_notify(struct vtb_vqdev *vq)
{
	pvq_event_enable(vq->dev_ev, vq->event_idx, vq->last_avail, vq->avail_wrap);
	vtb_mb();	/* enabled before we look for work */
	return pdesc_avail(vtb_le16(VTB_READ_ONCE(vq->pdesc[vq->last_avail].flags)), vq->avail_wrap);
}

int vtb_vqdev_pop(struct vtb_vqdev *vq, struct vtb_chain *c)
{
	if (vq->broken)
		return -VTB_EIO;
	if (vq->packed)
		return pvqdev_pop(vq, c);
	/* The driver's index is read once per batch: only when everything it
	 * last offered has been popped.  What was read is validated then and
	 * never re-read. */
	if (vq->avail_seen == vq->last_avail) {
		uint16_t avail_idx = vtb_le16(VTB_LOAD_ACQUIRE(vq->avail->idx));
		if (avail_idx == vq->last_avail)
			return 0;
		if ((uint16_t)(avail_idx - vq->last_avail) > vq->num)
			return vqdev_fail(vq, -VTB_EPROTO);
		vq->avail_seen = avail_idx;
	}
	uint16_t head = vtb_le16(VTB_READ_ONCE(vq->avail->ring[vq->last_avail & (vq->num - 1)]));
	if (head >= vq->num)
		return vqdev_fail(vq, -VTB_ERANGE);
	if (vq->busy[head / 8] & (1u << (head % 8)))	/* offered twice */
		return vqdev_fail(vq, -VTB_EPROTO);

	c->head = head;
	c->nseg = c->nout = 0;
	c->out_bytes = c->in_bytes = 0;
	uint16_t i = head;
	for (uint32_t count = 0;; count++) {
		if (count >= vq->num)
			return vqdev_fail(vq, -VTB_ELOOP);
		struct vtb_vring_desc l = vqdev_read_desc(&vq->desc[i]);
		int r;
		if (l.flags & VTB_DESC_F_INDIRECT) {
			/* §2.7.5.3.2: zero or more normal descriptors, then one
			 * indirect one, which ends the chain (the driver MUST NOT
			 * set NEXT on it: refused in the walk). */
			r = vqdev_walk_indirect(vq, c, &l);
			if (r)
				return r;
			break;
		}
		r = vqdev_add_seg(vq, c, &l);
		if (r)
			return r;
		if (!(l.flags & VTB_DESC_F_NEXT))
			break;
		if (l.next >= vq->num)
			return vqdev_fail(vq, -VTB_ERANGE);
		i = l.next;
	}
	vq->busy[head / 8] |= (uint8_t)(1u << (head % 8));
	vq->inflight++;
	vq->last_avail++;
	return 1;
}

int vtb_vqdev_push(struct vtb_vqdev *vq, uint16_t head, uint32_t len)
{
	if (vq->broken)
		return -VTB_EIO;
	if (vq->packed)
		return pvqdev_push(vq, head, len);
	if (head >= vq->num || !(vq->busy[head / 8] & (1u << (head % 8))))
		return -VTB_EINVAL;	/* our own bug, not the driver's */
	vq->busy[head / 8] &= (uint8_t)~(1u << (head % 8));
	vq->inflight--;
	struct vtb_vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->num - 1)];
	/* The same entry as a lap ago is left as it is: its line stays in the
	 * driver's cache (a driver that scribbled on it gets it rewritten). */
	VTB_SET_IF_CHANGED(e->id, vtb_le32(head));
	VTB_SET_IF_CHANGED(e->len, vtb_le32(len));
	vq->used_idx++;
	if ((uint16_t)(vq->used_idx - vq->used_pub) >= vq->used_batch)
		vqdev_publish_used(vq);
	return 0;
}

bool vtb_vqdev_need_notify(struct vtb_vqdev *vq)
{
	if (vq->packed)
		return pvqdev_need_notify(vq);
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	if (vq->used_pub != new)	/* the last, partial batch */
		vqdev_publish_used(vq);

	vq->signalled_used = new;
	if (old == new)
		return false;
	vtb_mb();	/* used idx visible before we read the driver's wish */
	if (vq->event_idx)
		return vtb_need_event(vtb_le16(VTB_READ_ONCE(*vq->used_event)), new, old);
	return !(vtb_le16(VTB_READ_ONCE(vq->avail->flags)) & VTB_AVAIL_F_NO_INTERRUPT);
}

bool vtb_vqdev_enable_notify(struct vtb_vqdev *vq)
{
	if (vq->packed)
		return pvqdev_enable_notify(vq);
	if (vq->event_idx)
		VTB_WRITE_ONCE(*vq->avail_event, vtb_le16(vq->last_avail));
	else
		VTB_WRITE_ONCE(vq->used->flags, 0);
	vtb_mb();
	return vtb_le16(VTB_READ_ONCE(vq->avail->idx)) != vq->last_avail;
}

void vtb_vqdev_disable_notify(struct vtb_vqdev *vq)
{
	if (vq->packed)
		VTB_WRITE_ONCE(vq->dev_ev->flags, vtb_le16(VTB_RING_EVENT_FLAGS_DISABLE));
	else if (!vq->event_idx)
		VTB_WRITE_ONCE(vq->used->flags, vtb_le16(VTB_USED_F_NO_NOTIFY));
}

bool vtb_vqdev_broken(const struct vtb_vqdev *vq) { return vq->broken; }
unsigned vtb_vqdev_inflight(const struct vtb_vqdev *vq) { return vq->inflight; }
