/* proc's Argo service: Xen's argo.c (sendv, iov_count, ringbuf_insert,
 * notify_check_pending) run in the caller's context.  One process_vm_writev
 * carries a message and the new tx_ptr into the receiver's ring; the
 * hypervisor's bookkeeping (registrations, tx, the last rx it read, space
 * waiters) sits in the page the hypervisor paths of both domains share
 * (vtb_plat.hv).  Xen reads a receiver's rx_ptr through its own mapping of
 * the ring; here the sender's path keeps the last value it saw and re-reads
 * it (one process_vm_readv, counted as a copy) only when that view shows
 * too little space, so copies can exceed the sendv count slightly.
 * Fault injection (tests): VTB_ARGO_FAIL_SENDV=SIDE:N[:ERRNO] (SIDE fe or
 * be) makes that side's N-th sendv fail with -ERRNO (default EINVAL); read
 * at each register_ring, so the count is that domain's sendv calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/vtb_argo.h"
#include "hv.h"

static struct {
	int side;		/* the sender's vtb_dom.id; -1: off */
	unsigned long nth, calls;
	int err;
} hv_fault = { .side = -1 };

static void hv_fault_init(void)
{
	const char *v = getenv("VTB_ARGO_FAIL_SENDV");
	char side[4] = "";
	unsigned long nth = 0;
	int err = EINVAL;
	hv_fault.side = -1;
	hv_fault.calls = 0;
	if (v && sscanf(v, "%2[a-z]:%lu:%d", side, &nth, &err) >= 2 && nth && err > 0) {
		hv_fault.side = !strcmp(side, "fe") ? 0 : !strcmp(side, "be") ? 1 : -1;
		hv_fault.nth = nth;
		hv_fault.err = err;
	}
}

static int hv_fault_due(int from)
{
	if (hv_fault.side != from || ++hv_fault.calls != hv_fault.nth)
		return 0;
	return -hv_fault.err;
}

static struct vtb_proc_hv *hv_of(struct vtb_plat *p, const struct vtb_dom *d)
{
	return p->hv && d && d->id >= 0 && d->id <= 1 ? p->hv : NULL;
}

/* VIRQ_ARGO to domain `dom`.  Its doorbell, or, where it keeps the VIRQ
 * masked (notify=poll), only the channel's pending bit (no doorbell:
 * counted as suppressed). */
static int hv_signal(struct vtb_plat *p, struct vtb_proc_hv *hv, int dom)
{
	struct vtb_doorbell *db = hv->ring[dom].virq;
	if (!db) {
		__atomic_store_n(&hv->evtchn_pending[dom], 1, __ATOMIC_SEQ_CST);
		p->ctr->notifies_suppressed++;
		return 0;
	}
	return p->ops->notify(p, db);
}

static bool ar_virq_pending(struct vtb_plat *p, const struct vtb_dom *self)
{
	struct vtb_proc_hv *hv = hv_of(p, self);
	if (!hv)
		return false;
	uint32_t *b = &hv->evtchn_pending[self->id];
	return VTB_READ_ONCE(*b) && __atomic_exchange_n(b, 0, __ATOMIC_SEQ_CST);
}

/* The receiver's rx_ptr, through a hypervisor copy, sanitized as Xen does.
 * The copy may read the 4 bytes one by one while the receiver stores them:
 * a second read must agree (counted: it is a copy). */
static int hv_read_rx(struct vtb_plat *p, const struct vtb_dom *dst, struct vtb_proc_hv_ring *r)
{
	uint32_t rx, again;
	struct vtb_copy_op rd = { r->gpa, &rx, sizeof(rx) }, rd2 = { r->gpa, &again, sizeof(again) };
	do {
		if (p->ops->copy(p, dst, &rd, 1, false) || p->ops->copy(p, dst, &rd2, 1, false))
			return -EFAULT;
	} while (rx != again);
	r->rx_seen = vtb_argo_rx_sanitize(vtb_le32(rx), r->len);
	return 0;
}

/* XEN_ARGO_OP_register_ring.  Xen's checks: a ring of whole slots, at
 * most XEN_ARGO_MAX_RING_SIZE. */
static int ar_register_ring(struct vtb_plat *p, const struct vtb_dom *self, void *ring, uint64_t gpa, uint32_t len,
			    uint32_t aport, const struct vtb_dom *partner, struct vtb_doorbell *virq)
{
	struct vtb_proc_hv *hv = hv_of(p, self);
	(void)ring;	/* the hypervisor reaches it by gpa */
	p->ctr->exits++;
	if (!hv || !partner)
		return -EINVAL;
	if (len % VTB_ARGO_MSG_SLOT_SIZE || len > VTB_ARGO_MAX_RING_SIZE ||
	    len < sizeof(struct vtb_argo_msg_hdr) + 2 * VTB_ARGO_MSG_SLOT_SIZE || gpa > self->ram_size ||
	    sizeof(struct vtb_argo_ring) + (uint64_t)len > self->ram_size - gpa)
		return -EINVAL;
	hv_fault_init();
	hv->ring[self->id] = (struct vtb_proc_hv_ring){
		.gpa = gpa, .len = len, .aport = aport, .partner = vtb_proc_domid(partner), .virq = virq,
	};
	VTB_STORE_RELEASE(hv->ring[self->id].registered, 1);
	return 0;
}

static int ar_unregister(struct vtb_plat *p, const struct vtb_dom *self, uint32_t aport)
{
	struct vtb_proc_hv *hv = hv_of(p, self);
	p->ctr->exits++;
	if (!hv || !hv->ring[self->id].registered || hv->ring[self->id].aport != aport)
		return -ENOENT;
	VTB_STORE_RELEASE(hv->ring[self->id].registered, 0);
	return 0;
}

/* XEN_ARGO_OP_sendv, as Xen's sendv, iov_count and ringbuf_insert: the
 * same checks in the same order, the same errors.  On -EAGAIN the sender
 * is queued (pending_requeue) to be signalled by the receiver's next
 * notify that finds the space. */
static int ar_sendv(struct vtb_plat *p, const struct vtb_dom *self, uint32_t src_aport, const struct vtb_dom *dst,
		    uint32_t dst_aport, const struct vtb_argo_iov *iov, unsigned n, uint32_t message_type)
{
	struct vtb_proc_hv *hv = hv_of(p, dst);
	struct vtb_copy_op ops[2 + 2 * VTB_ARGO_MAXIOV];
	uint32_t total = 0;
	if (n > VTB_ARGO_MAXIOV)
		return -EINVAL;
	if (!hv || !hv_of(p, self))
		return -ECONNREFUSED;
	struct vtb_proc_hv_ring *r = &hv->ring[dst->id];
	if (!VTB_LOAD_ACQUIRE(r->registered) || r->aport != dst_aport || r->partner != vtb_proc_domid(self))
		return -ECONNREFUSED;
	int e = hv_fault_due(self->id);
	if (e)
		return e;
	for (unsigned i = 0; i < n; i++) {
		if (iov[i].len > VTB_ARGO_MAX_MSG_SIZE)
			return -EINVAL;
		total += iov[i].len;
		if (total > VTB_ARGO_MAX_MSG_SIZE)
			return -EMSGSIZE;
	}
	uint32_t need = (uint32_t)sizeof(struct vtb_argo_msg_hdr) + vtb_argo_roundup(total);
	if (r->len <= need)
		return -EMSGSIZE;	/* never fits this ring */
	if (!vtb_argo_fits(r->len, r->rx_seen, r->tx, total)) {
		/* Our view of rx_ptr may be stale: read the receiver's. */
		if ((e = hv_read_rx(p, dst, r)))
			return e;
		if (!vtb_argo_fits(r->len, r->rx_seen, r->tx, total)) {
			if (VTB_READ_ONCE(r->space_wanted) < total)	/* one sender per ring: its entry */
				VTB_WRITE_ONCE(r->space_wanted, total);
			/* Xen checks and queues under the ring's lock, which notify
			 * takes too; here the receiver stores rx_ptr and then reads
			 * the queue, we queue and then read rx_ptr again, so one of
			 * us sees the other. */
			vtb_mb();
			if ((e = hv_read_rx(p, dst, r)))
				return e;
			if (!vtb_argo_fits(r->len, r->rx_seen, r->tx, total))
				return -EAGAIN;
		}
	}
	struct vtb_argo_msg_hdr h = {
		.len = vtb_le32((uint32_t)sizeof(h) + total),
		.source = { .aport = vtb_le32(src_aport), .domain_id = vtb_le16(vtb_proc_domid(self)) },
		.message_type = vtb_le32(message_type),
	};
	uint64_t data = r->gpa + sizeof(struct vtb_argo_ring);
	unsigned k = 0;
	uint32_t at = r->tx;
	ops[k++] = (struct vtb_copy_op){ data + at, &h, sizeof(h) };	/* 16-aligned: never wraps */
	at = (at + (uint32_t)sizeof(h)) % r->len;
	for (unsigned i = 0; i < n; i++) {
		uint32_t left = iov[i].len, done = 0;
		while (left) {
			uint32_t piece = r->len - at < left ? r->len - at : left;
			ops[k++] = (struct vtb_copy_op){ data + at, (char *)iov[i].base + done, piece };
			at = (at + piece) % r->len;
			done += piece;
			left -= piece;
		}
	}
	uint32_t tx = (r->tx + need) % r->len, tx_le = vtb_le32(tx);
	/* The new tx_ptr goes last in the same copy: on x86 its store is seen
	 * after the message's. */
	ops[k++] = (struct vtb_copy_op){ r->gpa + offsetof(struct vtb_argo_ring, tx_ptr), &tx_le, sizeof(tx_le) };
	if ((e = p->ops->copy(p, dst, ops, k, true)))
		return e;
	r->tx = tx;
	hv_signal(p, hv, dst->id);	/* VIRQ_ARGO to the receiver */
	return 0;
}

/* XEN_ARGO_OP_notify.  With a query: whether query's ring at aport exists
 * (a ring_data entry's XEN_ARGO_RING_EXISTS), nothing else.  Without:
 * notify_check_pending for the caller's ring: Xen reads rx_ptr through its
 * mapping and signals a sender queued on -EAGAIN once the payload space
 * covers what it waits for.  Here the hypervisor reads guest memory with a
 * copy, so the hypercall is one (counted: copies and exits), as sendv's
 * reads of rx_ptr are; the caller's own ring, so no torn read. */
static int ar_notify(struct vtb_plat *p, const struct vtb_dom *self, const struct vtb_dom *query, uint32_t aport,
		     uint32_t *flags)
{
	struct vtb_proc_hv *hv = hv_of(p, self);
	if (!hv)
		return -EINVAL;
	if (query) {
		p->ctr->exits++;
		struct vtb_proc_hv *qh = hv_of(p, query);
		*flags = qh && VTB_LOAD_ACQUIRE(qh->ring[query->id].registered) && qh->ring[query->id].aport == aport
				 ? VTB_ARGO_RING_EXISTS : 0;
		return 0;
	}
	struct vtb_proc_hv_ring *r = &hv->ring[self->id];
	if (!VTB_LOAD_ACQUIRE(r->registered))
		return -ENOENT;
	uint32_t rx;
	struct vtb_copy_op rd = { r->gpa, &rx, sizeof(rx) };
	int e = p->ops->copy(p, self, &rd, 1, false);
	if (e)
		return e;
	vtb_mb();	/* our rx_ptr store, then the read of the queue (sendv: the reverse) */
	uint32_t want = VTB_READ_ONCE(r->space_wanted);
	if (!want)
		return 0;
	rx = vtb_argo_rx_sanitize(vtb_le32(rx), r->len);
	if (vtb_argo_payload_space(r->len, rx, r->tx) < want)
		return 0;
	VTB_WRITE_ONCE(r->space_wanted, 0);
	return hv_signal(p, hv, !self->id);	/* the partner: the one sender */
}

const struct vtb_argo_service vtb_proc_argo_service = {
	.register_ring = ar_register_ring,
	.unregister = ar_unregister,
	.sendv = ar_sendv,
	.notify = ar_notify,
	.virq_pending = ar_virq_pending,
};
