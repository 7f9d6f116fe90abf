/* Split and packed virtqueues (virtio 1.2 §2.7, §2.8), driver side and
 * device side.  Freestanding: state lives in caller memory (_memsize() +
 * _init()).  The ring lives in memory both sides reach; each side passes
 * its own pointers to its areas.  The device side treats everything in the ring as
 * hostile: each shared field is read once, validated, and a violation
 * marks the queue broken (sticky) and returns a negative errno. */
#ifndef VTB_VIRTQ_H
#define VTB_VIRTQ_H

#include "vtb_virtio.h"

/* Bytes of ring memory for a queue of num entries, laid out as in §2.7:
 * descriptor table (align 16), avail ring (align 2), used ring (align 4). */
size_t vtb_vring_bytes(uint16_t num);
/* Packed layout: descriptor ring, then driver and device event suppression. */
size_t vtb_pvring_bytes(uint16_t num);
static inline size_t vtb_ring_bytes(uint16_t num, bool packed)
{
	return packed ? vtb_pvring_bytes(num) : vtb_vring_bytes(num);
}
size_t vtb_vring_avail_off(uint16_t num);
size_t vtb_vring_used_off(uint16_t num);
/* A queue's three areas (§2.6): the descriptor area, the driver area
 * (split: the avail ring; packed: the driver's event suppression) and the
 * device area (split: the used ring; packed: the device's event
 * suppression).  Their sizes, with the event index fields included, their
 * alignment (§2.7: 16, 2, 4; §2.8: 16, 4, 4), and where each sits in the
 * one allocation of vtb_ring_bytes() (the driver side's layout here, as
 * Linux's vring_init with align 4; a device takes each area's address on
 * its own). */
size_t vtb_ring_desc_bytes(uint16_t num);
size_t vtb_ring_driver_bytes(uint16_t num, bool packed);
size_t vtb_ring_device_bytes(uint16_t num, bool packed);
#define VTB_RING_DESC_ALIGN 16u
static inline size_t vtb_ring_driver_align(bool packed) { return packed ? 4 : 2; }
#define VTB_RING_DEVICE_ALIGN 4u
size_t vtb_ring_driver_off(uint16_t num, bool packed);
size_t vtb_ring_device_off(uint16_t num, bool packed);
static inline bool vtb_vq_num_ok(uint32_t num)
{
	return num >= 1 && num <= VTB_VQ_MAX_SIZE && (num & (num - 1)) == 0;
}

/* ---------------------------------------------------------------- driver */
struct vtb_sg {			/* one buffer in the driver's address space */
	uint64_t addr;
	uint32_t len;
};

struct vtb_vqd;

struct vtb_vqd_params {
	uint16_t num;
	/* The driver's pointer to vtb_ring_bytes(num, packed), the areas laid
	 * out as vtb_ring_*_off() say; or NULL, and each area on its own
	 * (aligned and sized as the device's, vtb_vqdev_params). */
	void *ring;
	void *desc, *avail, *used;
	bool event_idx;		/* VIRTIO_F_EVENT_IDX negotiated */
	bool packed;		/* VIRTIO_F_RING_PACKED: the §2.8 layout */
	/* Optional indirect tables: num tables of indirect_max entries each,
	 * in memory the device reaches at indirect_addr. */
	void *indirect;
	uint64_t indirect_addr;
	uint16_t indirect_max;
	/* Optional: the device address of one filled table, per request (a
	 * driver mapping each table as it adds it, as Linux's vring_map_single
	 * does).  Called after the table is written and before anything the
	 * device can see; nonzero aborts the add, nothing changed.  NULL: the
	 * table sits at its fixed place in indirect_addr. */
	int (*map_indirect)(void *ctx, void *token, const void *tbl, uint32_t len, uint64_t *addr);
	void *map_ctx;
	/* Split: publish avail->idx once per kick_prepare instead of per add,
	 * as DPDK's virtio PMD does per burst: the device then pulls the index
	 * line once per batch, not once per buffer. */
	bool defer_avail;
};

size_t vtb_vqd_memsize(uint16_t num);
/* Zeroes the ring and returns the queue placed at mem, or NULL on bad
 * parameters. */
struct vtb_vqd *vtb_vqd_init(void *mem, const struct vtb_vqd_params *p);
/* Adds a chain: out[0..nout) device-readable, then in[0..nin) device-writable.
 * token must be non-NULL; use_indirect puts the chain in an indirect table.
 * -ENOSPC when descriptors are exhausted. */
int vtb_vqd_add(struct vtb_vqd *vq, const struct vtb_sg *sg, unsigned nout,
		unsigned nin, void *token, bool use_indirect);
/* Makes what was added visible to the device (with defer_avail, nothing
 * is visible before this), then: true if the device asked to be notified
 * of it (event-idx or flags); false means the notification is suppressed. */
bool vtb_vqd_kick_prepare(struct vtb_vqd *vq);
/* Next completed buffer: returns its token and stores the used length, or
 * NULL when none.  A bad used entry breaks the queue (see vtb_vqd_broken). */
void *vtb_vqd_get_used(struct vtb_vqd *vq, uint32_t *len);
/* Ask for interrupts again; returns true if used entries are already
 * pending (the caller must not sleep). */
bool vtb_vqd_enable_cb(struct vtb_vqd *vq);
void vtb_vqd_disable_cb(struct vtb_vqd *vq);
unsigned vtb_vqd_num_free(const struct vtb_vqd *vq);
bool vtb_vqd_broken(const struct vtb_vqd *vq);
uint16_t vtb_vqd_num(const struct vtb_vqd *vq);

/* ---------------------------------------------------------------- device */
struct vtb_seg {		/* one validated buffer of a chain */
	uint64_t addr;
	uint32_t len;
	bool write;		/* device-writable */
};

struct vtb_chain {
	uint16_t head;
	uint16_t nseg;
	uint16_t nout;		/* segs [0, nout) readable, [nout, nseg) writable */
	uint32_t out_bytes;
	uint32_t in_bytes;
	struct vtb_seg *seg;	/* caller's array of max_seg entries */
	uint16_t max_seg;
};

/* Resolves an indirect table address to a pointer the device may read, or
 * NULL if the device may not touch [addr, addr+len). */
typedef const void *(*vtb_xlate_fn)(void *ctx, uint64_t addr, uint32_t len);

struct vtb_vqdev;

struct vtb_vqdev_params {
	uint16_t num;
	/* The device's pointers to the three areas, each on its own (vhost-user
	 * SET_VRING_ADDR gives three addresses); checked for the alignment and
	 * the extent of vtb_ring_*_bytes() (no wrap, no overlap).  Packed: the
	 * device writes used descriptors back into the descriptor area. */
	void *desc;
	const void *avail;	/* driver area */
	void *used;		/* device area */
	bool event_idx;
	bool packed;		/* VIRTIO_F_RING_PACKED */
	bool indirect;		/* VIRTIO_F_INDIRECT_DESC negotiated */
	vtb_xlate_fn xlate;	/* for indirect tables */
	void *xlate_ctx;
	/* Split: publish used->idx once per used_batch pushes and at every
	 * need_notify instead of per push, as vhost does per burst
	 * (vhost_add_used_n).  0 or 1: per push. */
	uint16_t used_batch;
	/* Where the device starts (vhost-user SET_VRING_BASE).  Without
	 * has_base: a new queue, at index 0 with the wrap counters set.
	 * avail_base: the next available entry to consume; split: a
	 * free-running 16-bit index; packed: the descriptor position in bits
	 * 0-14 and the driver's wrap counter in bit 15.  used_base: packed
	 * only, the same layout for the next used position (vhost-user's bits
	 * 16-31).  Split reads the used index from the used ring, as
	 * libvhost-user does: it must be no more than num behind avail_base. */
	bool has_base;
	uint16_t avail_base;
	uint16_t used_base;
};

size_t vtb_vqdev_memsize(uint16_t num);
/* 0, or -EINVAL: num, the areas (alignment, extent, overlap), the base,
 * or indirect without xlate.  What a backend answers SET_VRING_ADDR with. */
int vtb_vqdev_check(const struct vtb_vqdev_params *p);
/* Returns the queue placed at mem, or NULL: vtb_vqdev_check refused p, or
 * (split, has_base) the used ring's index is not within num of avail_base. */
struct vtb_vqdev *vtb_vqdev_init(void *mem, const struct vtb_vqdev_params *p);
/* The device's position, in vhost-user GET_VRING_BASE's layout: split:
 * the next avail index; packed: avail_base | used_base << 16 as above.
 * Split: writes the used index first (the pushes under used_batch
 * included), so a second instance started at this base (has_base) reads
 * its own index back, serves the next request, and the driver sees every
 * completion.  A request popped and not pushed (vtb_vqdev_inflight) counts
 * as consumed: complete it before stopping. */
uint32_t vtb_vqdev_base(struct vtb_vqdev *vq);
/* 1: a chain was popped into c; 0: nothing available; <0: broken. */
int vtb_vqdev_pop(struct vtb_vqdev *vq, struct vtb_chain *c);
/* Completes head with len bytes written (heads may complete in any order). */
int vtb_vqdev_push(struct vtb_vqdev *vq, uint16_t head, uint32_t len);
/* Makes what was pushed visible to the driver (with used_batch, the last
 * partial batch is not visible before this), then: true if the driver asked for an interrupt
 * for it; false means suppressed. */
bool vtb_vqdev_need_notify(struct vtb_vqdev *vq);
/* Ask for kicks again; returns true if work is already pending. */
bool vtb_vqdev_enable_notify(struct vtb_vqdev *vq);
void vtb_vqdev_disable_notify(struct vtb_vqdev *vq);
bool vtb_vqdev_broken(const struct vtb_vqdev *vq);
/* Requests popped but not yet pushed. */
unsigned vtb_vqdev_inflight(const struct vtb_vqdev *vq);

#endif
