/* Both domains of a transport in one process, each with its own
 * environment, counters and seam, as after fork but in one address space:
 * for unit tests and fuzz targets that drive the FE and the BE directly.
 * The hypervisor copy finds a domain's RAM where this process mapped it
 * (vtb_inproc_ram[id]), with a hypervisor's bounds checks and proc's
 * counting; maps and unmaps are proc's own (they go by the memfd);
 * doorbells are counted as proc counts them and never block. */
#ifndef VTB_INPROC_H
#define VTB_INPROC_H

#include <errno.h>
#include <string.h>

#include "../transport.h"
#include "../proc/hv.h"
#include "procdom.h"

struct vtb_inproc_side {
	struct vtb_xenv env;
	struct vtb_plat_counters ctr;
	struct vtb_plat plat;
	void *x;
	int err;
};

static char *vtb_inproc_ram[2];
/* The hypervisor page both sides' seams share (vtb_plat.hv). */
static void *vtb_inproc_hv;
/* Optional: called at every copy call, before it copies (a test's look at
 * what the caller holds while the hypervisor copies). */
static void (*vtb_inproc_on_copy)(void);

static int vtb_inproc_copy(struct vtb_plat *p, const struct vtb_dom *peer, const struct vtb_copy_op *ops,
			   unsigned n, bool to_peer)
{
	if (n == 0 || n > VTB_COPY_MAX_OPS || peer->id < 0 || peer->id > 1 || !vtb_inproc_ram[peer->id])
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (ops[i].gpa > peer->ram_size || ops[i].len > peer->ram_size - ops[i].gpa)
			return -EFAULT;
	if (vtb_inproc_on_copy)
		vtb_inproc_on_copy();
	p->ctr->copies++;
	p->ctr->exits++;
	for (unsigned i = 0; i < n; i++) {
		char *g = vtb_inproc_ram[peer->id] + ops[i].gpa;
		memmove(to_peer ? g : ops[i].local, to_peer ? ops[i].local : g, ops[i].len);
		p->ctr->copy_bytes += ops[i].len;
		p->ctr->copy_segs++;
	}
	return 0;
}

static void *vtb_inproc_map(struct vtb_plat *p, const struct vtb_dom *o, uint64_t gpa, size_t len, bool w, void *at)
{
	return vtb_platform_proc.map(p, o, gpa, len, w, at);
}

static int vtb_inproc_unmap(struct vtb_plat *p, void *va, size_t len, bool keep_va)
{
	return vtb_platform_proc.unmap(p, va, len, keep_va);
}

static int vtb_inproc_notify(struct vtb_plat *p, struct vtb_doorbell *db)
{
	(void)db;
	p->ctr->notifies++;
	p->ctr->exits++;
	return 0;
}

static int vtb_inproc_wait(struct vtb_plat *p, struct vtb_doorbell *db)
{
	(void)db;
	p->ctr->waits++;
	p->ctr->exits++;
	return 0;
}

static const struct vtb_platform_ops vtb_inproc_platform = {
	.name = "inproc", .desc = "both domains in one process", .copy = vtb_inproc_copy, .map = vtb_inproc_map,
	.unmap = vtb_inproc_unmap, .notify = vtb_inproc_notify, .wait = vtb_inproc_wait,
	/* proc's hypervisor services, over this platform's primitives. */
	.grant = &vtb_proc_grant_service, .argo = &vtb_proc_argo_service,
};

/* One side's environment on ops (vtb_inproc_platform unless a test needs
 * its own), its seam counting into its own counters. */
static inline void vtb_inproc_side_init(struct vtb_inproc_side *s, const struct vtb_xenv *env,
					const struct vtb_platform_ops *ops)
{
	s->env = *env;
	s->plat = (struct vtb_plat){ ops, &s->ctr, vtb_inproc_hv };
	s->env.plat = &s->plat;
}

#endif
