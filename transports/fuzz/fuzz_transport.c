/* The device (BE) side of one transport against a frontend that, after a
 * legitimate start, writes anything anywhere it can: its own RAM (rings,
 * indirect tables, grant table, IOMMU request queue, request buffers), the
 * pre-shared region (swiotlb slots, fat-queue TLVs and indices) and, for
 * Argo, the BE's ring (message headers, lengths, rx/tx pointers), between
 * the BE's pops and pushes.  Built once per transport and variant
 * (-DFUZZ_XPORT="grant_map").  Both domains live in this process, on the
 * proc platform, each with its own environment and seam, as after fork.
 *
 * What must hold: no memory error or crash; every popped request has at
 * most VTB_REQ_MAX_SEG segments whose bytes the BE can read and write
 * (they are all touched); a pop error leaves the transport broken and the
 * device NEEDS_RESET, and it stays broken. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "../transport.h"
#include "../tests/inproc.h"

#define RAM (16u << 20)	/* as the isolation test: room for every pre-shared region */
#define HELD 64

static struct vtb_dom fe_dom = { 0 }, be_dom = { .id = 1 };
static char *fe_ram, *be_ram;
static struct vtb_doorbell kick, call;
static struct vtb_vdev_regs *regs;
static void *hv_page;
static const struct vtb_transport_ops *T;
static char tname[32], vname[32];

/* The proc platform finds a peer's RAM at the same address in the peer's
 * process; here both domains share one process (inproc.h). */

static void *own_ram(const struct vtb_dom *d)
{
	void *p = mmap(NULL, d->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, vtb_proc_dom_ram_fd(d), 0);
	return p == MAP_FAILED ? NULL : p;
}

static void *fe_open_thread(void *arg)
{
	struct vtb_inproc_side *f = arg;
	f->err = T->fe_open(&f->env, 0, &f->x);
	return NULL;
}

struct legit {
	struct vtb_inproc_side *fe;
	struct fz *f;
	volatile int done;
};

static void *fe_legit_thread(void *arg)
{
	struct legit *l = arg;
	static int token;
	unsigned n = fz_u8(l->f) % 12;
	for (unsigned i = 0; i < n; i++) {
		struct vtb_sg sg[3];
		unsigned nout = 1 + fz_u8(l->f) % 2, nin = fz_u8(l->f) % 2;
		for (unsigned k = 0; k < nout + nin; k++) {
			uint32_t len = 1 + fz_u16(l->f) % 8192;
			void *va;
			if (vtb_fe_alloc(&l->fe->env, len, 64, &sg[k].addr, &va))
				goto out;
			memset(va, 0x11 * (int)(k + 1), len);
			sg[k].len = len;
		}
		if (T->fe_add(l->fe->x, 0, sg, nout, nin, &token))
			break;
		if (fz_u8(l->f) & 1)
			T->fe_kick(l->fe->x, 0);
	}
	T->fe_kick(l->fe->x, 0);
out:
	l->done = 1;
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *u = strchr(FUZZ_XPORT, '_');
	size_t tl = u ? (size_t)(u - FUZZ_XPORT) : strlen(FUZZ_XPORT);
	memcpy(tname, FUZZ_XPORT, tl);
	snprintf(vname, sizeof(vname), "%s", u ? u + 1 : "");
	T = vtb_transport_find(tname);
	FZ_CHECK(T && vtb_transport_variant(T, vname) >= 0, "no transport %s variant %s", tname, vname);
	regs = mmap(NULL, sizeof(*regs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	hv_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	FZ_CHECK(regs != MAP_FAILED && hv_page != MAP_FAILED, "mmap");
	FZ_CHECK(!vtb_proc_doorbell_create(&kick) && !vtb_proc_doorbell_create(&call), "doorbells");
	/* Guest RAM is created and populated once; each input starts from
	 * zeroed RAM (populating 4 MiB per input would cost most of it). */
	FZ_CHECK(!vtb_proc_dom_create(&fe_dom, 0, RAM), "FE RAM");
	FZ_CHECK((fe_ram = own_ram(&fe_dom)), "map FE RAM");
	vtb_inproc_ram[0] = fe_ram;
	if (T->be_ram_bytes) {
		struct vtb_xenv probe = { .qsize = 64, .variant = vname };
		uint64_t need = 0;
		for (unsigned q = 8; q <= 32; q *= 2) {
			probe.qsize = (uint16_t)q;
			uint64_t b = (T->be_ram_bytes(&probe) + 4095) & ~4095ull;
			need = b > need ? b : need;
		}
		FZ_CHECK(!vtb_proc_dom_create(&be_dom, 1, need), "BE RAM");
		FZ_CHECK((be_ram = own_ram(&be_dom)), "map BE RAM");
		vtb_inproc_ram[1] = be_ram;
		vtb_proc_dom_set_pid(&be_dom, getpid());
	}
	vtb_proc_dom_set_pid(&fe_dom, getpid());
	return 0;
}

static void touch(const struct vtb_req *r, uint8_t pat)
{
	volatile uint8_t sum = 0;
	FZ_CHECK((unsigned)r->nout + r->nin <= VTB_REQ_MAX_SEG, "%u+%u segments", r->nout, r->nin);
	uint64_t out = 0, in = 0;
	for (unsigned i = 0; i < (unsigned)r->nout + r->nin; i++) {
		uint8_t *b = r->iov[i].base;
		FZ_CHECK(b || !r->iov[i].len, "segment %u has no memory", i);
		if (i < r->nout) {
			for (uint32_t k = 0; k < r->iov[i].len; k++)
				sum = (uint8_t)(sum + b[k]);
			out += r->iov[i].len;
		} else {
			memset(b, pat, r->iov[i].len);
			in += r->iov[i].len;
		}
	}
	FZ_CHECK(out == r->out_bytes && in == r->in_bytes, "byte counts %llu/%u %llu/%u", (unsigned long long)out,
		 r->out_bytes, (unsigned long long)in, r->in_bytes);
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vtb_inproc_side fe = { 0 }, be = { 0 };
	uint8_t cfg = fz_u8(&f);
	memset(regs, 0, sizeof(*regs));
	memset(hv_page, 0, 4096);
	/* Zero what the last input used: its allocations and the region. */
	static uint64_t dirty_lo = 0, dirty_used = RAM;
	memset(fe_ram, 0, dirty_used);
	memset(fe_ram + dirty_lo, 0, RAM - dirty_lo);
	struct vtb_xenv env = { .fe = &fe_dom, .be = &be_dom, .kick = &kick, .call = &call, .regs = regs,
				.variant = vname, .poll = true, .qsize = (uint16_t)(8u << (cfg % 3)),
				.indirect = (cfg >> 2) & 1, .packed = (cfg >> 3) & 1,
				.device_id = 2, .nqueues = 1 };
	if (T->be_ram_bytes)
		FZ_CHECK(((T->be_ram_bytes(&env) + 4095) & ~4095ull) <= be_dom.ram_size, "BE RAM too small");
	if (T->region_bytes) {
		env.shared_size = (T->region_bytes(&env) + 4095) & ~4095ull;
		env.shared_gpa = RAM - env.shared_size;
	}
	fe.env = be.env = env;
	fe.plat = (struct vtb_plat){ &vtb_inproc_platform, &fe.ctr, hv_page };
	be.plat = (struct vtb_plat){ &vtb_inproc_platform, &be.ctr, hv_page };
	fe.env.plat = &fe.plat;
	be.env.plat = &be.plat;
	fe.env.ram = fe_ram;
	if (be_ram) {
		be.env.be_ram = be_ram;
		memset(be_ram, 0, be_dom.ram_size);
	}

	dirty_used = RAM;	/* until this input's FE says what it used */
	dirty_lo = env.shared_size ? env.shared_gpa : RAM;
	/* Start: both sides open, as two domains would. */
	pthread_t th;
	FZ_CHECK(!pthread_create(&th, NULL, fe_open_thread, &fe), "thread");
	be.err = T->be_open(&be.env, &be.x);
	FZ_CHECK(!be.err, "a legitimate BE open failed: %d", be.err);	/* before the FE waits forever */
	pthread_join(th, NULL);
	FZ_CHECK(!fe.err, "a legitimate FE open failed: %d", fe.err);

	/* Legitimate traffic first (a viommu FE waits for its MAPs to be
	 * served, so the BE runs meanwhile), popped and held by the BE. */
	struct vtb_req held[HELD];
	unsigned nheld = 0;
	bool broken = false;
	struct legit l = { &fe, &f, 0 };
	FZ_CHECK(!pthread_create(&th, NULL, fe_legit_thread, &l), "thread");
	for (unsigned long spins = 0; !l.done; spins++) {
		FZ_CHECK(spins < 50000000ul, "a legitimate FE stalled against the BE");
		if (nheld < HELD) {
			int r = T->be_pop(be.x, 0, &held[nheld]);
			FZ_CHECK(r >= 0, "the BE broke on legitimate traffic: %d", r);
			if (r == 1)
				touch(&held[nheld++], 0x22);
		}
		if (spins % 64 == 0)
			sched_yield();
	}
	pthread_join(th, NULL);

	dirty_used = fe.env.ram_used;
	/* Then the hostile part. */
	for (unsigned ops = 0; f.n && ops < 400; ops++) {
		uint8_t op = fz_u8(&f);
		switch (op % 4) {
		case 0:
			switch ((op >> 2) % 3) {
			case 0: fz_write(&f, (uint8_t *)fe.env.ram, fe.env.ram_used, fz_u32(&f), 16); break;
			case 1: fz_write(&f, (uint8_t *)fe.env.ram + env.shared_gpa, env.shared_size, fz_u32(&f), 16); break;
			default: fz_write(&f, (uint8_t *)be_ram, be_ram ? be_dom.ram_size : 0, fz_u32(&f), 16); break;
			}
			break;
		case 1: {
			if (nheld == HELD)
				break;
			int r = T->be_pop(be.x, 0, &held[nheld]);
			if (broken) {
				FZ_CHECK(r < 0, "a broken transport popped again: %d", r);
				break;
			}
			if (r < 0) {
				FZ_CHECK(T->be_broken(be.x), "pop failed (%d) without the transport broken", r);
				FZ_CHECK(regs->status & VTB_S_NEEDS_RESET, "broken without DEVICE_NEEDS_RESET (%d)", r);
				broken = true;
			} else if (r == 1) {
				touch(&held[nheld++], op);
			}
			break;
		}
		case 2: {
			if (!nheld)
				break;
			unsigned i = fz_u8(&f) % nheld;
			struct vtb_req r = held[i];
			held[i] = held[--nheld];
			(void)T->be_push(be.x, &r, fz_u16(&f) % (r.in_bytes + 1));
			break;
		}
		default:
			if (op & 4)
				T->be_flush(be.x);
			else
				(void)T->be_enable_notify(be.x, 1);
			break;
		}
	}
	while (nheld && !broken) {
		struct vtb_req r = held[--nheld];
		(void)T->be_push(be.x, &r, r.in_bytes);
	}
	T->be_close(be.x);
	T->fe_close(fe.x);
	return 0;
}
