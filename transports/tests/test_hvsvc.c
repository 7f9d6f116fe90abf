/* The grant and argo transports on a platform whose hypervisor services
 * are this test's own, not proc's (transports/proc/): both domains in this
 * process, the "hypervisor" reaching guest RAM directly, other domids than
 * proc's, and copy/map/unmap primitives that fail the test if a transport
 * reaches past the services for them.  Blk-shaped requests (header, data,
 * status) go end to end over grant map/copy/persistent and argo
 * sync/batch; a revoked or read-only grant breaks the transport; the
 * services refuse bad references and oversize messages.
 * The entry checks and pins are core/vtb_grant.h's (Xen's _set_status_v1
 * and pin counting, freestanding): one copy of that protocol, which the
 * race test in test_grant.c holds; everything else here is separate code. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../ci/vtb_test.h"
#include "procdom.h"
#include "../core/vtb_argo.h"
#include "../core/vtb_grant.h"
#include "../transport.h"

#define RAM (16u << 20)
#define PAGE VTB_XEN_PAGE_SIZE
#define FE_DOMID 7
#define BE_DOMID 3

static struct vtb_dom fe_dom = { .id = 0, .ram_size = RAM }, be_dom = { .id = 1 };
static int ram_fd[2] = { -1, -1 };
static char *ram[2];
static unsigned prim_calls;	/* copy/map/unmap primitives reached: must stay 0 */

static uint16_t domid(const struct vtb_dom *d)
{
	return d->id == 0 ? FE_DOMID : BE_DOMID;
}

/* ---------------------------------------------------------------- primitives */
static int t_copy(struct vtb_plat *p, const struct vtb_dom *peer, const struct vtb_copy_op *ops, unsigned n,
		  bool to_peer)
{
	(void)p, (void)peer, (void)ops, (void)n, (void)to_peer;
	prim_calls++;
	return -ENOSYS;
}

static void *t_map(struct vtb_plat *p, const struct vtb_dom *o, uint64_t gpa, size_t len, bool w, void *at)
{
	(void)p, (void)o, (void)gpa, (void)len, (void)w, (void)at;
	prim_calls++;
	return NULL;
}

static int t_unmap(struct vtb_plat *p, void *va, size_t len, bool keep_va)
{
	(void)p, (void)va, (void)len, (void)keep_va;
	prim_calls++;
	return -ENOSYS;
}

static int t_notify(struct vtb_plat *p, struct vtb_doorbell *db)
{
	(void)db;
	p->ctr->notifies++;
	p->ctr->exits++;
	return 0;
}

static int t_wait(struct vtb_plat *p, struct vtb_doorbell *db)
{
	(void)db;
	p->ctr->waits++;
	p->ctr->exits++;
	return 0;
}

/* ---------------------------------------------------------------- grant service */
static struct {
	struct vtb_grant_entry_v1 *tbl;
	uint32_t nent;
} tables[2];

struct vtb_gntshr {
	struct vtb_grant_entry_v1 *tbl;
	uint32_t nent;
};

static int g_setup(struct vtb_plat *p, const struct vtb_dom *self, void *table, uint64_t gpa, uint32_t nent,
		   struct vtb_gntshr **out)
{
	(void)p, (void)gpa;
	struct vtb_gntshr *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct vtb_gntshr){ table, nent };
	tables[self->id].tbl = table;
	tables[self->id].nent = nent;
	*out = s;
	return 0;
}

static void g_share(struct vtb_plat *p, struct vtb_gntshr *s, uint32_t ref, const struct vtb_dom *peer,
		    uint32_t frame, bool readonly)
{
	(void)p;
	if (ref >= s->nent)
		return;
	s->tbl[ref].domid = domid(peer);
	s->tbl[ref].frame = frame;
	__atomic_store_n(&s->tbl[ref].flags, (uint16_t)(VTB_GTF_permit_access | (readonly ? VTB_GTF_readonly : 0)),
			 __ATOMIC_RELEASE);
}

static int g_end(struct vtb_plat *p, struct vtb_gntshr *s, uint32_t ref)
{
	(void)p;
	return ref >= s->nent ? -EINVAL : vtb_grant_end_access(&s->tbl[ref]) ? 0 : -EBUSY;
}

static void g_release(struct vtb_plat *p, struct vtb_gntshr *s)
{
	(void)p;
	free(s);
}

struct tmap {
	char *va;
	uint16_t n, nw;
};

struct vtb_gnttab {
	const struct vtb_dom *granter;
	uint16_t me;
	struct vtb_grant_entry_v1 *tbl;
	uint32_t nent;
	struct vtb_grant_active *act;
	struct tmap *m;
	uint32_t call, *pinned;
};

static int g_open(struct vtb_plat *p, const struct vtb_dom *self, const struct vtb_dom *granter,
		  struct vtb_gnttab **out)
{
	(void)p;
	struct vtb_gnttab *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->granter = granter;
	t->me = domid(self);
	*out = t;
	return 0;
}

static bool g_bind(struct vtb_gnttab *t)
{
	if (t->tbl)
		return true;
	uint32_t nent = tables[t->granter->id].nent;
	if (!tables[t->granter->id].tbl)
		return false;
	t->act = calloc(nent, sizeof(*t->act));
	t->m = calloc(nent, sizeof(*t->m));
	t->pinned = calloc(nent, sizeof(*t->pinned));
	if (!t->act || !t->m || !t->pinned)
		return false;
	t->nent = nent;
	t->tbl = tables[t->granter->id].tbl;
	return true;
}

static int g_map_one(struct vtb_plat *p, struct vtb_gnttab *t, uint32_t ref, bool write, char *at)
{
	uint32_t frame;
	if (ref >= t->nent)
		return VTB_GNTST_bad_gntref;
	struct tmap *m = &t->m[ref];
	if (m->n && m->va != at)
		return VTB_GNTST_general_error;
	int st = vtb_grant_pin(&t->tbl[ref], &t->act[ref], t->me, !write, true, t->granter->ram_size / PAGE, &frame);
	if (st)
		return st;
	if (!m->n || (write && !m->nw)) {
		void *va = m->n ? (mprotect(at, PAGE, PROT_READ | PROT_WRITE) ? MAP_FAILED : at)
				: mmap(at, PAGE, PROT_READ | (write ? PROT_WRITE : 0), MAP_SHARED | MAP_FIXED,
				       ram_fd[t->granter->id], (off_t)frame * PAGE);
		if (va == MAP_FAILED) {
			vtb_grant_unpin(&t->tbl[ref], &t->act[ref], !write);
			return VTB_GNTST_general_error;
		}
		p->ctr->maps++;
		p->ctr->map_bytes += PAGE;
		p->ctr->exits++;
	}
	m->va = at;
	m->n++;
	m->nw += write;
	return VTB_GNTST_okay;
}

static void g_unmap_one(struct vtb_plat *p, struct vtb_gnttab *t, uint32_t ref, bool write, bool keep_va)
{
	if (ref >= t->nent)
		return;
	struct tmap *m = &t->m[ref];
	if (!m->n || (write && !m->nw) || (!write && m->n == m->nw))
		return;
	m->n--;
	m->nw -= write;
	if (!m->n) {
		if (keep_va)
			mmap(m->va, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		else
			munmap(m->va, PAGE);
		p->ctr->unmaps++;
		p->ctr->unmaps_keep_va += keep_va;
		p->ctr->flushes++;
		p->ctr->exits++;
	} else if (write && !m->nw) {
		mprotect(m->va, PAGE, PROT_READ);	/* the writable PTE goes */
		p->ctr->flushes++;
		p->ctr->exits++;
	}
	vtb_grant_unpin(&t->tbl[ref], &t->act[ref], !write);
}

static int g_map(struct vtb_plat *p, struct vtb_gnttab *t, const uint32_t *refs, unsigned n, bool write, void *at)
{
	if (!at || !g_bind(t))
		return VTB_GNTST_general_error;
	for (unsigned k = 0; k < n; k++) {
		int st = g_map_one(p, t, refs[k], write, (char *)at + (size_t)k * PAGE);
		if (st) {
			while (k--)
				g_unmap_one(p, t, refs[k], write, true);
			return st;
		}
	}
	return 0;
}

static void g_unmap(struct vtb_plat *p, struct vtb_gnttab *t, const uint32_t *refs, unsigned n, bool write,
		    bool keep_va)
{
	for (unsigned k = 0; t->tbl && k < n; k++)
		g_unmap_one(p, t, refs[k], write, keep_va);
}

static int g_copy(struct vtb_plat *p, struct vtb_gnttab *t, struct vtb_gnt_seg *segs, unsigned n, bool to_granter)
{
	uint32_t held[VTB_GNT_COPY_MAX_SEGS], frames[VTB_GNT_COPY_MAX_SEGS];
	unsigned nheld = 0;
	int rc = 0;
	if (n > VTB_GNT_COPY_MAX_SEGS)
		return -E2BIG;
	if (!g_bind(t))
		return -EFAULT;
	t->call++;
	for (unsigned i = 0; i < n && !rc; i++) {
		struct vtb_gnt_seg *s = &segs[i];
		s->status = VTB_GNTST_okay;
		if (s->ref >= t->nent) {
			s->status = VTB_GNTST_bad_gntref;
			rc = -EFAULT;
		} else if ((uint32_t)s->offset + s->len > PAGE || ((uintptr_t)s->local % PAGE) + s->len > PAGE) {
			s->status = VTB_GNTST_bad_copy_arg;
			rc = -EFAULT;
		} else if (t->pinned[s->ref] != t->call) {
			uint32_t f;
			int st = vtb_grant_pin(&t->tbl[s->ref], &t->act[s->ref], t->me, !to_granter, false,
					       t->granter->ram_size / PAGE, &f);
			if (st) {
				s->status = (int16_t)st;
				rc = -EPERM;
			} else {
				t->pinned[s->ref] = t->call;
				held[nheld++] = s->ref;
			}
		}
		if (!rc)
			frames[i] = t->act[s->ref].frame;
	}
	if (!rc && n) {
		for (unsigned i = 0; i < n; i++) {
			char *g = ram[t->granter->id] + (size_t)frames[i] * PAGE + segs[i].offset;
			memcpy(to_granter ? g : segs[i].local, to_granter ? segs[i].local : g, segs[i].len);
			p->ctr->copy_bytes += segs[i].len;
		}
		p->ctr->copies++;
		p->ctr->copy_segs += n;
		p->ctr->exits++;
	}
	while (nheld--)
		vtb_grant_unpin(&t->tbl[held[nheld]], &t->act[held[nheld]], !to_granter);
	return rc;
}

static void g_close(struct vtb_plat *p, struct vtb_gnttab *t)
{
	for (uint32_t r = 0; t->tbl && r < t->nent; r++) {
		while (t->m[r].nw)
			g_unmap_one(p, t, r, true, true);
		while (t->m[r].n)
			g_unmap_one(p, t, r, false, true);
	}
	free(t->act);
	free(t->m);
	free(t->pinned);
	free(t);
}

static const struct vtb_grant_service t_grant = {
	.setup = g_setup, .share = g_share, .end = g_end, .release = g_release, .open = g_open,
	.map = g_map, .unmap = g_unmap, .copy = g_copy, .close = g_close,
};

/* ---------------------------------------------------------------- argo service */
static struct {
	struct vtb_argo_ring *ring;
	uint32_t len, aport, registered, tx, want;
	uint16_t partner;
	struct vtb_doorbell *virq;
} rings[2];
static uint32_t pending[2];

static int a_signal(struct vtb_plat *p, int dom)
{
	if (!rings[dom].virq) {
		__atomic_store_n(&pending[dom], 1, __ATOMIC_SEQ_CST);
		p->ctr->notifies_suppressed++;
		return 0;
	}
	return p->ops->notify(p, rings[dom].virq);
}

static int a_register(struct vtb_plat *p, const struct vtb_dom *self, void *ring, uint64_t gpa, uint32_t len,
		      uint32_t aport, const struct vtb_dom *partner, struct vtb_doorbell *virq)
{
	(void)gpa;
	p->ctr->exits++;
	if (len % VTB_ARGO_MSG_SLOT_SIZE || len > VTB_ARGO_MAX_RING_SIZE)
		return -EINVAL;
	rings[self->id].ring = ring;
	rings[self->id].len = len;
	rings[self->id].aport = aport;
	rings[self->id].tx = 0;
	rings[self->id].want = 0;
	rings[self->id].partner = domid(partner);
	rings[self->id].virq = virq;
	__atomic_store_n(&rings[self->id].registered, 1, __ATOMIC_RELEASE);
	return 0;
}

static int a_unregister(struct vtb_plat *p, const struct vtb_dom *self, uint32_t aport)
{
	p->ctr->exits++;
	if (!rings[self->id].registered || rings[self->id].aport != aport)
		return -ENOENT;
	rings[self->id].registered = 0;
	return 0;
}

/* Xen's order of checks; the message lands first, then tx_ptr in one
 * release store (Xen updates it under the ring lock, after the copy). */
static int a_sendv(struct vtb_plat *p, const struct vtb_dom *self, uint32_t src_aport, const struct vtb_dom *dst,
		   uint32_t dst_aport, const struct vtb_argo_iov *iov, unsigned n, uint32_t type)
{
	p->ctr->exits++;
	if (n > VTB_ARGO_MAXIOV)
		return -EINVAL;
	__typeof__(rings[0]) *r = &rings[dst->id];
	if (!__atomic_load_n(&r->registered, __ATOMIC_ACQUIRE) || r->aport != dst_aport || r->partner != domid(self))
		return -ECONNREFUSED;
	uint32_t total = 0;
	for (unsigned i = 0; i < n; i++) {
		if (iov[i].len > VTB_ARGO_MAX_MSG_SIZE)
			return -EINVAL;
		total += iov[i].len;
		if (total > VTB_ARGO_MAX_MSG_SIZE)
			return -EMSGSIZE;
	}
	uint32_t need = (uint32_t)sizeof(struct vtb_argo_msg_hdr) + vtb_argo_roundup(total);
	if (r->len <= need)
		return -EMSGSIZE;
	uint32_t rx = vtb_argo_rx_sanitize(vtb_le32(__atomic_load_n(&r->ring->rx_ptr, __ATOMIC_ACQUIRE)), r->len);
	if (!vtb_argo_fits(r->len, rx, r->tx, total)) {
		if (r->want < total)
			r->want = total;
		return -EAGAIN;
	}
	struct vtb_argo_msg_hdr h = {
		.len = vtb_le32((uint32_t)sizeof(h) + total),
		.source = { .aport = vtb_le32(src_aport), .domain_id = vtb_le16(domid(self)) },
		.message_type = vtb_le32(type),
	};
	uint32_t at = r->tx;
	memcpy(r->ring->ring + at, &h, sizeof(h));
	at = (at + (uint32_t)sizeof(h)) % r->len;
	unsigned segs = 1;
	for (unsigned i = 0; i < n; i++)
		for (uint32_t done = 0; done < iov[i].len; segs++) {
			uint32_t piece = r->len - at < iov[i].len - done ? r->len - at : iov[i].len - done;
			memcpy(r->ring->ring + at, (const char *)iov[i].base + done, piece);
			at = (at + piece) % r->len;
			done += piece;
		}
	r->tx = (r->tx + need) % r->len;
	__atomic_store_n(&r->ring->tx_ptr, vtb_le32(r->tx), __ATOMIC_RELEASE);
	p->ctr->copies++;
	p->ctr->copy_segs += segs;
	p->ctr->copy_bytes += sizeof(h) + total;
	return a_signal(p, dst->id);
}

static int a_notify(struct vtb_plat *p, const struct vtb_dom *self, const struct vtb_dom *query, uint32_t aport,
		    uint32_t *flags)
{
	p->ctr->exits++;
	if (query) {
		*flags = __atomic_load_n(&rings[query->id].registered, __ATOMIC_ACQUIRE) && rings[query->id].aport == aport
				 ? VTB_ARGO_RING_EXISTS : 0;
		return 0;
	}
	__typeof__(rings[0]) *r = &rings[self->id];
	uint32_t rx = vtb_argo_rx_sanitize(vtb_le32(__atomic_load_n(&r->ring->rx_ptr, __ATOMIC_ACQUIRE)), r->len);
	if (!r->want || vtb_argo_payload_space(r->len, rx, r->tx) < r->want)
		return 0;
	r->want = 0;
	return a_signal(p, !self->id);
}

static bool a_virq_pending(struct vtb_plat *p, const struct vtb_dom *self)
{
	(void)p;
	return __atomic_exchange_n(&pending[self->id], 0, __ATOMIC_SEQ_CST) != 0;
}

static const struct vtb_argo_service t_argo = {
	.register_ring = a_register, .unregister = a_unregister, .sendv = a_sendv, .notify = a_notify,
	.virq_pending = a_virq_pending,
};

static const struct vtb_platform_ops t_platform = {
	.name = "test", .desc = "this test's own hypervisor services", .copy = t_copy, .map = t_map,
	.unmap = t_unmap, .notify = t_notify, .wait = t_wait, .grant = &t_grant, .argo = &t_argo,
};
static const struct vtb_platform_ops t_bare = {
	.name = "bare", .desc = "no hypervisor services", .copy = t_copy, .map = t_map,
	.unmap = t_unmap, .notify = t_notify, .wait = t_wait,
};

/* ---------------------------------------------------------------- the pair */
struct side {
	struct vtb_xenv env;
	struct vtb_plat_counters ctr;
	struct vtb_plat plat;
	void *x;
	int err;
};

struct pair {
	const struct vtb_transport_ops *t;
	struct side fe, be;
};

static struct vtb_doorbell kick, call;
static struct vtb_vdev_regs *regs;

static void *fe_open_thread(void *arg)
{
	struct pair *p = arg;
	p->fe.err = p->t->fe_open(&p->fe.env, 0, &p->fe.x);
	return NULL;
}

static int pair_open(struct pair *p, const char *tname, const char *variant, bool poll)
{
	memset(p, 0, sizeof(*p));
	memset(regs, 0, sizeof(*regs));
	memset(tables, 0, sizeof(tables));
	memset(rings, 0, sizeof(rings));
	memset(pending, 0, sizeof(pending));
	memset(ram[0], 0, RAM);
	memset(ram[1], 0, be_dom.ram_size);
	p->t = vtb_transport_find(tname);
	struct vtb_xenv env = { .fe = &fe_dom, .be = &be_dom, .kick = &kick, .call = &call, .regs = regs,
				.variant = variant, .poll = poll, .qsize = 16, .device_id = 2, .nqueues = 1 };
	if (p->t->region_bytes) {
		env.shared_size = (p->t->region_bytes(&env) + 4095) & ~4095ull;
		env.shared_gpa = RAM - env.shared_size;
	}
	p->fe.env = p->be.env = env;
	p->fe.plat = (struct vtb_plat){ &t_platform, &p->fe.ctr, NULL };
	p->be.plat = (struct vtb_plat){ &t_platform, &p->be.ctr, NULL };
	p->fe.env.plat = &p->fe.plat;
	p->be.env.plat = &p->be.plat;
	p->fe.env.ram = ram[0];
	p->be.env.be_ram = ram[1];
	pthread_t th;
	if (pthread_create(&th, NULL, fe_open_thread, p))
		return -1;
	p->be.err = p->t->be_open(&p->be.env, &p->be.x);
	pthread_join(th, NULL);
	return p->fe.err || p->be.err ? -1 : 0;
}

static void pair_close(struct pair *p)
{
	p->t->be_close(p->be.x);
	p->t->fe_close(p->fe.x);
}

/* A virtio-blk-shaped request: header out, data out (write) or in (read),
 * status in. */
struct blkreq {
	struct vtb_sg sg[3];
	char *hdr, *data, *status;
	bool write;
};

static int blk_add(struct pair *p, struct blkreq *b, bool write, uint32_t len, uint8_t seed, void *token)
{
	void *va;
	b->write = write;
	if (vtb_fe_alloc(&p->fe.env, 16, 16, &b->sg[0].addr, &va))
		return -ENOMEM;
	b->hdr = va;
	b->sg[0].len = 16;
	memset(b->hdr, seed, 16);
	b->hdr[0] = write;
	if (vtb_fe_alloc(&p->fe.env, len, 512, &b->sg[1].addr, &va))
		return -ENOMEM;
	b->data = va;
	b->sg[1].len = len;
	for (uint32_t i = 0; i < len; i++)
		b->data[i] = write ? (char)(seed + i * 7) : 0;
	if (vtb_fe_alloc(&p->fe.env, 1, 1, &b->sg[2].addr, &va))
		return -ENOMEM;
	b->status = va;
	*b->status = (char)0xff;
	b->sg[2].len = 1;
	return p->t->fe_add(p->fe.x, 0, b->sg, write ? 2 : 1, write ? 1 : 2, token);
}

/* The device: checks what it reads, fills what it writes; 1 served, 0
 * nothing there, <0 the pop's error. */
static int blk_serve(struct pair *p, uint8_t seed)
{
	struct vtb_req r;
	int got = p->t->be_pop(p->be.x, 0, &r);
	if (got != 1)
		return got;
	uint8_t out[16 + 65536];
	uint32_t at = 0;
	for (unsigned i = 0; i < r.nout; i++) {
		memcpy(out + at, r.iov[i].base, r.iov[i].len);
		at += r.iov[i].len;
	}
	CHECK(at >= 16 && out[1] == seed);
	bool write = out[0];
	uint32_t len = write ? at - 16 : r.in_bytes - 1;
	for (uint32_t i = 0; write && i < len; i++)
		if (out[16 + i] != (uint8_t)(seed + i * 7)) {
			CHECK(!"write data arrived intact");
			break;
		}
	uint8_t in[65536 + 1];
	for (uint32_t i = 0; i < len && !write; i++)
		in[i] = (uint8_t)(seed ^ i);
	in[write ? 0 : len] = 0;	/* VIRTIO_BLK_S_OK */
	at = 0;
	for (unsigned i = r.nout; i < (unsigned)r.nout + r.nin; i++) {
		memcpy(r.iov[i].base, in + at, r.iov[i].len);
		at += r.iov[i].len;
	}
	return p->t->be_push(p->be.x, &r, r.in_bytes) ? -1 : 1;
}

static bool blk_check(const struct blkreq *b, uint32_t len, uint8_t seed)
{
	if (*b->status != 0)
		return false;
	for (uint32_t i = 0; !b->write && i < len; i++)
		if ((uint8_t)b->data[i] != (uint8_t)(seed ^ i))
			return false;
	return true;
}

/* Reads and writes of several sizes, one at a time and in batches. */
static void run_blk(const char *tname, const char *variant, bool poll)
{
	struct pair p;
	if (pair_open(&p, tname, variant, poll)) {
		CHECK(!"pair open");
		return;
	}
	static struct blkreq b[4];
	static const uint32_t sizes[] = { 512, 4096, 5000, 16384 };
	unsigned done = 0;
	uint64_t base = p.fe.env.ram_used;	/* past the rings */
	for (unsigned round = 0; round < 8; round++) {
		unsigned n = round % 2 ? 4 : 1;
		p.fe.env.ram_used = base;	/* buffers reused each round */
		for (unsigned i = 0; i < n; i++)
			CHECK_EQ(blk_add(&p, &b[i], (round + i) % 2, sizes[(round + i) % 4], (uint8_t)(round * 8 + i), &b[i]), 0);
		p.t->fe_kick(p.fe.x, 0);
		for (unsigned i = 0; i < n; i++)
			CHECK_EQ(blk_serve(&p, (uint8_t)(round * 8 + i)), 1);
		p.t->be_flush(p.be.x);
		for (unsigned i = 0; i < n; i++) {
			void *tok = p.t->fe_get(p.fe.x, 0, NULL);
			CHECK(tok == &b[i]);
			if (tok == &b[i]) {
				CHECK(blk_check(&b[i], sizes[(round + i) % 4], (uint8_t)(round * 8 + i)));
				done++;
			}
		}
	}
	CHECK_EQ(done, 20);
	CHECK(!p.t->fe_broken(p.fe.x) && !p.t->be_broken(p.be.x));
	CHECK_EQ(prim_calls, 0);
	/* The services did the work, counted in the seam. */
	if (!strcmp(tname, "argo")) {
		CHECK(p.fe.ctr.copies > 0 && p.be.ctr.copies > 0);
		CHECK_EQ(p.be.ctr.maps, 0);
	} else if (!strcmp(variant, "copy")) {
		CHECK(p.be.ctr.copies >= 20);
	} else if (!strcmp(variant, "map")) {
		CHECK(p.be.ctr.maps >= 20 && p.be.ctr.unmaps >= 20);
	} else {
		CHECK(p.fe.ctr.bounce_copies >= 20);
	}
	printf("%s/%s %s on the test's services: 20 requests; BE copies %llu maps %llu unmaps %llu\n", tname,
	       variant, poll ? "poll" : "event", (unsigned long long)p.be.ctr.copies,
	       (unsigned long long)p.be.ctr.maps, (unsigned long long)p.be.ctr.unmaps);
	pair_close(&p);
}

/* A hostile FE revokes (or makes read-only) every grant of a request it
 * added but the BE has not taken: the BE's service refuses, the transport
 * breaks, the device needs a reset. */
static void run_grant_refused(const char *variant, bool readonly)
{
	struct pair p;
	if (pair_open(&p, "grant", variant, true)) {
		CHECK(!"pair open");
		return;
	}
	static struct blkreq b;
	CHECK_EQ(blk_add(&p, &b, false, 4096, 9, &b), 0);
	p.t->fe_kick(p.fe.x, 0);
	struct vtb_grant_entry_v1 *tbl = tables[0].tbl;
	unsigned hit = 0;
	for (uint32_t r = VTB_GNTTAB_NR_RESERVED_ENTRIES; r < tables[0].nent; r++) {
		uint16_t f = tbl[r].flags;
		if ((f & VTB_GTF_permit_access) && !(f & (VTB_GTF_reading | VTB_GTF_writing))) {
			tbl[r].flags = readonly ? (uint16_t)(f | VTB_GTF_readonly) : 0;
			hit++;
		}
	}
	CHECK(hit >= 3);
	CHECK(blk_serve(&p, 9) < 0);
	CHECK(p.t->be_broken(p.be.x));
	CHECK(regs->status & VTB_S_NEEDS_RESET);
	CHECK_EQ(prim_calls, 0);
	pair_close(&p);
}

/* The services' own refusals, called as a backend would. */
static void test_grant_service_refusals(void)
{
	struct pair p;
	if (pair_open(&p, "grant", "map", true)) {
		CHECK(!"pair open");
		return;
	}
	struct vtb_plat *bp = &p.be.plat;
	struct vtb_gntshr *gs;
	struct vtb_gnttab *gt;
	const uint32_t R = 200, F = 0x300;
	CHECK_EQ(t_grant.open(bp, &be_dom, &fe_dom, &gt), 0);
	CHECK_EQ(t_grant.setup(&p.fe.plat, &fe_dom, tables[0].tbl, 0, tables[0].nent, &gs), 0);
	char *at = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char local[64] __attribute__((aligned(64)));
	uint32_t bad = tables[0].nent + 5, r = R;
	CHECK_EQ(t_grant.map(bp, gt, &bad, 1, false, at), VTB_GNTST_bad_gntref);
	struct vtb_gnt_seg seg = { bad, 0, 64, local, 0 };
	CHECK_EQ(t_grant.copy(bp, gt, &seg, 1, false), -EFAULT);
	CHECK_EQ(seg.status, VTB_GNTST_bad_gntref);
	/* Never granted, then revoked: refused. */
	CHECK_EQ(t_grant.map(bp, gt, &r, 1, false, at), VTB_GNTST_general_error);
	t_grant.share(&p.fe.plat, gs, R, &be_dom, F, true);
	CHECK_EQ(t_grant.end(&p.fe.plat, gs, R), 0);
	CHECK_EQ(t_grant.map(bp, gt, &r, 1, false, at), VTB_GNTST_general_error);
	/* For another domain: refused. */
	t_grant.share(&p.fe.plat, gs, R, &fe_dom, F, false);
	CHECK_EQ(t_grant.map(bp, gt, &r, 1, false, at), VTB_GNTST_general_error);
	/* Read-only: no writable map, no copy into it; a read-only map holds it. */
	t_grant.share(&p.fe.plat, gs, R, &be_dom, F, true);
	CHECK_EQ(t_grant.map(bp, gt, &r, 1, true, at), VTB_GNTST_general_error);
	seg = (struct vtb_gnt_seg){ R, 0, 64, local, 0 };
	CHECK_EQ(t_grant.copy(bp, gt, &seg, 1, true), -EPERM);
	CHECK_EQ(t_grant.copy(bp, gt, &seg, 1, false), 0);
	CHECK_EQ(t_grant.map(bp, gt, &r, 1, false, at), 0);
	CHECK_EQ(t_grant.end(&p.fe.plat, gs, R), -EBUSY);
	t_grant.unmap(bp, gt, &r, 1, false, true);
	CHECK_EQ(t_grant.end(&p.fe.plat, gs, R), 0);
	/* A frame beyond the granter's RAM. */
	t_grant.share(&p.fe.plat, gs, R, &be_dom, RAM / PAGE, false);
	CHECK_EQ(t_grant.map(bp, gt, &r, 1, false, at), VTB_GNTST_bad_page);
	/* A segment crossing its page. */
	t_grant.share(&p.fe.plat, gs, R, &be_dom, F, false);
	seg = (struct vtb_gnt_seg){ R, PAGE - 8, 64, local, 0 };
	CHECK_EQ(t_grant.copy(bp, gt, &seg, 1, false), -EFAULT);
	CHECK_EQ(seg.status, VTB_GNTST_bad_copy_arg);
	t_grant.close(bp, gt);
	t_grant.release(&p.fe.plat, gs);
	munmap(at, PAGE);
	CHECK_EQ(prim_calls, 0);
	pair_close(&p);
}

static void test_argo_service_refusals(void)
{
	struct pair p;
	if (pair_open(&p, "argo", "sync", true)) {
		CHECK(!"pair open");
		return;
	}
	static char big[1u << 20];
	struct vtb_argo_iov iov[VTB_ARGO_MAXIOV + 1];
	for (unsigned i = 0; i <= VTB_ARGO_MAXIOV; i++)
		iov[i] = (struct vtb_argo_iov){ big, 16 };
	uint32_t aport = 0x7674;
	/* Nine iovs: -EINVAL, before anything else. */
	CHECK_EQ(t_argo.sendv(&p.fe.plat, &fe_dom, aport, &be_dom, aport, iov, VTB_ARGO_MAXIOV + 1, 1), -EINVAL);
	/* The whole ring: never fits. */
	iov[0].len = sizeof(big);
	CHECK_EQ(t_argo.sendv(&p.fe.plat, &fe_dom, aport, &be_dom, aport, iov, 1, 1), -EMSGSIZE);
	/* Another port: no such ring. */
	CHECK_EQ(t_argo.sendv(&p.fe.plat, &fe_dom, aport, &be_dom, aport + 1, iov, 1, 1), -ECONNREFUSED);
	/* The transport refuses what no message can carry, up front. */
	struct vtb_sg sg = { 0, 1u << 20 };
	void *va;
	CHECK(!vtb_fe_alloc(&p.fe.env, sg.len, 64, &sg.addr, &va));
	CHECK_EQ(p.t->fe_add(p.fe.x, 0, &sg, 1, 0, &sg), -EMSGSIZE);
	CHECK(!p.t->fe_broken(p.fe.x));
	CHECK_EQ(prim_calls, 0);
	pair_close(&p);
}

/* A platform without the services: the suite refuses the cell, a
 * transport opened anyway says so. */
static void test_unsupported(void)
{
	CHECK(vtb_transport_unsupported(&vtb_transport_grant, &t_bare) != NULL);
	CHECK(vtb_transport_unsupported(&vtb_transport_argo, &t_bare) != NULL);
	CHECK(vtb_transport_unsupported(&vtb_transport_shm, &t_bare) == NULL);
	CHECK(vtb_transport_unsupported(&vtb_transport_grant, &t_platform) == NULL);
	CHECK(vtb_transport_unsupported(&vtb_transport_argo, &t_platform) == NULL);
	CHECK(vtb_transport_unsupported(&vtb_transport_grant, &vtb_platform_proc) == NULL);
	CHECK(vtb_transport_unsupported(&vtb_transport_argo, &vtb_platform_proc) == NULL);
	struct vtb_plat_counters ctr = { 0 };
	struct vtb_plat plat = { &t_bare, &ctr, NULL };
	struct vtb_xenv env = { .fe = &fe_dom, .be = &be_dom, .kick = &kick, .call = &call, .regs = regs,
				.variant = "map", .poll = true, .qsize = 16, .device_id = 2, .nqueues = 1, .plat = &plat };
	void *x = NULL;
	memset(regs, 0, sizeof(*regs));
	CHECK(vtb_transport_grant.be_open(&env, &x) < 0);
}

static char *ram_create(int id, uint64_t size)
{
	ram_fd[id] = memfd_create(id ? "hvsvc-be-ram" : "hvsvc-fe-ram", MFD_CLOEXEC);
	if (ram_fd[id] < 0 || ftruncate(ram_fd[id], (off_t)size))
		return NULL;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ram_fd[id], 0);
	return p == MAP_FAILED ? NULL : p;
}

int main(void)
{
	regs = mmap(NULL, sizeof(*regs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(regs != MAP_FAILED);
	struct vtb_xenv probe = { .qsize = 16 };
	be_dom.ram_size = (vtb_transport_argo.be_ram_bytes(&probe) + 4095) & ~4095ull;
	ram[0] = ram_create(0, RAM);
	ram[1] = ram_create(1, be_dom.ram_size);
	CHECK(ram[0] && ram[1]);
	if (vtb_failed)
		return vtb_test_end("test_hvsvc");
	test_unsupported();
	run_blk("grant", "map", true);
	run_blk("grant", "copy", true);
	run_blk("grant", "persistent", true);
	run_blk("argo", "sync", false);
	run_blk("argo", "batch", false);
	run_blk("argo", "sync", true);
	run_blk("argo", "batch", true);
	run_grant_refused("map", false);
	run_grant_refused("map", true);
	run_grant_refused("copy", false);
	run_grant_refused("copy", true);
	test_grant_service_refusals();
	test_argo_service_refusals();
	return vtb_test_end("test_hvsvc");
}
