/* The split-virtqueue transport engine.  shm, swiotlb, grant and viommu
 * differ only in where the rings live, what the FE does to a buffer before
 * and after a request, and how the BE turns a descriptor address into
 * memory it may touch: that is a vtb_vring_policy.  Everything else (the
 * register block handshake, the rings, notifications and their
 * suppression) is here once. */
#ifndef VTB_VRING_H
#define VTB_VRING_H

#include "transport.h"

struct vtb_vfe;
struct vtb_vbe;

/* FE-side record of one request in flight. */
struct vtb_vfe_req {
	void *token;		/* the generator's */
	unsigned nout, nin;
	struct vtb_sg orig[VTB_REQ_MAX_SEG];	/* buffers as the generator gave them */
	uint64_t handle[VTB_REQ_MAX_SEG];	/* policy's per-buffer handle */
	bool ind;		/* its indirect table is mapped (fe_map_indirect) */
	uint64_t ind_handle;	/* policy's handle for the table */
};

/* BE-side record of one popped chain, by head. */
struct vtb_vbe_map {
	void *va;		/* where the BE reaches this buffer */
	uint64_t addr;		/* its device address */
	uint32_t len;
	bool write;
	void *own;		/* policy: memory to release at push */
	size_t own_len;
};

struct vtb_vbe_slot {
	unsigned n;
	struct vtb_vbe_map m[VTB_REQ_MAX_SEG];
	void *buf;		/* policy: per-head scratch (grant copy's local buffers) */
	size_t buf_len;		/* its size: the policy's chain_buf */
};

struct vtb_vring_policy {
	/* The device reaches FE memory only through the platform's DMA
	 * translation (a bounce pool, grants, an IOMMU): offer and require
	 * VIRTIO_F_ACCESS_PLATFORM. */
	bool access_platform;
	/* FE: set up policy state (fe->pol), called before any ring is placed. */
	int (*fe_setup)(struct vtb_vfe *fe);
	/* FE: memory for rings (and indirect tables without fe_map_indirect),
	 * visible to the device at *dev_addr.  Persistent for the life of the
	 * device. */
	int (*fe_ring)(struct vtb_vfe *fe, size_t bytes, uint64_t *dev_addr, void **va);
	/* FE, optional: map the indirect table of r, len bytes at guest
	 * address gpa, already filled, as one more device-readable buffer of
	 * the request (Linux: vring_map_single(..., DMA_TO_DEVICE) per add),
	 * writing its device address; r->ind_handle is the policy's.  The
	 * tables then live in plain FE RAM, not in fe_ring memory.  <0: the
	 * add fails (-VTB_ENOSPC: try later), nothing stays mapped. */
	int (*fe_map_indirect)(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint64_t gpa, uint32_t len,
			       uint64_t *dev_addr);
	/* FE: undo fe_map_indirect at completion, before the data's fe_unmap
	 * (detach_buf_split's order). */
	void (*fe_unmap_indirect)(struct vtb_vfe *fe, struct vtb_vfe_req *r);
	/* FE: make r->orig visible to the device, writing device addresses to
	 * dev[].  NULL: the device sees guest addresses as they are. */
	int (*fe_map)(struct vtb_vfe *fe, struct vtb_vfe_req *r, struct vtb_sg *dev);
	/* FE: after completion with used_len bytes written. */
	void (*fe_unmap)(struct vtb_vfe *fe, struct vtb_vfe_req *r, uint32_t used_len);
	void (*fe_teardown)(struct vtb_vfe *fe);

	/* BE: set up, before the device goes live. */
	int (*be_setup)(struct vtb_vbe *be);
	/* BE: the ring of a queue, from its device address (persistent). */
	void *(*be_ring)(struct vtb_vbe *be, uint64_t addr, size_t bytes);
	/* BE: an indirect table (read only, for the pop in progress). */
	const void *(*be_indirect)(struct vtb_vbe *be, uint64_t addr, uint32_t len);
	/* BE, optional: the pop in progress is done with what be_indirect
	 * resolved (unmap a table mapped for it); called after every pop. */
	void (*be_indirect_put)(struct vtb_vbe *be);
	/* BE, optional: resolve a whole chain at once (s->m[0..n) have addr,
	 * len and write set); replaces be_get, so a copy can be one batch. */
	int (*be_get_chain)(struct vtb_vbe *be, struct vtb_vbe_slot *s);
	/* BE, optional: bytes of scratch (slot buf) each head needs at most.
	 * Reserved at open as address space for the whole ring, so the data
	 * path never allocates: an mmap in the measured phase is a cost no
	 * seam counter sees. */
	size_t chain_buf;
	/* BE, optional: release a whole chain; replaces be_put. */
	int (*be_put_chain)(struct vtb_vbe *be, struct vtb_vbe_slot *s, uint32_t written);
	/* BE: resolve one buffer of a chain; may map or copy.  <0: bad input. */
	int (*be_get)(struct vtb_vbe *be, struct vtb_vbe_map *m);
	/* BE: release it before the chain is pushed (copy back, unmap). */
	int (*be_put)(struct vtb_vbe *be, struct vtb_vbe_map *m, uint32_t written_here);
	void (*be_teardown)(struct vtb_vbe *be);
	/* BE, optional: a side channel the backend's process must serve (the
	 * virtio-iommu request queue); called before every pop and while the
	 * device is being set up.  Returns how many requests it served. */
	int (*be_service)(struct vtb_vbe *be);
	/* BE, optional: re-arm that channel's kicks; true if work is pending. */
	bool (*be_arm)(struct vtb_vbe *be);
};

struct vtb_vfe {
	struct vtb_xenv *env;
	const struct vtb_vring_policy *pol;
	void *priv;		/* policy state */
	struct vtb_vdrv drv;
	unsigned nq;
	bool pending[VTB_VDEV_MAX_QUEUES];
	struct vtb_vqd *vq[VTB_VDEV_MAX_QUEUES];
	struct vtb_vfe_req *req[VTB_VDEV_MAX_QUEUES];	/* qsize each */
	uint16_t *free[VTB_VDEV_MAX_QUEUES];
	unsigned nfree[VTB_VDEV_MAX_QUEUES];
};

struct vtb_vbe {
	struct vtb_xenv *env;
	const struct vtb_vring_policy *pol;
	void *priv;
	struct vtb_vdev_state st;
	unsigned nq;
	bool dirty[VTB_VDEV_MAX_QUEUES];
	struct vtb_vqdev *vq[VTB_VDEV_MAX_QUEUES];
	struct vtb_vbe_slot *slot[VTB_VDEV_MAX_QUEUES];	/* by head */
	void *slot_mem[VTB_VDEV_MAX_QUEUES];		/* their scratch: num * chain_buf */
	struct vtb_seg seg[VTB_REQ_MAX_SEG];
};

/* Transport ops built on a policy. */
int vtb_vring_fe_open(struct vtb_xenv *env, const struct vtb_vring_policy *pol, uint64_t wanted, void **fe);
int vtb_vring_be_open(struct vtb_xenv *env, const struct vtb_vring_policy *pol, void **be);
int vtb_vring_fe_add(void *fe, unsigned q, const struct vtb_sg *sg, unsigned nout, unsigned nin, void *token);
void vtb_vring_fe_kick(void *fe, unsigned q);
void *vtb_vring_fe_get(void *fe, unsigned q, uint32_t *len);
unsigned vtb_vring_fe_free(void *fe, unsigned q);
bool vtb_vring_fe_enable_cb(void *fe);
void vtb_vring_fe_disable_cb(void *fe);
int vtb_vring_fe_wait(void *fe);
bool vtb_vring_fe_broken(void *fe);
void vtb_vring_fe_close(void *fe);
int vtb_vring_be_pop(void *be, unsigned q, struct vtb_req *req);
int vtb_vring_be_push(void *be, struct vtb_req *req, uint32_t written);
void vtb_vring_be_flush(void *be);
bool vtb_vring_be_enable_notify(void *be, uint32_t qmask);
void vtb_vring_be_disable_notify(void *be);
int vtb_vring_be_wait(void *be);
bool vtb_vring_be_broken(void *be);
void vtb_vring_be_close(void *be);

#define VTB_VRING_OPS \
	.fe_add = vtb_vring_fe_add, .fe_kick = vtb_vring_fe_kick, .fe_get = vtb_vring_fe_get, \
	.fe_free = vtb_vring_fe_free, .fe_enable_cb = vtb_vring_fe_enable_cb, \
	.fe_disable_cb = vtb_vring_fe_disable_cb, .fe_wait = vtb_vring_fe_wait, \
	.fe_broken = vtb_vring_fe_broken, .fe_close = vtb_vring_fe_close, \
	.be_pop = vtb_vring_be_pop, .be_push = vtb_vring_be_push, .be_flush = vtb_vring_be_flush, \
	.be_enable_notify = vtb_vring_be_enable_notify, .be_disable_notify = vtb_vring_be_disable_notify, \
	.be_wait = vtb_vring_be_wait, .be_broken = vtb_vring_be_broken, .be_close = vtb_vring_be_close

#endif
