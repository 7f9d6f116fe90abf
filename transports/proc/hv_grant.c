/* proc's grant-table service: Xen's grant_table.c for v1 tables, run in
 * the caller's context as a hypercall would.  The granting domain's table
 * lives in its own RAM where it put it (setup records the place in the
 * shared hypervisor page); the mapping side's hypervisor path maps that
 * table once through the platform (the hypervisor's own view of it) and
 * keeps the active entries, private to it.  Entry checks, GTF_reading and
 * GTF_writing and the pin counts are core/vtb_grant.h's, as Xen's
 * _set_status_v1, acquire_grant_for_copy and map_grant_ref do them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/vtb_grant.h"
#include "hv.h"

#define PAGE VTB_XEN_PAGE_SIZE

/* ---------------------------------------------------------------- granting side */
struct vtb_gntshr {
	struct vtb_grant_entry_v1 *tbl;
	uint32_t nent;
};

static int gs_setup(struct vtb_plat *p, const struct vtb_dom *self, void *table, uint64_t gpa, uint32_t nent,
		    struct vtb_gntshr **out)
{
	struct vtb_proc_hv *hv = p->hv;
	if (!hv || self->id < 0 || self->id > 1 || gpa % PAGE || !nent || gpa > self->ram_size ||
	    (uint64_t)nent * sizeof(struct vtb_grant_entry_v1) > self->ram_size - gpa)
		return -EINVAL;
	struct vtb_gntshr *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->tbl = table;
	s->nent = nent;
	hv->gnt[self->id].gpa = gpa;
	hv->gnt[self->id].nent = nent;
	VTB_STORE_RELEASE(hv->gnt[self->id].ready, 1);
	*out = s;
	return 0;
}

/* The documented order: domid, frame, barrier, then flags. */
static void gs_share(struct vtb_plat *p, struct vtb_gntshr *s, uint32_t ref, const struct vtb_dom *peer,
		     uint32_t frame, bool readonly)
{
	(void)p;
	if (ref >= s->nent)
		return;
	struct vtb_grant_entry_v1 *e = &s->tbl[ref];
	VTB_WRITE_ONCE(e->domid, vtb_proc_domid(peer));
	VTB_WRITE_ONCE(e->frame, frame);
	VTB_STORE_RELEASE(e->flags, (uint16_t)(VTB_GTF_permit_access | (readonly ? VTB_GTF_readonly : 0)));
}

static int gs_end(struct vtb_plat *p, struct vtb_gntshr *s, uint32_t ref)
{
	(void)p;
	if (ref >= s->nent)
		return -EINVAL;
	return vtb_grant_end_access(&s->tbl[ref]) ? 0 : -EBUSY;
}

static void gs_release(struct vtb_plat *p, struct vtb_gntshr *s)
{
	(void)p;
	free(s);
}

/* ---------------------------------------------------------------- mapping side */
struct vtb_gnttab {
	const struct vtb_dom *granter;
	uint16_t domid;			/* the caller's */
	/* The hypervisor's view of the granter's table, mapped at first use
	 * (the granter may set it up after we open). */
	struct vtb_grant_entry_v1 *tbl;
	uint32_t nent;
	size_t tbl_bytes;
	struct vtb_grant_active *act;	/* the hypervisor's active entries */
	uint32_t copy_call;		/* the GNTTABOP_copy call in progress */
	uint32_t *copy_pinned;		/* the copy call that holds a pin on the reference */
	/* This handle's mappings: reference r at va[r] while it has map
	 * handles; writable while one of them is. */
	char **va;
	uint16_t *mapcount, *wmapcount;
	bool *writable;
};

static int gt_open(struct vtb_plat *p, const struct vtb_dom *self, const struct vtb_dom *granter,
		   struct vtb_gnttab **out)
{
	if (!p->hv || granter->id < 0 || granter->id > 1)
		return -EINVAL;
	struct vtb_gnttab *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->granter = granter;
	t->domid = vtb_proc_domid(self);
	*out = t;
	return 0;
}

static bool gt_attach(struct vtb_plat *p, struct vtb_gnttab *t)
{
	struct vtb_proc_hv_gnt *g = &((struct vtb_proc_hv *)p->hv)->gnt[t->granter->id];
	if (t->tbl)
		return true;
	if (!VTB_LOAD_ACQUIRE(g->ready))
		return false;
	uint32_t nent = g->nent;
	size_t bytes = ((size_t)nent * sizeof(struct vtb_grant_entry_v1) + PAGE - 1) & ~(size_t)(PAGE - 1);
	t->act = calloc(nent, sizeof(*t->act));
	t->copy_pinned = calloc(nent, sizeof(*t->copy_pinned));
	t->va = calloc(nent, sizeof(*t->va));
	t->mapcount = calloc(nent, sizeof(*t->mapcount));
	t->wmapcount = calloc(nent, sizeof(*t->wmapcount));
	t->writable = calloc(nent, sizeof(*t->writable));
	if (t->act && t->copy_pinned && t->va && t->mapcount && t->wmapcount && t->writable)
		t->tbl = p->ops->map(p, t->granter, g->gpa, bytes, true, NULL);
	if (!t->tbl) {
		free(t->act), free(t->copy_pinned), free(t->va);
		free(t->mapcount), free(t->wmapcount), free(t->writable);
		t->act = NULL, t->copy_pinned = NULL, t->va = NULL;
		t->mapcount = t->wmapcount = NULL, t->writable = NULL;
		return false;
	}
	t->nent = nent;
	t->tbl_bytes = bytes;
	return true;
}

static uint64_t granter_frames(const struct vtb_gnttab *t)
{
	return t->granter->ram_size / PAGE;
}

/* GNTTABOP_map_grant_ref for one reference, mapped writable only when
 * asked (GNTMAP_readonly otherwise, whatever the grant allows): 0 or a
 * GNTST_* status.  The pin is taken before the frame is read. */
static int map_one(struct vtb_plat *p, struct vtb_gnttab *t, uint32_t ref, bool write, char *at)
{
	uint32_t frame;
	if (ref >= t->nent)
		return VTB_GNTST_bad_gntref;
	if (t->mapcount[ref] && t->va[ref] != at)
		return VTB_GNTST_general_error;	/* one mapping per reference here */
	int st = vtb_grant_pin(&t->tbl[ref], &t->act[ref], t->domid, !write, true, granter_frames(t), &frame);
	if (st)
		return st;
	/* Handles on one reference share its mapping: the first maps it, a
	 * writable one upgrades a read-only one. */
	if (!t->mapcount[ref] || (write && !t->writable[ref])) {
		if (!p->ops->map(p, t->granter, (uint64_t)frame * PAGE, PAGE, write, at)) {
			vtb_grant_unpin(&t->tbl[ref], &t->act[ref], !write);	/* undo_out */
			return VTB_GNTST_general_error;
		}
		t->writable[ref] = write;
		t->va[ref] = at;
	}
	t->mapcount[ref]++;
	t->wmapcount[ref] += write;
	return VTB_GNTST_okay;
}

/* GNTTABOP_unmap_grant_ref of one handle (write: a writable one): the
 * last handle zaps the PTE (and flushes); then the pin goes. */
static void unmap_one(struct vtb_plat *p, struct vtb_gnttab *t, uint32_t ref, bool write, bool keep_va)
{
	if (ref >= t->nent || !t->mapcount[ref] || (write && !t->wmapcount[ref]) ||
	    (!write && t->mapcount[ref] == t->wmapcount[ref]))
		return;
	t->mapcount[ref]--;
	t->wmapcount[ref] -= write;
	if (!t->mapcount[ref]) {
		p->ops->unmap(p, t->va[ref], PAGE, keep_va);
	} else if (write && !t->wmapcount[ref]) {
		/* Read-only handles remain: Xen zaps the writable PTE; here the
		 * shared mapping goes read-only (remapped in place). */
		if (!p->ops->map(p, t->granter, (uint64_t)t->act[ref].frame * PAGE, PAGE, false, t->va[ref]))
			p->ops->unmap(p, t->va[ref], PAGE, true);
		t->writable[ref] = false;
	}
	vtb_grant_unpin(&t->tbl[ref], &t->act[ref], !write);
}

static int gt_map(struct vtb_plat *p, struct vtb_gnttab *t, const uint32_t *refs, unsigned n, bool write, void *at)
{
	if (!at)
		return VTB_GNTST_general_error;	/* host_addr is required here */
	if (!gt_attach(p, t))
		return VTB_GNTST_bad_domain;
	for (unsigned k = 0; k < n; k++) {
		int st = map_one(p, t, refs[k], write, (char *)at + (size_t)k * PAGE);
		if (st) {
			while (k--)
				unmap_one(p, t, refs[k], write, true);
			return st;
		}
	}
	return VTB_GNTST_okay;
}

static void gt_unmap(struct vtb_plat *p, struct vtb_gnttab *t, const uint32_t *refs, unsigned n, bool write,
		     bool keep_va)
{
	if (!t->tbl)
		return;
	for (unsigned k = 0; k < n; k++)
		unmap_one(p, t, refs[k], write, keep_va);
}

/* GNTTABOP_copy, one call: every segment within one page on both sides,
 * every reference pinned before its frame is read and held until the
 * call's copying is done (the source read-only, the destination writable). */
static int gt_copy(struct vtb_plat *p, struct vtb_gnttab *t, struct vtb_gnt_seg *segs, unsigned n, bool to_granter)
{
	struct vtb_copy_op ops[VTB_COPY_MAX_OPS];
	uint32_t held[VTB_COPY_MAX_OPS];
	unsigned nheld = 0;
	int rc = 0;
	if (n > VTB_COPY_MAX_OPS)
		return -E2BIG;
	if (!gt_attach(p, t))
		return -EFAULT;
	if (++t->copy_call == 0) {
		memset(t->copy_pinned, 0, (size_t)t->nent * sizeof(*t->copy_pinned));
		t->copy_call = 1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct vtb_gnt_seg *s = &segs[i];
		uint32_t ref = s->ref;
		s->status = VTB_GNTST_okay;
		if (ref >= t->nent) {
			s->status = VTB_GNTST_bad_gntref;
			rc = -EFAULT;
			goto unpin;
		}
		if ((uint32_t)s->offset + s->len > PAGE ||
		    ((uintptr_t)s->local & (PAGE - 1)) + s->len > PAGE) {
			s->status = VTB_GNTST_bad_copy_arg;
			rc = -EFAULT;
			goto unpin;
		}
		if (t->copy_pinned[ref] != t->copy_call) {
			uint32_t frame;
			int st = vtb_grant_pin(&t->tbl[ref], &t->act[ref], t->domid, !to_granter, false,
					       granter_frames(t), &frame);
			if (st) {
				s->status = (int16_t)st;
				rc = -EPERM;
				goto unpin;
			}
			t->copy_pinned[ref] = t->copy_call;
			held[nheld++] = ref;
		}
		ops[i] = (struct vtb_copy_op){ (uint64_t)t->act[ref].frame * PAGE + s->offset, s->local, s->len };
	}
	if (n)
		rc = p->ops->copy(p, t->granter, ops, n, to_granter);
unpin:
	while (nheld--)
		vtb_grant_unpin(&t->tbl[held[nheld]], &t->act[held[nheld]], !to_granter);
	return rc;
}

static void gt_close(struct vtb_plat *p, struct vtb_gnttab *t)
{
	if (!t)
		return;
	if (t->tbl) {
		for (uint32_t r = 0; r < t->nent; r++) {
			while (t->wmapcount[r])
				unmap_one(p, t, r, true, true);
			while (t->mapcount[r])
				unmap_one(p, t, r, false, true);
		}
		p->ops->unmap(p, t->tbl, t->tbl_bytes, false);
	}
	free(t->act), free(t->copy_pinned), free(t->va);
	free(t->mapcount), free(t->wmapcount), free(t->writable);
	free(t);
}

const struct vtb_grant_service vtb_proc_grant_service = {
	.setup = gs_setup,
	.share = gs_share,
	.end = gs_end,
	.release = gs_release,
	.open = gt_open,
	.map = gt_map,
	.unmap = gt_unmap,
	.copy = gt_copy,
	.close = gt_close,
};
