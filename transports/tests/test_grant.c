/* Grant tables against Xen's grant_table.c (v1): the hypervisor's pin
 * (transports/core/vtb_grant.h) case by case and raced by a guest that
 * revokes and regrants under it, and the grant transport's BE through the
 * real policy, both domains in this process: what a map pins, what a copy
 * pins and for how long, how a copy is split, sub-page grants. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../ci/vtb_test.h"
#include "../core/vtb_grant.h"
#include "../vring.h"
#include "inproc.h"

#define RAM (16u << 20)
#define PAGE VTB_XEN_PAGE_SIZE
#define BE 0	/* the backend's domid */

static const uint16_t GR = VTB_GTF_reading, GW = VTB_GTF_writing, PA = VTB_GTF_permit_access;

static void grant(struct vtb_grant_entry_v1 *e, uint16_t domid, uint32_t frame, uint16_t flags)
{
	VTB_WRITE_ONCE(e->domid, domid);
	VTB_WRITE_ONCE(e->frame, frame);
	__atomic_store_n(&e->flags, flags, __ATOMIC_RELEASE);
}

/* ---------------------------------------------------------- the pin */
static void test_pin_cases(void)
{
	struct vtb_grant_entry_v1 e;
	struct vtb_grant_active a;
	uint32_t f = 0;
#define FRESH(flags_, domid_, frame_) do { memset(&a, 0, sizeof(a)); grant(&e, domid_, frame_, flags_); } while (0)
	/* A write pin sets reading and writing; its unpin clears both. */
	FRESH(PA, BE, 7);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, false, true, 100, &f), VTB_GNTST_okay);
	CHECK_EQ(f, 7);
	CHECK_EQ(e.flags, PA | GR | GW);
	vtb_grant_unpin(&e, &a, false);
	CHECK_EQ(e.flags, PA);
	CHECK_EQ(a.pin, 0);
	/* A read-only request against a writable grant pins read-only. */
	FRESH(PA, BE, 7);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, true, 100, &f), VTB_GNTST_okay);
	CHECK_EQ(e.flags, PA | GR);
	/* ... then a write pin upgrades it; dropping it keeps the reader's bit. */
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, false, true, 100, &f), VTB_GNTST_okay);
	CHECK_EQ(e.flags, PA | GR | GW);
	CHECK_EQ(a.pin, VTB_GNTPIN_hstr_inc | VTB_GNTPIN_hstw_inc);
	vtb_grant_unpin(&e, &a, false);
	CHECK_EQ(e.flags, PA | GR);
	vtb_grant_unpin(&e, &a, true);
	CHECK_EQ(e.flags, PA);
	/* Refusals: GNTST_general_error, as _set_status_v1, nothing set. */
	FRESH(PA | VTB_GTF_readonly, BE, 7);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, false, true, 100, &f), VTB_GNTST_general_error);
	CHECK_EQ(e.flags, PA | VTB_GTF_readonly);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, true, 100, &f), VTB_GNTST_okay);	/* reading it is fine */
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, false, false, 100, &f), VTB_GNTST_general_error);	/* no upgrade either */
	CHECK_EQ(e.flags, PA | VTB_GTF_readonly | GR);
	FRESH(PA, 5, 7);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, true, 100, &f), VTB_GNTST_general_error);
	CHECK_EQ(e.flags, PA);
	FRESH(VTB_GTF_invalid, BE, 7);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, false, 100, &f), VTB_GNTST_general_error);
	CHECK_EQ(e.flags, 0);
	FRESH(3, BE, 7);	/* GTF_transitive: v2 only */
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, false, 100, &f), VTB_GNTST_general_error);
	/* A frame the granter does not have: GNTST_bad_page, flags cleared again. */
	FRESH(PA, BE, 100);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, false, true, 100, &f), VTB_GNTST_bad_page);
	CHECK_EQ(e.flags, PA);
	CHECK_EQ(a.pin, 0);
	/* Sub-page grants are copy only: a map is refused, a copy pins. */
	FRESH(PA | VTB_GTF_sub_page, BE, 7);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, true, 100, &f), VTB_GNTST_general_error);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, false, 100, &f), VTB_GNTST_okay);
	vtb_grant_unpin(&e, &a, true);
	/* Pinned, the active entry rules: another domain is refused ... */
	FRESH(PA, BE, 7);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, true, 100, &f), VTB_GNTST_okay);
	CHECK_EQ(vtb_grant_pin(&e, &a, 3, true, true, 100, &f), VTB_GNTST_general_error);
	/* ... and the frame stays the pinned one, whatever the entry says now. */
	e.frame = 9;
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, true, true, 100, &f), VTB_GNTST_okay);
	CHECK_EQ(f, 7);
	/* The counter refuses before it wraps (Xen: 0x80 per counter). */
	FRESH(PA, BE, 7);
	unsigned n = 0;
	while (vtb_grant_pin(&e, &a, BE, true, true, 100, &f) == VTB_GNTST_okay && n < 1000)
		n++;
	CHECK_EQ(n, 128);
	/* The guest's revoke fails while pinned and leaves the entry alone. */
	FRESH(PA, BE, 7);
	CHECK_EQ(vtb_grant_pin(&e, &a, BE, false, false, 100, &f), VTB_GNTST_okay);
	CHECK(!vtb_grant_end_access(&e));
	CHECK_EQ(e.flags, PA | GR | GW);
	vtb_grant_unpin(&e, &a, false);
	CHECK(vtb_grant_end_access(&e));
	CHECK_EQ(e.flags, 0);
	/* Copy pieces: within one page on both sides. */
	CHECK_EQ(vtb_grant_copy_piece(0, 0, 10000), 4096);
	CHECK_EQ(vtb_grant_copy_piece(0, 16, 10000), 4080);
	CHECK_EQ(vtb_grant_copy_piece(4000, 16, 10000), 96);
	CHECK_EQ(vtb_grant_copy_piece(100, 50, 20), 20);
#undef FRESH
}

/* -------------------------------------------- revoke/regrant race */
/* The guest grants one reference on frame k, revokes it as Linux does
 * (only while unpinned) and regrants it on frame k+1, as fast as it can;
 * the hypervisor pins and unpins it.  While a pin is held the guest cannot
 * revoke, so the entry must still show the pin and the pinned frame. */
#define RACE_PINS 60000000u

static struct vtb_grant_entry_v1 race_e __attribute__((aligned(64)));
static volatile int race_stop, race_started;

static void *race_guest(void *arg)
{
	uint32_t frame = 1;
	(void)arg;
	race_started = 1;
	while (!race_stop) {
		grant(&race_e, BE, frame, (uint16_t)(PA | (frame & 1 ? VTB_GTF_readonly : 0)));
		while (!vtb_grant_end_access(&race_e) && !race_stop)
			;
		frame = frame % 1000000 + 1;
	}
	return NULL;
}

static void test_race(void)
{
	struct vtb_grant_active a = { 0 };
	unsigned long pins = 0, stale = 0, wiped = 0;
	pthread_t th;
	race_stop = race_started = 0;
	CHECK(!pthread_create(&th, NULL, race_guest, NULL));
	while (!race_started)
		sched_yield();
	for (unsigned i = 0; i < RACE_PINS; i++) {
		uint32_t f;
		bool ro = i & 1;
		if (vtb_grant_pin(&race_e, &a, BE, ro, !(i & 2), 1u << 20, &f) != VTB_GNTST_okay)
			continue;
		pins++;
		bool was_stale = false, was_wiped = false;
		for (int look = 0; look < 2; look++) {
			uint16_t fl = __atomic_load_n(&race_e.flags, __ATOMIC_ACQUIRE);
			was_stale |= VTB_READ_ONCE(race_e.frame) != f;
			was_wiped |= (fl & VTB_GTF_type_mask) != PA || !(fl & (GR | GW));
		}
		stale += was_stale;
		wiped += was_wiped;
		vtb_grant_unpin(&race_e, &a, ro);
	}
	race_stop = 1;
	pthread_join(th, NULL);
	printf("test_grant: race: %u attempts, %lu pins, %lu on a stale frame, %lu with the pin wiped\n",
	       RACE_PINS, pins, stale, wiped);
	CHECK(pins > 0);
	CHECK_EQ(stale, 0);
	CHECK_EQ(wiped, 0);
}

/* ------------------------------------- the transport, in one process */
static struct vtb_dom fe_dom = { 0 }, be_dom = { .id = 1 };
static char *fe_ram;
static struct vtb_grant_entry_v1 *watch_e;	/* an entry a copy must hold pinned */
static uint16_t watch_bits;
static unsigned long copies_unpinned;

/* The in-process platform's copy looks at the watched entry each time. */
static void watch_copy(void)
{
	if (watch_e && (__atomic_load_n(&watch_e->flags, __ATOMIC_ACQUIRE) & (GR | GW)) != watch_bits)
		copies_unpinned++;
}

struct pair {
	const struct vtb_transport_ops *t;
	struct vtb_inproc_side fe, be;
	struct vtb_doorbell kick, call;
	struct vtb_vdev_regs *regs;
	void *hv;
	struct vtb_grant_entry_v1 *tbl;
};

static void *fe_open_thread(void *arg)
{
	struct vtb_inproc_side *f = arg;
	f->err = vtb_transport_find("grant")->fe_open(&f->env, 0, &f->x);
	return NULL;
}

static bool pair_open(struct pair *p, const char *variant)
{
	memset(p, 0, sizeof(*p));
	memset(fe_ram, 0, RAM);
	p->t = vtb_transport_find("grant");
	p->regs = mmap(NULL, sizeof(*p->regs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p->hv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p->regs == MAP_FAILED || p->hv == MAP_FAILED || vtb_proc_doorbell_create(&p->kick) ||
	    vtb_proc_doorbell_create(&p->call))
		return false;
	struct vtb_xenv env = { .fe = &fe_dom, .be = &be_dom, .kick = &p->kick, .call = &p->call, .regs = p->regs,
				.variant = variant, .poll = true, .qsize = 16, .nqueues = 1,
				.device_id = 2 };
	env.shared_size = (p->t->region_bytes(&env) + 4095) & ~4095ull;
	env.shared_gpa = RAM - env.shared_size;
	vtb_inproc_hv = p->hv;
	vtb_inproc_side_init(&p->fe, &env, &vtb_inproc_platform);
	vtb_inproc_side_init(&p->be, &env, &vtb_inproc_platform);
	p->fe.env.ram = fe_ram;
	pthread_t th;
	if (pthread_create(&th, NULL, fe_open_thread, &p->fe))
		return false;
	p->be.err = p->t->be_open(&p->be.env, &p->be.x);
	pthread_join(th, NULL);
	p->tbl = (void *)(fe_ram + env.shared_gpa);
	return !p->fe.err && !p->be.err;
}

static void pair_close(struct pair *p)
{
	if (p->be.x)
		p->t->be_close(p->be.x);
	if (p->fe.x)
		p->t->fe_close(p->fe.x);
	vtb_proc_doorbell_destroy(&p->kick);
	vtb_proc_doorbell_destroy(&p->call);
	munmap(p->regs, sizeof(*p->regs));
	munmap(p->hv, 4096);
}

/* A descriptor chain as a hostile (or merely unusual) FE writes it,
 * bypassing the FE's policy. */
static bool plant(struct pair *p, const struct vtb_sg *sg, unsigned nout, unsigned nin)
{
	static int token;
	struct vtb_vfe *v = p->fe.x;
	if (vtb_vqd_add(v->vq[0], sg, nout, nin, &token, false))
		return false;
	(void)vtb_vqd_kick_prepare(v->vq[0]);
	return true;
}

static int pop(struct pair *p, struct vtb_req *r)
{
	for (int spins = 0; spins < 1000; spins++) {
		int got = p->t->be_pop(p->be.x, 0, r);
		if (got)
			return got;
	}
	return 0;
}

/* map: a read-only buffer in a writable grant pins read-only; a writable
 * one pins reading and writing; both go at completion. */
static void test_map_pins(void)
{
	struct pair p;
	struct vtb_req r;
	CHECK(pair_open(&p, "map"));
	grant(&p.tbl[100], BE, 0x100, PA);
	grant(&p.tbl[101], BE, 0x101, PA);
	struct vtb_sg sg[2] = { { vtb_grant_to_dma(100), 64 }, { vtb_grant_to_dma(101), 64 } };
	CHECK(plant(&p, sg, 1, 1));
	CHECK_EQ(pop(&p, &r), 1);
	CHECK_EQ(p.tbl[100].flags, PA | GR);
	CHECK_EQ(p.tbl[101].flags, PA | GR | GW);
	CHECK(!p.t->be_push(p.be.x, &r, 64));
	CHECK_EQ(p.tbl[100].flags, PA);
	CHECK_EQ(p.tbl[101].flags, PA);
	pair_close(&p);
}

/* map and persistent: a sub-page grant is refused (the device breaks);
 * copy: it is served. */
static void test_sub_page(const char *variant, bool served)
{
	struct pair p;
	struct vtb_req r;
	CHECK(pair_open(&p, variant));
	grant(&p.tbl[100], BE, 0x100, PA | VTB_GTF_sub_page);
	struct vtb_sg sg = { vtb_grant_to_dma(100), 64 };
	CHECK(plant(&p, &sg, 1, 0));
	int got = pop(&p, &r);
	if (served) {
		CHECK_EQ(got, 1);
		if (got == 1)
			CHECK(!p.t->be_push(p.be.x, &r, 0));
	} else {
		if (got == 1)
			fprintf(stderr, "grant/%s: a sub-page grant was mapped\n", variant);
		CHECK(got < 0);
		CHECK(p.t->be_broken(p.be.x));
		CHECK(p.regs->status & VTB_S_NEEDS_RESET);
	}
	CHECK_EQ(p.tbl[100].flags, PA | VTB_GTF_sub_page);
	pair_close(&p);
}

/* copy: ops split at the local buffer's page boundaries too, and each
 * reference pinned (read-only for the source, read-write for the
 * destination) while the copy runs. */
static void test_copy(void)
{
	struct pair p;
	struct vtb_req r;
	CHECK(pair_open(&p, "copy"));
	/* 16-byte header, then 4 KiB starting 100 bytes into its first
	 * granted page (refs 100-101), then 1 byte back.  The BE lays each
	 * buffer on its own local page at its grant's offset, so the data is
	 * the 2 ops its two granted pages need (laid end to end after the
	 * header it would straddle a local page as well: 3). */
	grant(&p.tbl[99], BE, 0x99, PA | VTB_GTF_readonly);
	grant(&p.tbl[100], BE, 0x100, PA | VTB_GTF_readonly);
	grant(&p.tbl[101], BE, 0x101, PA | VTB_GTF_readonly);
	grant(&p.tbl[102], BE, 0x102, PA);
	memset(fe_ram + 0x100 * PAGE + 100, 0x5a, 3996);
	memset(fe_ram + 0x101 * PAGE, 0x5a, 100);
	struct vtb_sg sg[3] = { { vtb_grant_to_dma(99), 16 }, { vtb_grant_to_dma(100) + 100, 4096 },
				{ vtb_grant_to_dma(102), 1 } };
	CHECK(plant(&p, sg, 2, 1));
	watch_e = &p.tbl[100];
	watch_bits = GR;
	copies_unpinned = 0;
	CHECK_EQ(pop(&p, &r), 1);
	CHECK_EQ(p.be.ctr.copies, 1);
	CHECK_EQ(p.be.ctr.copy_segs, 1 + 2);
	if (r.nout == 2) {
		const unsigned char *d = r.iov[1].base;
		unsigned bad = 0;
		for (unsigned i = 0; i < 4096; i++)
			bad += d[i] != 0x5a;
		CHECK_EQ(bad, 0);
	}
	CHECK_EQ(p.tbl[100].flags, PA | VTB_GTF_readonly);	/* released after the call */
	watch_e = &p.tbl[102];
	watch_bits = GR | GW;
	if (r.nin == 1)
		memset(r.iov[r.nout].base, 0x77, 1);
	CHECK(!p.t->be_push(p.be.x, &r, 1));
	CHECK_EQ(p.be.ctr.copies, 2);
	CHECK_EQ(p.be.ctr.copy_segs, 4);
	CHECK_EQ((unsigned char)fe_ram[0x102 * PAGE], 0x77);
	CHECK_EQ(p.tbl[102].flags, PA);
	CHECK_EQ(copies_unpinned, 0);
	watch_e = NULL;
	pair_close(&p);
}

int main(void)
{
	test_pin_cases();
	test_race();
	if (vtb_proc_dom_create(&fe_dom, 0, RAM))
		return 1;
	fe_ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, vtb_proc_dom_ram_fd(&fe_dom), 0);
	vtb_inproc_ram[0] = fe_ram == MAP_FAILED ? NULL : fe_ram;
	vtb_inproc_on_copy = watch_copy;
	if (fe_ram == MAP_FAILED)
		return 1;
	vtb_proc_dom_set_pid(&fe_dom, getpid());
	vtb_proc_dom_set_pid(&be_dom, getpid());
	test_map_pins();
	test_sub_page("map", false);
	test_sub_page("persistent", false);
	test_sub_page("copy", true);
	test_copy();
	return vtb_test_end("test_grant");
}
