/* fatvq: Arnd Bergmann's fat virtqueues, as specified in fatvq.md.  The
 * region holds, per virtqueue, a request ring and a completion ring of TLV
 * entries with the data inline.  The FE copies device-readable data in and
 * device-written data out; the device works in place and never maps or
 * copies after setup.  Strictly in order. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/vtb_fatvq.h"
#include "transport.h"

#define MAXQ VTB_VDEV_MAX_QUEUES
#define ENT sizeof(struct vtb_fatvq_ent)

static uint32_t ring_data(const struct vtb_xenv *env)
{
	return env->ring_bytes ? env->ring_bytes : VTB_FATVQ_DEFAULT_BYTES;
}

static uint64_t fatvq_region_bytes(const struct vtb_xenv *env)
{
	return 2ull * env->nqueues * vtb_fatvq_ring_size(ring_data(env));
}

/* Both sides refuse an entry (header and payload) over half a ring, so that
 * a full-size entry never waits for a ring that can never hold it with one
 * in flight: out-data inline in the request, in-data in the completion. */
static void fatvq_max_request(const struct vtb_xenv *env, uint64_t *out, uint64_t *in)
{
	*out = *in = ring_data(env) / 2 - sizeof(struct vtb_fatvq_ent);
}

static struct vtb_fatvq_ring *ring_at(char *region, const struct vtb_xenv *env, unsigned q, bool cmp)
{
	return (void *)(region + (2ull * q + cmp) * vtb_fatvq_ring_size(ring_data(env)));
}

static void relax_yield(void *ctx)
{
	(void)ctx;
	sched_yield();
}

/* ================================================================ FE */
struct fq_req {
	void *token;
	uint32_t id;
	uint32_t in_len;
	unsigned nin;
	struct vtb_sg in[VTB_REQ_MAX_SEG];
};

struct fq_feq {
	struct vtb_fatvq_ring *req, *cmp;
	uint32_t req_prod, kicked, cmp_cons;
	struct fq_req *fifo;	/* in flight, in order */
	unsigned head, count;
};

struct fq_fe {
	struct vtb_xenv *env;
	struct vtb_vdrv drv;
	uint32_t size;
	unsigned nq, cap;
	uint32_t next_id;
	bool broken;
	struct fq_feq q[MAXQ];
};

static int fq_fe_open(struct vtb_xenv *env, uint64_t wanted, void **out)
{
	struct fq_fe *f = calloc(1, sizeof(*f));
	int err;
	if (!f)
		return -ENOMEM;
	f->env = env;
	f->size = ring_data(env);
	f->cap = env->qsize;
	f->drv = (struct vtb_vdrv){ .r = env->regs, .relax = relax_yield };
	if ((err = vtb_vdrv_reset(&f->drv)) ||
	    (err = vtb_vdrv_negotiate(&f->drv, wanted | VTB_BIT(VTB_F_VERSION_1), &env->features)))
		goto free_f;
	f->nq = env->regs->num_queues;
	if (f->nq > MAXQ) {
		err = -EPROTO;
		goto free_f;
	}
	char *region = env->ram + env->shared_gpa;
	memset(region, 0, fatvq_region_bytes(env));
	for (unsigned q = 0; q < f->nq; q++) {
		f->q[q].req = ring_at(region, env, q, false);
		f->q[q].cmp = ring_at(region, env, q, true);
		f->q[q].fifo = calloc(f->cap, sizeof(struct fq_req));
		if (!f->q[q].fifo) {
			err = -ENOMEM;
			goto free_q;
		}
	}
	if ((err = vtb_vdrv_driver_ok(&f->drv)))
		goto free_q;
	*out = f;
	return 0;

free_q:
	for (unsigned q = 0; q < f->nq; q++)
		free(f->q[q].fifo);
free_f:
	free(f);
	return err;
}

static int fq_fe_add(void *p, unsigned q, const struct vtb_sg *sg, unsigned nout, unsigned nin, void *token)
{
	struct fq_fe *f = p;
	struct fq_feq *fq = &f->q[q];
	struct vtb_plat_counters *c = f->env->plat->ctr;
	uint32_t out_len = 0, in_len = 0, at;

	if (f->broken)
		return -EIO;
	if (fq->count == f->cap)
		return -VTB_ENOSPC;
	for (unsigned i = 0; i < nout + nin; i++)
		*(i < nout ? &out_len : &in_len) += sg[i].len;
	if (vtb_fatvq_ent_bytes(out_len) > f->size / 2 || vtb_fatvq_ent_bytes(in_len) > f->size / 2)
		return -E2BIG;
	uint32_t cons = VTB_LOAD_ACQUIRE(fq->req->cons);
	if (!vtb_fatvq_reserve(fq->req, f->size, &fq->req_prod, cons, vtb_fatvq_ent_bytes(out_len), &at)) {
		if (!f->env->poll) {	/* ask to be told when space frees */
			VTB_WRITE_ONCE(fq->req->need_space, 1);
			vtb_mb();
		}
		return -VTB_ENOSPC;
	}
	uint8_t *e = fq->req->data + (at & (f->size - 1));
	struct vtb_fatvq_ent h = { vtb_le16(VTB_FATVQ_REQ), 0, vtb_le32(out_len), vtb_le32(f->next_id), vtb_le32(in_len) };
	memcpy(e, &h, ENT);
	uint32_t off = ENT;
	for (unsigned i = 0; i < nout; i++) {
		memcpy(e + off, f->env->ram + sg[i].addr, sg[i].len);
		off += sg[i].len;
		c->bounce_copies++;
		c->bounce_bytes += sg[i].len;
	}
	VTB_STORE_RELEASE(fq->req->prod, vtb_le32(fq->req_prod));
	struct fq_req *r = &fq->fifo[(fq->head + fq->count) % f->cap];
	r->token = token;
	r->id = f->next_id++;
	r->in_len = in_len;
	r->nin = nin;
	memcpy(r->in, sg + nout, nin * sizeof(*sg));
	fq->count++;
	return 0;
}

static void fq_fe_kick(void *p, unsigned q)
{
	struct fq_fe *f = p;
	struct fq_feq *fq = &f->q[q];
	struct vtb_plat *plat = f->env->plat;
	if (fq->kicked == fq->req_prod)
		return;
	fq->kicked = fq->req_prod;
	vtb_mb();	/* prod visible before we read the device's wish */
	if (VTB_READ_ONCE(fq->req->need_kick))
		plat->ops->notify(plat, f->env->kick);
	else
		plat->ctr->notifies_suppressed++;
}

static void *fq_fe_get(void *p, unsigned q, uint32_t *len)
{
	struct fq_fe *f = p;
	struct fq_feq *fq = &f->q[q];
	struct vtb_plat *plat = f->env->plat;
	struct vtb_fatvq_ent e;
	if (f->broken || !fq->count)
		return NULL;
	uint32_t prod = vtb_le32(VTB_LOAD_ACQUIRE(fq->cmp->prod));
	for (;;) {
		if (prod == fq->cmp_cons)
			return NULL;
		int r = vtb_fatvq_peek(fq->cmp, f->size, &fq->cmp_cons, &e);
		if (r > 0)
			break;
		if (r < 0 || (uint32_t)(prod - fq->cmp_cons) > f->size) {
			f->broken = true;
			return NULL;
		}
	}
	struct fq_req *rq = &fq->fifo[fq->head];
	uint32_t bytes = vtb_fatvq_ent_bytes(e.aux);
	if (e.type != VTB_FATVQ_CMP || e.id != rq->id || e.aux != rq->in_len || e.len > e.aux ||
	    bytes > prod - fq->cmp_cons) {
		f->broken = true;	/* the device broke the protocol */
		return NULL;
	}
	const uint8_t *src = fq->cmp->data + (fq->cmp_cons & (f->size - 1)) + ENT;
	uint32_t left = e.len;
	for (unsigned i = 0; i < rq->nin && left; i++) {
		uint32_t n = rq->in[i].len < left ? rq->in[i].len : left;
		memcpy(f->env->ram + rq->in[i].addr, src, n);
		src += n;
		left -= n;
		plat->ctr->bounce_copies++;
		plat->ctr->bounce_bytes += n;
	}
	fq->cmp_cons += bytes;
	VTB_STORE_RELEASE(fq->cmp->cons, vtb_le32(fq->cmp_cons));
	vtb_mb();
	if (VTB_READ_ONCE(fq->cmp->need_space)) {	/* the device waits for room */
		VTB_WRITE_ONCE(fq->cmp->need_space, 0);
		plat->ops->notify(plat, f->env->kick);
	}
	fq->head = (fq->head + 1) % f->cap;
	fq->count--;
	if (len)
		*len = e.len;
	return rq->token;
}

static unsigned fq_fe_free(void *p, unsigned q)
{
	struct fq_fe *f = p;
	return f->cap - f->q[q].count;
}

static bool fq_fe_enable_cb(void *p)
{
	struct fq_fe *f = p;
	bool pending = false;
	for (unsigned q = 0; q < f->nq; q++) {
		VTB_WRITE_ONCE(f->q[q].cmp->need_kick, 1);
		vtb_mb();
		pending |= vtb_le32(VTB_READ_ONCE(f->q[q].cmp->prod)) != f->q[q].cmp_cons;
		/* Waiting for request space counts as waiting for the device. */
		pending |= VTB_READ_ONCE(f->q[q].req->need_space) &&
			   f->size - (f->q[q].req_prod - vtb_le32(VTB_READ_ONCE(f->q[q].req->cons))) >= f->size / 2;
	}
	return pending;
}

static void fq_fe_disable_cb(void *p)
{
	struct fq_fe *f = p;
	for (unsigned q = 0; q < f->nq; q++)
		VTB_WRITE_ONCE(f->q[q].cmp->need_kick, 0);
}

static int fq_fe_wait(void *p)
{
	struct fq_fe *f = p;
	return f->env->plat->ops->wait(f->env->plat, f->env->call);
}

static bool fq_fe_broken(void *p)
{
	struct fq_fe *f = p;
	return f->broken || (VTB_READ_ONCE(f->env->regs->status) & VTB_S_NEEDS_RESET);
}

static void fq_fe_close(void *p)
{
	struct fq_fe *f = p;
	for (unsigned q = 0; q < f->nq; q++)
		free(f->q[q].fifo);
	free(f);
}

/* ================================================================ BE */
struct fq_slot {
	uint32_t req_end;	/* release req cons to here when published */
	uint32_t at;		/* the reserved CMP */
	uint32_t id, in_len, written;
	bool done;
};

struct fq_beq {
	struct vtb_fatvq_ring *req, *cmp;
	uint32_t rd;		/* next REQ to take */
	uint32_t cmp_prod;	/* reserved up to */
	bool published, released, want_space;
	struct fq_slot *fifo;
	unsigned head, count;
};

struct fq_be {
	struct vtb_xenv *env;
	struct vtb_vdev_state st;
	char *region;
	uint64_t region_size;
	uint32_t size;
	unsigned nq, cap;
	struct fq_beq q[MAXQ];
};

static int fq_be_fail(struct fq_be *b, int err)
{
	return vtb_vdev_fail(b->env->regs, &b->st, err);
}

static int fq_be_open(struct vtb_xenv *env, void **out)
{
	struct fq_be *b = calloc(1, sizeof(*b));
	int err;
	if (!b)
		return -ENOMEM;
	b->env = env;
	b->size = ring_data(env);
	b->cap = env->qsize;
	if ((err = vtb_vdev_publish(env->regs, env->device_id, env->device_features, env->nqueues,
				    VTB_VQ_MAX_SIZE, env->config, env->config_len)))
		goto free_b;
	b->region_size = env->shared_size;
	b->region = env->plat->ops->map(env->plat, env->fe, env->shared_gpa, env->shared_size, true, NULL);
	if (!b->region) {
		err = -errno;
		goto free_b;
	}
	if ((err = vtb_vdev_wait_live(env->regs, &b->st, NULL, relax_yield, NULL)))
		goto unmap;
	env->features = b->st.features;
	b->nq = env->nqueues;
	for (unsigned q = 0; q < b->nq; q++) {
		b->q[q].req = ring_at(b->region, env, q, false);
		b->q[q].cmp = ring_at(b->region, env, q, true);
		b->q[q].fifo = calloc(b->cap, sizeof(struct fq_slot));
		if (!b->q[q].fifo) {
			err = -ENOMEM;
			goto free_q;
		}
	}
	*out = b;
	return 0;

free_q:
	for (unsigned q = 0; q < b->nq; q++)
		free(b->q[q].fifo);
unmap:
	env->plat->ops->unmap(env->plat, b->region, b->region_size, false);
free_b:
	free(b);
	return err;
}

static int fq_be_pop(void *p, unsigned q, struct vtb_req *req)
{
	struct fq_be *b = p;
	struct fq_beq *bq = &b->q[q];
	struct vtb_fatvq_ent e;
	if (b->st.broken)
		return -EIO;
	if (bq->count == b->cap)
		return 0;
	uint32_t prod = vtb_le32(VTB_LOAD_ACQUIRE(bq->req->prod));
	uint32_t rd = bq->rd;
	for (;;) {
		if (prod == rd)
			return 0;
		if ((uint32_t)(prod - rd) > b->size)
			return fq_be_fail(b, -EPROTO);
		int r = vtb_fatvq_peek(bq->req, b->size, &rd, &e);
		if (r < 0)
			return fq_be_fail(b, -EPROTO);
		if (r > 0)
			break;
	}
	/* Validate the header we read once; only then trust it. */
	uint32_t bytes = vtb_fatvq_ent_bytes(e.len);
	if (e.type != VTB_FATVQ_REQ || e.flags || e.len > b->size / 2 || bytes > prod - rd ||
	    (rd & (b->size - 1)) + bytes > b->size || vtb_fatvq_ent_bytes(e.aux) > b->size / 2)
		return fq_be_fail(b, -EPROTO);
	/* Room for its completion first: in order means no skipping ahead. */
	uint32_t at, cons = vtb_le32(VTB_LOAD_ACQUIRE(bq->cmp->cons));
	if (!vtb_fatvq_reserve(bq->cmp, b->size, &bq->cmp_prod, cons, vtb_fatvq_ent_bytes(e.aux), &at)) {
		bq->want_space = true;
		return 0;
	}
	bq->want_space = false;
	unsigned slot = (bq->head + bq->count) % b->cap;
	bq->fifo[slot] = (struct fq_slot){ .req_end = rd + bytes, .at = at, .id = e.id, .in_len = e.aux };
	bq->count++;
	req->nout = req->nin = 0;
	if (e.len) {
		req->iov[req->nout].base = bq->req->data + (rd & (b->size - 1)) + ENT;
		req->iov[req->nout++].len = e.len;
	}
	if (e.aux) {
		req->iov[req->nout].base = bq->cmp->data + (at & (b->size - 1)) + ENT;
		req->iov[req->nout + req->nin++].len = e.aux;
	}
	req->out_bytes = e.len;
	req->in_bytes = e.aux;
	req->q = (uint16_t)q;
	req->head = (uint16_t)slot;
	bq->rd = rd + bytes;
	return 1;
}

static int fq_be_push(void *p, struct vtb_req *req, uint32_t written)
{
	struct fq_be *b = p;
	struct fq_beq *bq = &b->q[req->q];
	struct fq_slot *s = &bq->fifo[req->head];
	s->done = true;
	s->written = written < s->in_len ? written : s->in_len;
	/* Publish in order: a later completion waits for the earlier ones. */
	while (bq->count && bq->fifo[bq->head].done) {
		struct fq_slot *h = &bq->fifo[bq->head];
		struct vtb_fatvq_ent e = { vtb_le16(VTB_FATVQ_CMP), 0, vtb_le32(h->written), vtb_le32(h->id),
					   vtb_le32(h->in_len) };
		memcpy(bq->cmp->data + (h->at & (b->size - 1)), &e, ENT);
		VTB_STORE_RELEASE(bq->cmp->prod, vtb_le32(h->at + vtb_fatvq_ent_bytes(h->in_len)));
		VTB_STORE_RELEASE(bq->req->cons, vtb_le32(h->req_end));
		h->done = false;
		bq->head = (bq->head + 1) % b->cap;
		bq->count--;
		bq->published = bq->released = true;
	}
	return 0;
}

static void fq_be_flush(void *p)
{
	struct fq_be *b = p;
	struct vtb_plat *plat = b->env->plat;
	bool need = false, any = false;
	vtb_mb();	/* published indices before we read the driver's wishes */
	for (unsigned q = 0; q < b->nq; q++) {
		struct fq_beq *bq = &b->q[q];
		if (bq->published) {
			any = true;
			need |= VTB_READ_ONCE(bq->cmp->need_kick) != 0;
		}
		if (bq->released && VTB_READ_ONCE(bq->req->need_space)) {
			VTB_WRITE_ONCE(bq->req->need_space, 0);
			need = true;
		}
		bq->published = bq->released = false;
	}
	if (need)
		plat->ops->notify(plat, b->env->call);
	else if (any)
		plat->ctr->notifies_suppressed++;
}

static bool fq_be_enable_notify(void *p, uint32_t qmask)
{
	struct fq_be *b = p;
	bool pending = false;
	for (unsigned q = 0; q < b->nq; q++) {
		struct fq_beq *bq = &b->q[q];
		if (!(qmask & (1u << q)))
			continue;
		VTB_WRITE_ONCE(bq->req->need_kick, 1);
		if (bq->want_space)
			VTB_WRITE_ONCE(bq->cmp->need_space, 1);
		vtb_mb();
		bool has_req = vtb_le32(VTB_READ_ONCE(bq->req->prod)) != bq->rd;
		bool room = !bq->want_space ||
			    b->size - (bq->cmp_prod - vtb_le32(VTB_READ_ONCE(bq->cmp->cons))) >= b->size / 2;
		pending |= has_req && room;
	}
	return pending;
}

static void fq_be_disable_notify(void *p)
{
	struct fq_be *b = p;
	for (unsigned q = 0; q < b->nq; q++)
		VTB_WRITE_ONCE(b->q[q].req->need_kick, 0);
}

static int fq_be_wait(void *p)
{
	struct fq_be *b = p;
	return b->env->plat->ops->wait(b->env->plat, b->env->kick);
}

static bool fq_be_broken(void *p)
{
	return ((struct fq_be *)p)->st.broken;
}

static void fq_be_close(void *p)
{
	struct fq_be *b = p;
	for (unsigned q = 0; q < b->nq; q++)
		free(b->q[q].fifo);
	b->env->plat->ops->unmap(b->env->plat, b->region, b->region_size, false);
	free(b);
}

static const char *const fatvq_variants[] = { "inline", NULL };
static const char *const fatvq_variant_desc[] = {
	"request and completion rings of TLV entries with data inline (fatvq.md), ring=512k each",
	NULL,
};

static const struct vtb_xport_opt fatvq_opts[] = {
	{ "ring", VTB_XOPT_BYTES, "512k", 4096, 64u << 20, VTB_XOPT_POW2, NULL, VTB_XOPT_AT(ring_bytes),
	  "bytes of each ring (a power of two, 4k..64m)" },
	{ NULL, VTB_XOPT_UINT, NULL, 0, 0, 0, NULL, 0, 0, NULL },
};

const struct vtb_transport_ops vtb_transport_fatvq = {
	.name = "fatvq",
	.desc = "fat virtqueues: data inline in rings in a pre-shared region, strictly in order, no descriptors",
	.variants = fatvq_variants,
	.variant_desc = fatvq_variant_desc,
	/* No descriptors at all: indirect=1 changes nothing here. */
	.caps = VTB_CAP_NOTIFY_EVENT | VTB_CAP_NOTIFY_POLL | VTB_CAP_REGION | VTB_CAP_MAX_REQUEST,
	.opts = fatvq_opts,
	.region_bytes = fatvq_region_bytes,
	.max_request = fatvq_max_request,
	.fe_open = fq_fe_open,
	.fe_add = fq_fe_add,
	.fe_kick = fq_fe_kick,
	.fe_get = fq_fe_get,
	.fe_free = fq_fe_free,
	.fe_enable_cb = fq_fe_enable_cb,
	.fe_disable_cb = fq_fe_disable_cb,
	.fe_wait = fq_fe_wait,
	.fe_broken = fq_fe_broken,
	.fe_close = fq_fe_close,
	.be_open = fq_be_open,
	.be_pop = fq_be_pop,
	.be_push = fq_be_push,
	.be_flush = fq_be_flush,
	.be_enable_notify = fq_be_enable_notify,
	.be_disable_notify = fq_be_disable_notify,
	.be_wait = fq_be_wait,
	.be_broken = fq_be_broken,
	.be_close = fq_be_close,
};
