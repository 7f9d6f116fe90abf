/* argo: hypervisor-mediated exchange (Xen Argo), no shared memory at all.
 * Each side registers a receive ring in its own RAM (64-byte header with
 * rx_ptr/tx_ptr, 16-byte slots); sendv, with at most 8 iovs, is the
 * hypervisor copying a message into the receiver's ring, -EAGAIN when it
 * lacks the space, and a signal to the receiver.  virtio over Argo as in
 * the OpenXT design (seed 003): the FE sends each request's header and
 * out-data on the BE's ring ("the ring for writes"), the BE returns used
 * entries and in-data on the FE's ring ("the ring for reads").  Variants:
 * sync (a sendv per request and per completion) and batch (requests and
 * completions gathered into one sendv, up to 8 iovs).
 * The hypervisor's part (register_ring, sendv, notify) is the platform's
 * Argo service (hvsvc.h; proc's is transports/proc/hv_argo.c).  The BE maps
 * no FE memory.  Sizes and errors follow Xen's argo.c: a message takes up
 * to the ring length minus a header and a slot (-EMSGSIZE beyond, ever;
 * -EAGAIN when the space is not there now), and a sender that got -EAGAIN
 * is woken only by the receiver's XEN_ARGO_OP_notify.  Any other sendv
 * error breaks the transport, with the reason in the row. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/vtb_argo.h"
#include "transport.h"

#define RING_BYTES (1u << 20)		/* each side's ring data */
/* The largest message payload either ring takes (1,048,544 bytes). */
#define AR_MAX_MSG vtb_argo_ring_max_msg(RING_BYTES)
#define MAXQ VTB_VDEV_MAX_QUEUES
#define MSG_REQ 1u
#define MSG_USED 2u
#define APORT 0x7674

enum { AR_SYNC, AR_BATCH };

/* Records inside a message payload, back to back. */
struct ar_req {
	uint16_t q;
	uint16_t nout;
	uint32_t id;
	uint32_t in_len;
	uint32_t out_len;		/* followed by out_len bytes */
};
struct ar_used {
	uint16_t q;
	uint16_t pad;
	uint32_t id;
	uint32_t len;			/* followed by len bytes */
	uint32_t pad2;
};
/* A request's device-readable bytes follow its record in one message, its
 * device-written bytes follow its completion record in one message. */
#define AR_MAX_OUT (AR_MAX_MSG - (uint32_t)sizeof(struct ar_req))
#define AR_MAX_IN (AR_MAX_MSG - (uint32_t)sizeof(struct ar_used))
/* A BE slot holds the largest request: out-data then in-data. */
#define AR_SLOT_BYTES ((size_t)AR_MAX_OUT + AR_MAX_IN)

static uint64_t argo_be_ram(const struct vtb_xenv *env)
{
	(void)env;
	return sizeof(struct vtb_argo_ring) + RING_BYTES + 4096;
}

/* ---------------------------------------------------------------- the hypervisor */

/* XEN_ARGO_OP_sendv from self to peer's ring (a sendv, counted whatever
 * it returns). */
static int ar_sendv(struct vtb_xenv *env, const struct vtb_dom *self, const struct vtb_dom *peer,
		    const struct vtb_argo_iov *iov, unsigned n, uint32_t type)
{
	struct vtb_plat *p = env->plat;
	p->ctr->xport_ops++;
	return p->ops->argo->sendv(p, self, APORT, peer, APORT, iov, n, type);
}

/* XEN_ARGO_OP_notify: Xen signals a sender waiting for space in our ring. */
static int ar_notify(struct vtb_xenv *env, const struct vtb_dom *self)
{
	return env->plat->ops->argo->notify(env->plat, self, NULL, 0, NULL);
}

/* Our VIRQ_ARGO's pending bit, tested and cleared (notify=poll). */
static bool ar_virq(struct vtb_xenv *env, const struct vtb_dom *self)
{
	return env->plat->ops->argo->virq_pending(env->plat, self);
}

/* XEN_ARGO_OP_register_ring: our receive ring, the peer its only sender;
 * VIRQ_ARGO on the doorbell we wait on (masked under notify=poll). */
static int ar_register(struct vtb_xenv *env, const struct vtb_dom *self, void *ring, uint64_t gpa,
		       const struct vtb_dom *peer, struct vtb_doorbell *virq)
{
	struct vtb_plat *p = env->plat;
	if (!p->ops->argo)
		return -EOPNOTSUPP;
	return p->ops->argo->register_ring(p, self, ring, gpa, RING_BYTES, APORT, peer, env->poll ? NULL : virq);
}

/* ---------------------------------------------------------------- receive side */

struct ar_rx {
	struct vtb_argo_ring *ring;
	uint32_t len;
	uint32_t rx;		/* consumed up to (published as rx_ptr) */
	uint32_t cur;		/* reading position inside the current message */
	uint32_t msg_end;
};

static void rx_read(struct ar_rx *x, void *dst, uint32_t n)
{
	uint32_t first = x->len - x->cur < n ? x->len - x->cur : n;
	memcpy(dst, x->ring->ring + x->cur, first);
	if (n > first)
		memcpy((char *)dst + first, x->ring->ring, n - first);
	x->cur = (x->cur + n) % x->len;
}

/* Next message: 1 with its payload bounds set, 0 if none, <0 if the ring
 * holds garbage (only the hypervisor writes it, but we check anyway). */
/* tx_ptr, which the platform's sendv writes.  Xen stores it in one 32-bit
 * store under the ring lock; proc's service writes it in the same
 * process_vm_writev as the message, which may copy a 4-byte field byte by
 * byte (copy_to_user without FSRM), so a torn value is possible while a
 * send lands: read until two reads a pause apart agree (v: the first).
 * Harmless where the store is atomic. */
static uint32_t tx_ptr_settle(const uint32_t *ptr, uint32_t v)
{
	uint32_t again;
	for (;;) {
		vtb_cpu_relax();
		again = VTB_LOAD_ACQUIRE(*ptr);
		if (again == v)
			return v;
		v = again;
	}
}

/* Reads a pointer that does not describe a whole message before it is
 * called garbage: a send caught mid-copy by a writer whose CPU was taken
 * away (steal, an interrupt) outlasts tx_ptr_settle's pause, but not this
 * many re-reads that all see the same value. */
#define AR_GARBAGE_READS (1u << 16)

static int rx_next(struct ar_rx *x, uint32_t *type, uint32_t *payload)
{
	/* The common empty poll costs one load: a torn value equal to rx
	 * only means "not yet". */
	uint32_t raw = VTB_LOAD_ACQUIRE(x->ring->tx_ptr);
	if (vtb_le32(raw) == x->rx)
		return 0;
	struct vtb_argo_msg_hdr h;
	uint32_t len;
	for (uint32_t same = 0;;) {
		uint32_t tx = vtb_le32(tx_ptr_settle(&x->ring->tx_ptr, raw));
		if (tx == x->rx)
			return 0;
		if (tx < x->len && tx % VTB_ARGO_MSG_SLOT_SIZE == 0) {
			x->cur = x->rx;
			rx_read(x, &h, sizeof(h));
			len = vtb_le32(h.len);
			uint32_t avail = (tx + x->len - x->rx) % x->len;
			if (len >= sizeof(h) && vtb_argo_roundup(len) <= avail)
				break;
		}
		uint32_t again = VTB_LOAD_ACQUIRE(x->ring->tx_ptr);
		same = again == raw ? same + 1 : 0;
		if (same >= AR_GARBAGE_READS)
			return -EPROTO;
		raw = again;
		vtb_cpu_relax();
	}
	*type = vtb_le32(h.message_type);
	*payload = len - (uint32_t)sizeof(h);
	x->msg_end = (x->rx + vtb_argo_roundup(len)) % x->len;
	return 1;
}

static void rx_done(struct ar_rx *x)
{
	x->rx = x->msg_end;
	VTB_STORE_RELEASE(x->ring->rx_ptr, vtb_le32(x->rx));
}

/* ================================================================ FE */
struct ar_fslot {
	void *token;
	uint16_t q;
	bool busy;
	unsigned nin, nout;
	uint32_t in_len, out_len;
	struct vtb_sg in[VTB_REQ_MAX_SEG];
	struct vtb_sg out[VTB_ARGO_MAXIOV - 1];
	struct ar_req hdr;
};

struct ar_done {
	void *token;
	uint32_t len;
};

struct ar_fe {
	struct vtb_xenv *env;
	struct vtb_vdrv drv;
	int variant;
	unsigned nq, nslot, cap;
	struct ar_rx rx;
	struct ar_fslot *slot;
	unsigned *free, nfree;
	struct ar_done *done[MAXQ];	/* completed, per queue, in order */
	unsigned dhead[MAXQ], dcount[MAXQ];
	unsigned *txq, txhead, txcount;	/* added, not yet sent: slot ids in order */
	bool stalled;			/* a sendv got -EAGAIN: retry after a VIRQ */
	bool broken;
};

/* A hypercall failed for good: the transport is broken, and says why. */
static int ar_fe_break(struct ar_fe *f, const char *what, int e)
{
	if (!f->broken)
		snprintf(f->env->why, sizeof(f->env->why), "argo FE: %s: %s", what, strerror(-e));
	f->broken = true;
	return e;
}

static void relax_yield(void *ctx)
{
	(void)ctx;
	sched_yield();
}

static int ar_fe_open(struct vtb_xenv *env, uint64_t wanted, void **out)
{
	struct ar_fe *f = calloc(1, sizeof(*f));
	uint64_t gpa;
	void *va;
	int err;
	if (!f)
		return -ENOMEM;
	f->env = env;
	f->variant = !strcmp(env->variant, "batch") ? AR_BATCH : AR_SYNC;
	f->drv = (struct vtb_vdrv){ .r = env->regs, .relax = relax_yield };
	if ((err = vtb_vdrv_reset(&f->drv)) ||
	    (err = vtb_vdrv_negotiate(&f->drv, wanted | VTB_BIT(VTB_F_VERSION_1), &env->features)))
		goto free_f;
	f->nq = env->regs->num_queues;
	f->cap = env->qsize;
	f->nslot = f->nq * f->cap;
	f->slot = calloc(f->nslot, sizeof(*f->slot));
	f->free = calloc(f->nslot, sizeof(*f->free));
	f->txq = calloc(f->nslot, sizeof(*f->txq));
	if (!f->slot || !f->free || !f->txq || f->nq > MAXQ) {
		err = -ENOMEM;
		goto free_all;
	}
	for (unsigned i = 0; i < f->nslot; i++)
		f->free[f->nfree++] = f->nslot - 1 - i;
	for (unsigned q = 0; q < f->nq; q++)
		if (!(f->done[q] = calloc(f->cap, sizeof(struct ar_done)))) {
			err = -ENOMEM;
			goto free_all;
		}
	/* XEN_ARGO_OP_register_ring: our receive ring, in our RAM. */
	if ((err = vtb_fe_alloc(env, sizeof(struct vtb_argo_ring) + RING_BYTES, 4096, &gpa, &va)))
		goto free_all;
	memset(va, 0, sizeof(struct vtb_argo_ring));
	f->rx = (struct ar_rx){ .ring = va, .len = RING_BYTES };
	if ((err = ar_register(env, env->fe, va, gpa, env->be, env->call)))
		goto free_all;
	/* Until the BE's ring exists (notify's ring_data query). */
	for (uint32_t flags = 0; !(flags & VTB_ARGO_RING_EXISTS);) {
		if ((err = env->plat->ops->argo->notify(env->plat, env->fe, env->be, APORT, &flags)))
			goto free_all;
		if (!(flags & VTB_ARGO_RING_EXISTS))
			sched_yield();
	}
	if ((err = vtb_vdrv_driver_ok(&f->drv)))
		goto free_all;
	*out = f;
	return 0;

free_all:
	for (unsigned q = 0; q < MAXQ; q++)
		free(f->done[q]);
	free(f->slot);
	free(f->free);
	free(f->txq);
free_f:
	free(f);
	return err;
}

/* Sends what was added, in order: sync one request per sendv, batch as
 * many as a message takes (8 iovs, AR_MAX_MSG bytes); all: also the last,
 * still open batch (a kick).  A request that finds no space (-EAGAIN) waits
 * here, accepted: the BE's notify signals the space (event) or the next
 * reap retries (poll); virtqueue adds fail for a lack of descriptors only.
 * Any other error breaks the transport. */
static int ar_fe_send(struct ar_fe *f, bool all)
{
	/* Stalled: Xen signals the space, so a retry before a VIRQ (event: a
	 * wake-up; poll: the pending bit) would only cost a hypercall. */
	if (f->stalled && !(f->env->poll && ar_virq(f->env, f->env->fe)))
		return -EAGAIN;
	f->stalled = false;
	while (f->txcount) {
		struct vtb_argo_iov iov[VTB_ARGO_MAXIOV];
		unsigned n = 0, k = 0;
		uint32_t bytes = 0;
		while (k < f->txcount) {
			struct ar_fslot *s = &f->slot[f->txq[(f->txhead + k) % f->nslot]];
			uint32_t len = (uint32_t)sizeof(s->hdr) + s->out_len;
			if (k && (f->variant == AR_SYNC || n + 1 + s->nout > VTB_ARGO_MAXIOV || bytes + len > AR_MAX_MSG))
				break;
			iov[n++] = (struct vtb_argo_iov){ &s->hdr, sizeof(s->hdr) };
			/* The out-data goes straight from our buffers: the hypervisor copies it. */
			for (unsigned i = 0; i < s->nout; i++)
				iov[n++] = (struct vtb_argo_iov){ f->env->ram + s->out[i].addr, s->out[i].len };
			bytes += len;
			k++;
		}
		if (!all && f->variant == AR_BATCH && k == f->txcount)
			break;	/* the batch is still open: the kick sends it */
		int e = ar_sendv(f->env, f->env->fe, f->env->be, iov, n, MSG_REQ);
		if (e) {
			if (e == -EAGAIN)
				f->stalled = true;
			else
				ar_fe_break(f, f->variant == AR_SYNC ? "sendv of a request" : "sendv of a batch", e);
			return e;
		}
		f->txhead = (f->txhead + k) % f->nslot;
		f->txcount -= k;
	}
	return 0;
}

static void ar_fe_release(struct ar_fe *f, unsigned id)
{
	f->slot[id].busy = false;
	f->free[f->nfree++] = id;
}

static int ar_fe_add(void *p, unsigned q, const struct vtb_sg *sg, unsigned nout, unsigned nin, void *token)
{
	struct ar_fe *f = p;
	if (f->broken)
		return -EIO;
	if (1 + nout > VTB_ARGO_MAXIOV || nin > VTB_REQ_MAX_SEG)
		return -E2BIG;
	uint64_t out_len = 0, in_len = 0;
	for (unsigned i = 0; i < nout + nin; i++)
		*(i < nout ? &out_len : &in_len) += sg[i].len;
	if (out_len > AR_MAX_OUT || in_len > AR_MAX_IN)
		return -EMSGSIZE;	/* no message can carry it (the suite refuses such cells) */
	if (!f->nfree)
		return -VTB_ENOSPC;
	unsigned id = f->free[--f->nfree];
	struct ar_fslot *s = &f->slot[id];
	s->token = token;
	s->q = (uint16_t)q;
	s->busy = true;
	s->nout = nout;
	s->nin = nin;
	s->out_len = (uint32_t)out_len;
	s->in_len = (uint32_t)in_len;
	memcpy(s->out, sg, nout * sizeof(*sg));
	memcpy(s->in, sg + nout, nin * sizeof(*sg));
	s->hdr = (struct ar_req){ vtb_le16((uint16_t)q), vtb_le16((uint16_t)nout), vtb_le32(id),
				  vtb_le32(s->in_len), vtb_le32(s->out_len) };
	f->txq[(f->txhead + f->txcount++) % f->nslot] = id;
	int e = ar_fe_send(f, false);
	return e == -EAGAIN ? 0 : e;
}

static void ar_fe_kick(void *p, unsigned q)
{
	(void)q;
	/* batch: one sendv for what gathered.  Errors other than -EAGAIN have
	 * broken the transport, which the next reap reports. */
	ar_fe_send(p, true);
}

/* Takes every message in our ring, delivering in-data to the buffers. */
static void ar_fe_drain(struct ar_fe *f)
{
	struct vtb_plat_counters *c = f->env->plat->ctr;
	uint32_t type, payload;
	unsigned took = 0;
	int r;
	while ((r = rx_next(&f->rx, &type, &payload)) > 0) {
		while (payload >= sizeof(struct ar_used)) {
			struct ar_used u;
			rx_read(&f->rx, &u, sizeof(u));
			payload -= (uint32_t)sizeof(u);
			uint32_t id = vtb_le32(u.id), len = vtb_le32(u.len);
			uint16_t q = vtb_le16(u.q);
			struct ar_fslot *s = id < f->nslot ? &f->slot[id] : NULL;
			if (type != MSG_USED || !s || !s->busy || s->q != q || len > s->in_len || len > payload ||
			    f->dcount[q] == f->cap) {
				ar_fe_break(f, "bad completion in the FE's ring", -EPROTO);
				return;
			}
			uint32_t left = len;
			for (unsigned i = 0; i < s->nin && left; i++) {
				uint32_t n = s->in[i].len < left ? s->in[i].len : left;
				rx_read(&f->rx, f->env->ram + s->in[i].addr, n);
				left -= n;
				c->bounce_copies++;
				c->bounce_bytes += n;
			}
			payload -= len;
			f->done[q][(f->dhead[q] + f->dcount[q]++) % f->cap] = (struct ar_done){ s->token, len };
			ar_fe_release(f, id);
		}
		if (payload) {
			ar_fe_break(f, "bad message in the FE's ring", -EPROTO);
			return;
		}
		rx_done(&f->rx);
		took++;
	}
	if (r < 0)
		ar_fe_break(f, "bad message in the FE's ring", r);
	/* What the OpenXT driver does after every receive interrupt: notify,
	 * so that Xen signals a sender waiting for space in our ring (it wakes
	 * blocked senders nowhere else, and we cannot see whether one waits):
	 * once per drain that took messages.  notify=poll too: a polling
	 * sender keeps its VIRQ masked and retries once Xen has set the
	 * channel's pending bit, which only this notify does for space. */
	int e;
	if (took && (e = ar_notify(f->env, f->env->fe)))
		ar_fe_break(f, "notify", e);
}

static void *ar_fe_get(void *p, unsigned q, uint32_t *len)
{
	struct ar_fe *f = p;
	if (f->txcount && f->env->poll)
		ar_fe_send(f, true);	/* what -EAGAIN left: a poller retries after the pending bit */
	if (!f->dcount[q])
		ar_fe_drain(f);
	if (f->broken || !f->dcount[q])
		return NULL;
	struct ar_done d = f->done[q][f->dhead[q]];
	f->dhead[q] = (f->dhead[q] + 1) % f->cap;
	f->dcount[q]--;
	if (len)
		*len = d.len;
	return d.token;
}

static unsigned ar_fe_free(void *p, unsigned q)
{
	(void)q;
	return ((struct ar_fe *)p)->nfree;
}

static bool ar_fe_enable_cb(void *p)
{
	struct ar_fe *f = p;
	/* Argo has no interrupt suppression: only say whether work waits. */
	if (f->txcount && ar_fe_send(f, true) != -EAGAIN)
		return true;	/* sent, or broken: the reap goes on or reports it */
	bool pending = vtb_le32(VTB_LOAD_ACQUIRE(f->rx.ring->tx_ptr)) != f->rx.rx;
	for (unsigned q = 0; q < f->nq; q++)
		pending |= f->dcount[q] != 0;
	return pending;
}

static void ar_fe_disable_cb(void *p) { (void)p; }

static int ar_fe_wait(void *p)
{
	struct ar_fe *f = p;
	int e = f->env->plat->ops->wait(f->env->plat, f->env->call);
	f->stalled = false;	/* a VIRQ: the space may be there */
	return e;
}

static bool ar_fe_broken(void *p)
{
	struct ar_fe *f = p;
	return f->broken || (VTB_READ_ONCE(f->env->regs->status) & VTB_S_NEEDS_RESET);
}

static void ar_fe_close(void *p)
{
	struct ar_fe *f = p;
	for (unsigned q = 0; q < MAXQ; q++)
		free(f->done[q]);
	free(f->slot);
	free(f->free);
	free(f->txq);
	free(f);
}

/* ================================================================ BE */
struct ar_bslot {
	uint32_t id;		/* the FE's */
	uint16_t q;
	bool busy;
	uint32_t out_len, in_len, written;
	char *buf;		/* out-data then in-data, BE memory: AR_SLOT_BYTES */
	struct ar_used used;
};

struct ar_be {
	struct vtb_xenv *env;
	char *slot_mem;		/* nslot * AR_SLOT_BYTES, reserved at open */
	struct vtb_vdev_state st;
	int variant;
	unsigned nq, nslot, cap;
	struct ar_rx rx;
	struct ar_bslot *slot;
	unsigned *free, nfree;
	unsigned *pend[MAXQ], phead[MAXQ], pcount[MAXQ];	/* received, not yet popped */
	unsigned *out, nout;					/* completions not yet sent */
	bool stalled;						/* as the FE's */
};

static int ar_be_fail(struct ar_be *b, const char *what, int err)
{
	if (!b->st.broken)
		snprintf(b->env->why, sizeof(b->env->why), "argo BE: %s: %s", what, strerror(-err));
	return vtb_vdev_fail(b->env->regs, &b->st, err);
}

static int ar_be_open(struct vtb_xenv *env, void **out)
{
	struct ar_be *b = calloc(1, sizeof(*b));
	int err;
	if (!b)
		return -ENOMEM;
	b->env = env;
	b->variant = !strcmp(env->variant, "batch") ? AR_BATCH : AR_SYNC;
	if ((err = vtb_vdev_publish(env->regs, env->device_id, env->device_features, env->nqueues,
				    VTB_VQ_MAX_SIZE, env->config, env->config_len)))
		goto free_b;
	b->nq = env->nqueues;
	b->cap = env->qsize;
	b->nslot = b->nq * b->cap;
	b->slot = calloc(b->nslot, sizeof(*b->slot));
	b->free = calloc(b->nslot, sizeof(*b->free));
	b->out = calloc(b->nslot, sizeof(*b->out));
	if (!b->slot || !b->free || !b->out) {
		err = -ENOMEM;
		goto free_all;
	}
	/* Every slot's buffer is reserved at open, as large as a request can
	 * be: the data path never allocates (an allocation in the measured
	 * phase is a cost no seam counter sees, and under ASan an mmap the
	 * probes count).  Address space only: pages arrive as they are used. */
	b->slot_mem = mmap(NULL, b->nslot * AR_SLOT_BYTES, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->slot_mem == MAP_FAILED) {
		b->slot_mem = NULL;
		err = -ENOMEM;
		goto free_all;
	}
	for (unsigned i = 0; i < b->nslot; i++) {
		b->slot[i].buf = b->slot_mem + i * AR_SLOT_BYTES;
		b->free[b->nfree++] = b->nslot - 1 - i;
	}
	for (unsigned q = 0; q < b->nq; q++)
		if (!(b->pend[q] = calloc(b->cap, sizeof(unsigned)))) {
			err = -ENOMEM;
			goto free_all;
		}
	/* Our receive ring, in our own RAM at guest address 0. */
	b->rx = (struct ar_rx){ .ring = (void *)env->be_ram, .len = RING_BYTES };
	memset(env->be_ram, 0, sizeof(struct vtb_argo_ring));
	if ((err = ar_register(env, env->be, env->be_ram, 0, env->fe, env->kick)))
		goto free_all;
	if ((err = vtb_vdev_wait_live(env->regs, &b->st, NULL, relax_yield, NULL)))
		goto free_all;
	env->features = b->st.features;
	*out = b;
	return 0;

free_all:
	for (unsigned q = 0; q < MAXQ; q++)
		free(b->pend[q]);
	if (b->slot_mem)
		munmap(b->slot_mem, b->nslot * AR_SLOT_BYTES);
	free(b->slot);
	free(b->free);
	free(b->out);
free_b:
	free(b);
	return err;
}

/* Takes every message in our ring: requests are copied out of it (the ring
 * space must come back before they are served) into our own buffers. */
static int ar_be_drain(struct ar_be *b)
{
	struct vtb_plat_counters *c = b->env->plat->ctr;
	uint32_t type, payload;
	unsigned took = 0;
	int r;
	while ((r = rx_next(&b->rx, &type, &payload)) > 0) {
		while (payload >= sizeof(struct ar_req)) {
			struct ar_req h;
			rx_read(&b->rx, &h, sizeof(h));
			payload -= (uint32_t)sizeof(h);
			uint16_t q = vtb_le16(h.q);
			uint32_t out_len = vtb_le32(h.out_len), in_len = vtb_le32(h.in_len);
			/* in_len: what one completion message can carry back. */
			if (type != MSG_REQ || q >= b->nq || out_len > payload || in_len > AR_MAX_IN ||
			    !b->nfree || b->pcount[q] == b->cap)
				return ar_be_fail(b, "bad request in the BE's ring", -EPROTO);
			unsigned sid = b->free[--b->nfree];
			struct ar_bslot *s = &b->slot[sid];
			s->id = vtb_le32(h.id);
			s->q = q;
			s->busy = true;
			s->out_len = out_len;
			s->in_len = in_len;
			rx_read(&b->rx, s->buf, out_len);
			if (out_len) {
				c->bounce_copies++;
				c->bounce_bytes += out_len;
			}
			payload -= out_len;
			b->pend[q][(b->phead[q] + b->pcount[q]++) % b->cap] = sid;
		}
		if (payload) {
			r = -EPROTO;
			break;
		}
		rx_done(&b->rx);
		took++;
	}
	if (r < 0)
		return ar_be_fail(b, "bad message in the BE's ring", r);
	/* As the FE's drain: notify after taking messages, in both modes. */
	int e;
	if (took && (e = ar_notify(b->env, b->env->be)))
		return ar_be_fail(b, "notify", e);
	return 0;
}

static int ar_be_pop(void *p, unsigned q, struct vtb_req *req)
{
	struct ar_be *b = p;
	if (b->st.broken)
		return -EIO;
	if (!b->pcount[q]) {
		int e = ar_be_drain(b);
		if (e)
			return e;
		if (!b->pcount[q])
			return 0;
	}
	unsigned sid = b->pend[q][b->phead[q]];
	b->phead[q] = (b->phead[q] + 1) % b->cap;
	b->pcount[q]--;
	struct ar_bslot *s = &b->slot[sid];
	req->nout = req->nin = 0;
	if (s->out_len) {
		req->iov[0] = (struct vtb_iov){ s->buf, s->out_len };
		req->nout = 1;
	}
	if (s->in_len) {
		req->iov[req->nout] = (struct vtb_iov){ s->buf + s->out_len, s->in_len };
		req->nin = 1;
	}
	req->out_bytes = s->out_len;
	req->in_bytes = s->in_len;
	req->q = (uint16_t)q;
	req->head = (uint16_t)sid;
	return 1;
}

/* Sends queued completions: sync one sendv each, batch as many as fit in a
 * message (8 iovs, AR_MAX_MSG bytes).  -EAGAIN leaves the rest queued (the
 * FE's notify signals the space); any other error breaks the transport. */
static int ar_be_send(struct ar_be *b)
{
	unsigned done = 0;
	int e = 0;
	if (b->st.broken)
		return -EIO;
	if (b->stalled && !(b->env->poll && ar_virq(b->env, b->env->be)))
		return 0;	/* no retry before a VIRQ, as the FE's */
	b->stalled = false;
	while (done < b->nout) {
		struct vtb_argo_iov iov[VTB_ARGO_MAXIOV];
		unsigned n = 0, k = done;
		uint32_t bytes = 0;
		while (k < b->nout) {
			struct ar_bslot *s = &b->slot[b->out[k]];
			unsigned need = s->written ? 2 : 1;
			uint32_t len = (uint32_t)sizeof(s->used) + s->written;
			if (n && (n + need > VTB_ARGO_MAXIOV || bytes + len > AR_MAX_MSG || b->variant == AR_SYNC))
				break;
			iov[n++] = (struct vtb_argo_iov){ &s->used, sizeof(s->used) };
			if (s->written)
				iov[n++] = (struct vtb_argo_iov){ s->buf + s->out_len, s->written };
			bytes += len;
			k++;
		}
		e = ar_sendv(b->env, b->env->be, b->env->fe, iov, n, MSG_USED);
		if (e) {
			if (e == -EAGAIN) {
				e = 0;	/* the FE's ring is full: its notify signals the space */
				b->stalled = true;
			}
			else
				ar_be_fail(b, "sendv of completions", e);
			break;
		}
		for (; done < k; done++) {
			unsigned sid = b->out[done];
			b->slot[sid].busy = false;
			b->free[b->nfree++] = sid;
		}
	}
	memmove(b->out, b->out + done, (b->nout - done) * sizeof(*b->out));
	b->nout -= done;
	return e;
}

static int ar_be_push(void *p, struct vtb_req *req, uint32_t written)
{
	struct ar_be *b = p;
	struct ar_bslot *s = &b->slot[req->head];
	s->written = written < s->in_len ? written : s->in_len;
	s->used = (struct ar_used){ vtb_le16(s->q), 0, vtb_le32(s->id), vtb_le32(s->written), 0 };
	b->out[b->nout++] = req->head;
	return b->variant == AR_SYNC ? ar_be_send(b) : 0;
}

static void ar_be_flush(void *p)
{
	ar_be_send(p);
}

static bool ar_be_enable_notify(void *p, uint32_t qmask)
{
	struct ar_be *b = p;
	if (b->st.broken)
		return true;	/* nothing to wait for: the next pop reports it */
	if (b->nout && ar_be_send(b))	/* completions wait for ring space: not idle */
		return true;	/* broken now: the next pop reports it */
	bool pending = vtb_le32(VTB_LOAD_ACQUIRE(b->rx.ring->tx_ptr)) != b->rx.rx;
	for (unsigned q = 0; q < b->nq; q++)
		if (qmask & (1u << q))
			pending |= b->pcount[q] != 0;
	return pending;
}

static void ar_be_disable_notify(void *p) { (void)p; }

static int ar_be_wait(void *p)
{
	struct ar_be *b = p;
	int e = b->env->plat->ops->wait(b->env->plat, b->env->kick);
	b->stalled = false;
	return e;
}

static bool ar_be_broken(void *p)
{
	return ((struct ar_be *)p)->st.broken;
}

static void ar_be_close(void *p)
{
	struct ar_be *b = p;
	if (b->slot_mem)
		munmap(b->slot_mem, b->nslot * AR_SLOT_BYTES);
	for (unsigned q = 0; q < MAXQ; q++)
		free(b->pend[q]);
	free(b->slot);
	free(b->free);
	free(b->out);
	free(b);
}

/* A request's out-data rides in one message, its in-data in another. */
static void argo_max_request(const struct vtb_xenv *env, uint64_t *out, uint64_t *in)
{
	(void)env;
	*out = AR_MAX_OUT;
	*in = AR_MAX_IN;
}

static const char *const argo_variants[] = { "sync", "batch", NULL };
static const char *const argo_variant_desc[] = {
	"a sendv per request and per completion",
	"requests and completions gathered into sendv calls of up to 8 iovs",
	NULL,
};

const struct vtb_transport_ops vtb_transport_argo = {
	.name = "argo",
	.desc = "Xen Argo: hypervisor copies messages into each side's own receive ring; no shared memory",
	.variants = argo_variants,
	.variant_desc = argo_variant_desc,
	/* Messages, not descriptors: indirect=1 changes nothing here. */
	.caps = VTB_CAP_NOTIFY_EVENT | VTB_CAP_NOTIFY_POLL | VTB_CAP_BE_RAM | VTB_CAP_MAX_REQUEST,
	.be_ram_bytes = argo_be_ram,
	.max_request = argo_max_request,
	.needs = VTB_NEEDS_ARGO,
	.fe_open = ar_fe_open,
	.fe_add = ar_fe_add,
	.fe_kick = ar_fe_kick,
	.fe_get = ar_fe_get,
	.fe_free = ar_fe_free,
	.fe_enable_cb = ar_fe_enable_cb,
	.fe_disable_cb = ar_fe_disable_cb,
	.fe_wait = ar_fe_wait,
	.fe_broken = ar_fe_broken,
	.fe_close = ar_fe_close,
	.be_open = ar_be_open,
	.be_pop = ar_be_pop,
	.be_push = ar_be_push,
	.be_flush = ar_be_flush,
	.be_enable_notify = ar_be_enable_notify,
	.be_disable_notify = ar_be_disable_notify,
	.be_wait = ar_be_wait,
	.be_broken = ar_be_broken,
	.be_close = ar_be_close,
};
