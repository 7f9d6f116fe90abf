/* Hypervisor services a platform may provide, at the level a Xen guest
 * gets them: grant references and Argo rings, never "map this gpa of that
 * domain".  The grant and argo transports use nothing else, so on Xen they
 * run on the real thing unchanged.  Every call takes the caller's seam and
 * counts into its counters (copies, maps, unmaps, flushes, exits...) as the
 * platform's primitives would.  A platform without a service leaves its
 * pointer NULL and the suite refuses the cell (vtb_transport_unsupported).
 *
 * What each call is on Xen:
 *   grant, granting side (a guest's own v1 grant table)
 *     setup   XENMEM_add_to_physmap(XENMAPSPACE_grant_table): the guest
 *             places its table frames at guest addresses it chooses (so the
 *             transport passes the table's gpa and va); with libxengntshr,
 *             xengntshr_open
 *     share   writing the entry {domid, frame, barrier, flags}
 *             (gnttab_grant_foreign_access_ref; xengntshr_share_pages)
 *     end     gnttab_end_foreign_access_ref: -EBUSY while the peer holds
 *             the grant mapped or pinned by a copy (GTF_reading/writing)
 *   grant, mapping side
 *     open    xengnttab_open (a handle; each domain opens its own)
 *     map     GNTTABOP_map_grant_ref per reference, GNTMAP_host_map with a
 *             host address (at: the caller lays grant space out in a range
 *             it reserved; xengnttab_map_domain_grant_refs picks one
 *             itself), GNTMAP_readonly unless write
 *     unmap   GNTTABOP_unmap_grant_ref (xengnttab_unmap); keep_va leaves the
 *             range reserved for a later map at it
 *     copy    GNTTABOP_copy: a batch of segments {ref, offset, len} against
 *             local buffers, each within one page on both sides, with a
 *             status each (xengnttab_grant_copy)
 *   argo (xen/include/public/argo.h)
 *     register_ring  XEN_ARGO_OP_register_ring {aport, partner_id}
 *     unregister     XEN_ARGO_OP_unregister_ring
 *     sendv          XEN_ARGO_OP_sendv: at most XEN_ARGO_MAXIOV iovs, -EAGAIN
 *                    when the ring lacks the space now (the sender is then
 *                    signalled by the receiver's notify), -EMSGSIZE never
 *     notify         XEN_ARGO_OP_notify: checks the caller's rings for
 *                    senders waiting for space; with a query, reports
 *                    whether a peer's ring exists (XEN_ARGO_RING_EXISTS)
 *     virq_pending   the guest testing and clearing VIRQ_ARGO's pending bit
 *                    in its shared_info (no hypercall; notify=poll)
 * A domain is named by its vtb_dom; the service knows its Xen domid. */
#ifndef VTB_HVSVC_H
#define VTB_HVSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vtb_plat;
struct vtb_dom;
struct vtb_doorbell;

/* ---------------------------------------------------------------- grant */
struct vtb_gntshr;	/* the granting side's handle: its table */
struct vtb_gnttab;	/* the mapping side's handle */

/* One GNTTABOP_copy segment: [offset, offset+len) of grant ref's page and
 * local; both within one page.  status: a GNTST_* per segment, out. */
struct vtb_gnt_seg {
	uint32_t ref;
	uint16_t offset;
	uint16_t len;
	void *local;
	int16_t status;
};

struct vtb_grant_service {
	/* Granting side.  table: nent v1 entries at gpa of self's RAM (va in
	 * the caller), zeroed by the caller. */
	int (*setup)(struct vtb_plat *p, const struct vtb_dom *self, void *table, uint64_t gpa, uint32_t nent,
		     struct vtb_gntshr **out);
	void (*share)(struct vtb_plat *p, struct vtb_gntshr *s, uint32_t ref, const struct vtb_dom *peer,
		      uint32_t frame, bool readonly);
	int (*end)(struct vtb_plat *p, struct vtb_gntshr *s, uint32_t ref);
	void (*release)(struct vtb_plat *p, struct vtb_gntshr *s);
	/* Mapping side: self reaches granter's grants. */
	int (*open)(struct vtb_plat *p, const struct vtb_dom *self, const struct vtb_dom *granter,
		    struct vtb_gnttab **out);
	/* n references, page i at at + i * page: all (0) or none (the first
	 * failure's GNTST_*).  A reference this handle maps already, at the
	 * same address, shares that mapping (writable once one handle is). */
	int (*map)(struct vtb_plat *p, struct vtb_gnttab *t, const uint32_t *refs, unsigned n, bool write, void *at);
	/* The handles map(refs, n, write) made. */
	void (*unmap)(struct vtb_plat *p, struct vtb_gnttab *t, const uint32_t *refs, unsigned n, bool write,
		      bool keep_va);
	/* One call: to_granter copies local into the grants (the grants are
	 * pinned writable), else out of them.  0, or -EFAULT (a bad reference
	 * or argument), -EPERM (a grant refused), -E2BIG (too many segments)
	 * or the copy's error; nothing is copied unless every segment checks. */
	int (*copy)(struct vtb_plat *p, struct vtb_gnttab *t, struct vtb_gnt_seg *segs, unsigned n, bool to_granter);
	/* Unmaps what the handle still maps (a closing gntdev does it). */
	void (*close)(struct vtb_plat *p, struct vtb_gnttab *t);
};
#define VTB_GNT_COPY_MAX_SEGS 1024u	/* one call's batch (IOV_MAX on proc) */

/* ---------------------------------------------------------------- argo */
struct vtb_argo_iov {
	const void *base;
	uint32_t len;
};

#define VTB_ARGO_RING_EXISTS 1u		/* notify's query answer (XEN_ARGO_RING_EXISTS) */

struct vtb_argo_service {
	/* ring: a vtb_argo_ring header and len bytes of slots at gpa of self's
	 * RAM (va in the caller), header zeroed by the caller; partner: the
	 * only domain that may send to it.  virq: where self waits for
	 * VIRQ_ARGO; NULL: self keeps it masked and polls virq_pending. */
	int (*register_ring)(struct vtb_plat *p, const struct vtb_dom *self, void *ring, uint64_t gpa, uint32_t len,
			     uint32_t aport, const struct vtb_dom *partner, struct vtb_doorbell *virq);
	int (*unregister)(struct vtb_plat *p, const struct vtb_dom *self, uint32_t aport);
	int (*sendv)(struct vtb_plat *p, const struct vtb_dom *self, uint32_t src_aport, const struct vtb_dom *dst,
		     uint32_t dst_aport, const struct vtb_argo_iov *iov, unsigned niov, uint32_t message_type);
	/* query NULL: notify_check_pending on self's rings.  Else the flags
	 * of query's ring at aport (*flags). */
	int (*notify)(struct vtb_plat *p, const struct vtb_dom *self, const struct vtb_dom *query, uint32_t aport,
		      uint32_t *flags);
	bool (*virq_pending)(struct vtb_plat *p, const struct vtb_dom *self);
};

#endif
