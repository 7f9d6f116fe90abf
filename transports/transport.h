/* A transport: how virtqueue buffers move between FE and BE.  One const
 * ops table each, registered in transports/registry.c.  Transports reach
 * the hypervisor only through the platform seam (platform.h). */
#ifndef VTB_TRANSPORT_H
#define VTB_TRANSPORT_H

#include <stddef.h>

#include "core/vtb_devio.h"
#include "core/vtb_vdev.h"
#include "core/vtb_virtq.h"
#include "platform.h"

/* Everything a transport instance gets from the harness, in either domain. */
struct vtb_xenv {
	struct vtb_plat *plat;
	struct vtb_dom *fe;		/* FE domain; RAM only mapped in the FE */
	struct vtb_dom *be;
	struct vtb_doorbell *kick;	/* FE -> BE */
	struct vtb_doorbell *call;	/* BE -> FE */
	struct vtb_vdev_regs *regs;	/* device register block */
	const char *variant;
	bool poll;			/* notify=poll: no doorbells at all */
	bool indirect;			/* use indirect descriptors */
	bool packed;			/* packed virtqueues (§2.8) instead of split */
	uint16_t qsize;
	/* FE only: its RAM and a bump allocator over it. */
	char *ram;
	uint64_t ram_used;
	/* A region of FE RAM both sides know from configuration (a device-tree
	 * restricted-dma-pool, a fat queue): [shared_gpa, +shared_size).  The
	 * allocator never hands it out. */
	uint64_t shared_gpa, shared_size;
	/* viommu lazy: flush-queue entries and age limit (0: Linux defaults). */
	unsigned fq_size;
	uint64_t fq_timeout_ns;
	/* fatvq: bytes of each ring's data area (a power of two). */
	uint32_t ring_bytes;
	/* BE only: its own RAM, where the platform maps it (argo's ring). */
	char *be_ram;
	/* BE only: device identity for the register block. */
	uint32_t device_id;
	uint32_t nqueues;
	uint64_t device_features;
	const void *config;
	uint32_t config_len;
	/* Out: negotiated features. */
	uint64_t features;
	/* Out: why the transport broke (e.g. the hypercall that failed and
	 * its error), for the row's error; "" when it did not say. */
	char why[160];
};

/* Monotonic ns, for transports' own timers (flush-queue timeouts). */
uint64_t vtb_now_ns_fe(void);

/* FE RAM allocation: returns the guest address, the FE pointer in *va. */
int vtb_fe_alloc(struct vtb_xenv *env, uint64_t size, uint64_t align, uint64_t *gpa, void **va);

/* What a transport can do and what it needs, fio-style: the suite and
 * `vtbench list` read these, never a transport's name. */
enum {
	VTB_CAP_SPLIT = 1u << 0,	/* split virtqueues (virtio 1.2 §2.7) */
	VTB_CAP_PACKED = 1u << 1,	/* a variant runs packed virtqueues (§2.8) */
	VTB_CAP_INDIRECT = 1u << 2,	/* indirect=1 puts chains in indirect tables */
	VTB_CAP_NOTIFY_EVENT = 1u << 3,	/* notify=event: doorbells */
	VTB_CAP_NOTIFY_POLL = 1u << 4,	/* notify=poll: busy polling */
	VTB_CAP_REGION = 1u << 5,	/* needs a region of FE RAM pre-shared by configuration */
	VTB_CAP_BE_RAM = 1u << 6,	/* needs RAM of the BE's own */
	VTB_CAP_MAX_BUFFER = 1u << 7,	/* a buffer has a size limit (max_buffer) */
	VTB_CAP_MAX_REQUEST = 1u << 8,	/* a request has a size limit (max_request) */
	VTB_CAP_REFERENCE = 1u << 9,	/* the baseline other transports are priced against */
};
/* Names of the VTB_CAP_ bits, bit i at [i], for lists and JSON. */
extern const char *const vtb_cap_names[];

/* A suite key a transport owns (fio's per-ioengine options).  Checked
 * against these limits whatever the cell's transport (a typo is never
 * silent), and dropped from the cells of transports and variants that do
 * not own it, so no two cells differ only in what nothing reads. */
enum vtb_xopt_type {
	VTB_XOPT_BYTES,		/* a whole number, k/m/g suffixes */
	VTB_XOPT_UINT,		/* a whole number */
	VTB_XOPT_TIME,		/* s, ms, us; lands as ns */
};
enum {
	VTB_XOPT_POW2 = 1u << 0,	/* a power of two */
	VTB_XOPT_ABOVE_MIN = 1u << 1,	/* min itself is excluded */
};
struct vtb_xport_opt {
	const char *name;		/* the suite key */
	enum vtb_xopt_type type;
	const char *def;		/* default, as a suite value */
	double min, max;		/* bytes, count or seconds */
	unsigned flags;
	const char *const *variants;	/* the variants it applies to; NULL: all */
	/* Where it lands: offsetof(struct vtb_xenv, field) and the field's size
	 * (an unsigned integer; a time is ns). */
	size_t env_off, env_size;
	const char *desc;
};
#define VTB_XOPT_AT(field) offsetof(struct vtb_xenv, field), sizeof(((struct vtb_xenv *)0)->field)

struct vtb_transport_ops {
	const char *name;
	const char *desc;
	const char *const *variants;	/* NULL-terminated; first is the default */
	const char *const *variant_desc;
	unsigned caps;			/* VTB_CAP_ */
	const struct vtb_xport_opt *opts;	/* ended by a NULL name; NULL: none */
	/* Bytes of pre-shared region this transport needs (0: none). */
	uint64_t (*region_bytes)(const struct vtb_xenv *env);
	/* Bytes of RAM the BE domain needs of its own (0: none). */
	uint64_t (*be_ram_bytes)(const struct vtb_xenv *env);
	/* Largest single buffer it can carry (0: no limit). */
	uint32_t max_buffer;
	/* The largest request it can carry with this env, as the bytes the
	 * device reads (*out: headers and out-data) and the bytes it writes
	 * (*in: in-data and status); 0: no limit.  NULL: none.  The suite
	 * refuses a cell whose requests exceed them. */
	void (*max_request)(const struct vtb_xenv *env, uint64_t *out, uint64_t *in);
	/* Hypervisor services it needs of the platform (VTB_NEEDS_*). */
	uint32_t needs;

	/* Frontend (driver) side; wanted: device features the FE asks for. */
	int (*fe_open)(struct vtb_xenv *env, uint64_t wanted, void **fe);
	int (*fe_add)(void *fe, unsigned q, const struct vtb_sg *sg, unsigned nout,
		      unsigned nin, void *token);
	/* Offers what fe_add queued: the device may see nothing before it
	 * (the split ring publishes its index once per kick). */
	void (*fe_kick)(void *fe, unsigned q);
	void *(*fe_get)(void *fe, unsigned q, uint32_t *len);
	unsigned (*fe_free)(void *fe, unsigned q);
	bool (*fe_enable_cb)(void *fe);		/* true: work already pending */
	void (*fe_disable_cb)(void *fe);
	int (*fe_wait)(void *fe);
	bool (*fe_broken)(void *fe);
	void (*fe_close)(void *fe);

	/* Backend (device) side. */
	int (*be_open)(struct vtb_xenv *env, void **be);
	int (*be_pop)(void *be, unsigned q, struct vtb_req *req);
	int (*be_push)(void *be, struct vtb_req *req, uint32_t written);
	/* Publishes what be_push completed (the split ring's used index moves
	 * once per flush) and sends the interrupts now due. */
	void (*be_flush)(void *be);
	/* Re-arms kicks on the queues in qmask (the ones the device model waits
	 * on); true if one of them already has work. */
	bool (*be_enable_notify)(void *be, uint32_t qmask);
	void (*be_disable_notify)(void *be);
	int (*be_wait)(void *be);
	bool (*be_broken)(void *be);
	void (*be_close)(void *be);
};

extern const struct vtb_transport_ops vtb_transport_shm;
extern const struct vtb_transport_ops vtb_transport_swiotlb;
extern const struct vtb_transport_ops vtb_transport_grant;
extern const struct vtb_transport_ops vtb_transport_viommu;
extern const struct vtb_transport_ops vtb_transport_fatvq;
extern const struct vtb_transport_ops vtb_transport_argo;

#define VTB_NEEDS_GRANT (1u << 0)	/* vtb_platform_ops.grant */
#define VTB_NEEDS_ARGO (1u << 1)	/* vtb_platform_ops.argo */

extern const struct vtb_transport_ops *const vtb_transports[];
const struct vtb_transport_ops *vtb_transport_find(const char *name);
/* Index of variant in t->variants, or -1. NULL or "" selects the default. */
int vtb_transport_variant(const struct vtb_transport_ops *t, const char *variant);
/* t's option called name that applies to variant (NULL: to any), or NULL. */
const struct vtb_xport_opt *vtb_transport_opt(const struct vtb_transport_ops *t, const char *name,
					      const char *variant);
/* The first transport's option called name, or NULL: its limits are the key's. */
const struct vtb_xport_opt *vtb_xport_opt_find(const char *name);
/* Why t cannot run on platform p (a service it needs is missing), or NULL. */
const char *vtb_transport_unsupported(const struct vtb_transport_ops *t, const struct vtb_platform_ops *p);

#endif
