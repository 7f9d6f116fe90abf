/* proc's emulated hypervisor services (hv_grant.c, hv_argo.c) and the page
 * their paths share between the two domains (vtb_plat.hv: mapped before the
 * domains fork).  Only proc code and tests that run on proc include it. */
#ifndef VTB_PROC_HV_H
#define VTB_PROC_HV_H

#include "../platform.h"

/* Xen domids on proc: the backend runs in dom0, the frontend is domU 1. */
static inline uint16_t vtb_proc_domid(const struct vtb_dom *d)
{
	return d->id == 0 ? 1 : 0;
}

/* Where a domain put its grant table (XENMAPSPACE_grant_table). */
struct vtb_proc_hv_gnt {
	uint64_t gpa;
	uint32_t nent;
	uint32_t ready;
};

/* The hypervisor's own state for one domain's Argo ring. */
struct vtb_proc_hv_ring {
	uint64_t gpa;
	uint32_t len;
	uint32_t registered;
	uint32_t tx;			/* where the next message goes */
	uint32_t rx_seen;		/* the receiver's rx_ptr when last read, sanitized */
	uint32_t space_wanted;		/* pending: payload bytes a sender waits for (0: none) */
	uint32_t aport;
	uint16_t partner;		/* the domid that may send to it */
	uint16_t pad;
	struct vtb_doorbell *virq;	/* the owner's VIRQ_ARGO; NULL: masked (polled) */
};

/* Indexed by vtb_dom.id (0: FE, 1: BE). */
struct vtb_proc_hv {
	struct vtb_proc_hv_gnt gnt[2];
	struct vtb_proc_hv_ring ring[2];
	/* Not private: each domain's VIRQ_ARGO pending bit, as in its
	 * shared_info page, which the guest reads. */
	uint32_t evtchn_pending[2];
};
_Static_assert(sizeof(struct vtb_proc_hv) <= 4096, "proc's hypervisor page");

extern const struct vtb_grant_service vtb_proc_grant_service;
extern const struct vtb_argo_service vtb_proc_argo_service;

#endif
