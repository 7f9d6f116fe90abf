/* The platform seam: the few hypervisor primitives every transport is
 * written against.  Device models never see it.  Every call is counted,
 * so a result can say exactly what a request cost. */
#ifndef VTB_PLATFORM_H
#define VTB_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvsvc.h"

/* A domain: an isolated address space with its own guest RAM. */
struct vtb_dom {
	int id;			/* 0: frontend, 1: backend */
	uint64_t ram_size;	/* 0: it has none */
	void *priv;		/* the platform's */
};

struct vtb_doorbell {
	int fd;			/* what a wait blocks on, where the platform has one */
	void *priv;		/* the platform's */
};

/* Seam counters, one set per domain, kept in the cell's stats page so the
 * harness can read both sides. Plain uint64_t written by one process. */
struct vtb_plat_counters {
	uint64_t copies;	/* hypervisor copy calls */
	uint64_t copy_bytes;
	uint64_t copy_segs;	/* pieces those calls moved: each is checked and pinned on its own */
	uint64_t maps;
	uint64_t map_bytes;
	uint64_t unmaps;
	uint64_t unmaps_keep_va;	/* of which left the range reserved (proc: an mmap, not a munmap) */
	uint64_t flushes;	/* TLB/IOTLB flushes the seam caused */
	uint64_t notifies;	/* doorbells rung */
	uint64_t notifies_suppressed;	/* doorbells the peer told us to skip */
	uint64_t waits;		/* blocking waits entered */
	uint64_t exits;		/* calls that entered the hypervisor */
	/* Counted by transports, not the seam: */
	uint64_t bounce_copies;	/* payload memcpy into/out of shared memory */
	uint64_t bounce_bytes;
	uint64_t xport_ops;	/* grant entries, IOMMU requests, bounce slots... */
};

struct vtb_plat;

struct vtb_copy_op {
	uint64_t gpa;		/* in the peer's RAM */
	void *local;		/* in the caller */
	uint32_t len;
};
#define VTB_COPY_MAX_OPS 1024	/* IOV_MAX */

struct vtb_platform_ops {
	const char *name;
	const char *desc;

	/* Lifecycle, in the harness before a cell's domains start: their RAM,
	 * their doorbells, and memory the harness and both domains see (the
	 * control page, the device's register block, the hypervisor's page). */
	int (*dom_create)(struct vtb_dom *d, int id, uint64_t ram_size);
	void (*dom_destroy)(struct vtb_dom *d);
	int (*doorbell_create)(struct vtb_doorbell *db);
	void (*doorbell_destroy)(struct vtb_doorbell *db);
	void *(*shared_create)(uint64_t bytes);	/* zeroed; NULL with errno */
	void (*shared_destroy)(void *va, uint64_t bytes);

	/* In a domain, once it runs. */
	/* Learns how to reach peer: handle is what the runner says it is. */
	int (*attach)(struct vtb_plat *p, struct vtb_dom *peer, uint64_t handle);
	/* Maps the domain's own RAM into it (not a counted call: a domain
	 * always owns its memory); NULL with errno. */
	void *(*map_own)(struct vtb_plat *p, const struct vtb_dom *self);
	/* Makes db usable from this domain (an event channel's bind). */
	int (*doorbell_bind)(struct vtb_plat *p, struct vtb_doorbell *db);

	/* The data path. */
	/* One hypervisor copy call moving n pieces between the caller and
	 * peer's RAM (to_peer: into it), like a batch of GNTTABOP_copy ops. */
	int (*copy)(struct vtb_plat *p, const struct vtb_dom *peer, const struct vtb_copy_op *ops,
		    unsigned n, bool to_peer);
	/* Map [gpa, gpa+len) of owner's RAM into the caller; page granular. */
	void *(*map)(struct vtb_plat *p, const struct vtb_dom *owner, uint64_t gpa,
		     size_t len, bool write, void *at);	/* at: fixed address or NULL */
	/* keep_va: leave the range reserved (inaccessible) for a later map at it. */
	int (*unmap)(struct vtb_plat *p, void *va, size_t len, bool keep_va);
	int (*notify)(struct vtb_plat *p, struct vtb_doorbell *db);
	/* Blocks until db was rung at least once since the last wait. */
	int (*wait)(struct vtb_plat *p, struct vtb_doorbell *db);
	/* Hypervisor services (hvsvc.h); NULL where the platform lacks them. */
	const struct vtb_grant_service *grant;
	const struct vtb_argo_service *argo;
	/* Cells run inside a guest kernel by the harness's guest executor
	 * (harness/qemu.c), not over this seam: every hook above is NULL. */
	bool guest;
	/* "transport/variant" names a guest platform's configurations add to
	 * the transports' own variants (NULL-terminated; NULL: none). */
	const char *const *guest_variants;
};

struct vtb_plat {
	const struct vtb_platform_ops *ops;
	struct vtb_plat_counters *ctr;
	/* Platform-private state the hypervisor paths of both domains share
	 * (proc: one page mapped before the domains fork). */
	void *hv;
};

/* The platforms, registered in transports/platforms.c. */
extern const struct vtb_platform_ops *const vtb_platforms[];
const struct vtb_platform_ops *vtb_platform_find(const char *name);

#endif
