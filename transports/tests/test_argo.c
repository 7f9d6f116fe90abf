/* argo against Xen's argo.c: message sizes (the ring length minus a header
 * and a slot, -EMSGSIZE beyond it, -EAGAIN only for space not there now),
 * rx_ptr sanitizing (rounded up to a slot, 0 at or past the ring's end),
 * the receiver's XEN_ARGO_OP_notify after each drain (an exit each), batch
 * grouping by bytes, and a failed sendv breaking the transport with its
 * reason.  Both domains in this process, through the ops table, on a
 * platform that copies in place and counts exits as proc does. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../ci/vtb_test.h"
#include "../core/vtb_argo.h"
#include "../transport.h"
#include "inproc.h"

#define RAM (16u << 20)
#define RING (1u << 20)

static struct vtb_dom fe_dom = { 0 }, be_dom = { .id = 1 };
static struct vtb_doorbell kick, call;
static struct vtb_vdev_regs *regs;
static void *hv_page;
static const struct vtb_transport_ops *T = &vtb_transport_argo;

/* argo never maps: a map reaching the platform is a failure of the test. */
static void *t_map(struct vtb_plat *p, const struct vtb_dom *o, uint64_t gpa, size_t len, bool w, void *at)
{
	(void)p, (void)o, (void)gpa, (void)len, (void)w, (void)at;
	return NULL;
}

static int t_unmap(struct vtb_plat *p, void *va, size_t len, bool keep_va)
{
	(void)p, (void)va, (void)len, (void)keep_va;
	return -EINVAL;
}

static const struct vtb_platform_ops t_platform = {
	.name = "test", .desc = "both domains in one process", .copy = vtb_inproc_copy, .map = t_map,
	.unmap = t_unmap, .notify = vtb_inproc_notify, .wait = vtb_inproc_wait, .argo = &vtb_proc_argo_service,
};

struct pair {
	struct vtb_inproc_side fe, be;
};

static void *fe_open_thread(void *arg)
{
	struct vtb_inproc_side *f = arg;
	f->err = T->fe_open(&f->env, 0, &f->x);
	return NULL;
}

static struct vtb_argo_ring *be_ring(void)
{
	return (struct vtb_argo_ring *)vtb_inproc_ram[1];
}

static int pair_open(struct pair *p, const char *variant, bool poll)
{
	memset(p, 0, sizeof(*p));
	memset(regs, 0, sizeof(*regs));
	memset(hv_page, 0, 4096);
	memset(vtb_inproc_ram[0], 0, RAM);
	memset(vtb_inproc_ram[1], 0, be_dom.ram_size);
	struct vtb_xenv env = { .fe = &fe_dom, .be = &be_dom, .kick = &kick, .call = &call, .regs = regs,
				.variant = variant, .poll = poll, .qsize = 16,
				.device_id = 2, .nqueues = 1 };
	vtb_inproc_hv = hv_page;
	vtb_inproc_side_init(&p->fe, &env, &t_platform);
	vtb_inproc_side_init(&p->be, &env, &t_platform);
	p->fe.env.ram = vtb_inproc_ram[0];
	p->be.env.be_ram = vtb_inproc_ram[1];
	pthread_t th;
	if (pthread_create(&th, NULL, fe_open_thread, &p->fe))
		return -1;
	p->be.err = T->be_open(&p->be.env, &p->be.x);
	pthread_join(th, NULL);
	if (p->fe.err || p->be.err)
		return -1;
	memset(&p->fe.ctr, 0, sizeof(p->fe.ctr));
	memset(&p->be.ctr, 0, sizeof(p->be.ctr));
	return 0;
}

static void pair_close(struct pair *p)
{
	T->be_close(p->be.x);
	T->fe_close(p->fe.x);
}

/* A request: out bytes of 0x5a out, in bytes in; returns fe_add's result. */
static int add(struct pair *p, uint32_t out, uint32_t in, void *token)
{
	struct vtb_sg sg[2];
	unsigned n = 0;
	void *va;
	if (out) {
		if (vtb_fe_alloc(&p->fe.env, out, 64, &sg[n].addr, &va))
			return -ENOMEM;
		memset(va, 0x5a, out);
		sg[n++].len = out;
	}
	if (in) {
		if (vtb_fe_alloc(&p->fe.env, in, 64, &sg[n].addr, &va))
			return -ENOMEM;
		sg[n++].len = in;
	}
	return T->fe_add(p->fe.x, 0, sg, out ? 1 : 0, in ? 1 : 0, token);
}

/* The BE takes one request, writes all its in-bytes, completes it. */
static int serve_one(struct pair *p, uint32_t *out_bytes)
{
	struct vtb_req r;
	int got = T->be_pop(p->be.x, 0, &r);
	if (got != 1)
		return got;
	if (out_bytes)
		*out_bytes = r.out_bytes;
	if (r.nin)
		memset(r.iov[r.nout].base, 0xa5, r.in_bytes);
	return T->be_push(p->be.x, &r, r.in_bytes) ? -1 : 1;
}

/* One request there and back. */
static int roundtrip(struct pair *p, uint32_t out)
{
	static int tok;
	int e = add(p, out, 1, &tok);
	if (e)
		return e;
	T->fe_kick(p->fe.x, 0);
	if (serve_one(p, NULL) != 1)
		return -100;
	T->be_flush(p->be.x);
	return T->fe_get(p->fe.x, 0, NULL) == &tok ? 0 : -101;
}

/* Each side notifies once per drain that took messages (event mode): per
 * sync request the FE pays sendv (a copy), the doorbell and its notify
 * after the completion; the BE the same for its side. */
static void test_notify_counts(const char *variant, bool poll, unsigned per_kick)
{
	struct pair p;
	CHECK(!pair_open(&p, variant, poll));
	static int tok[4];
	const unsigned rounds = 16;
	unsigned done = 0;
	for (unsigned k = 0; k < rounds; k++) {
		for (unsigned i = 0; i < per_kick; i++)
			CHECK_EQ(add(&p, 64, 512, &tok[i]), 0);
		T->fe_kick(p.fe.x, 0);
		for (unsigned i = 0; i < per_kick; i++)
			CHECK_EQ(serve_one(&p, NULL), 1);
		T->be_flush(p.be.x);
		uint32_t len;
		while (T->fe_get(p.fe.x, 0, &len)) {
			CHECK_EQ(len, 512);
			done++;
		}
	}
	CHECK_EQ(done, rounds * per_kick);
	CHECK(!T->fe_broken(p.fe.x) && !T->be_broken(p.be.x));
	/* sendv: one per kick each way; doorbells: one per sendv (event). */
	CHECK_EQ(p.fe.ctr.xport_ops, rounds);
	CHECK_EQ(p.be.ctr.xport_ops, rounds);
	/* notify: once per drain that took messages, in both modes (a polling
	 * sender waits for the pending bit only that sets for space). */
	unsigned bells = poll ? 0 : rounds, notify_calls = rounds;
	CHECK_EQ(p.fe.ctr.notifies, bells);
	CHECK_EQ(p.be.ctr.notifies, bells);
	/* copies: the sendv's into the peer's ring, the notify's read of our
	 * own rx_ptr; exits: those, and the doorbells. */
	CHECK_EQ(p.fe.ctr.copies, rounds + notify_calls);
	CHECK_EQ(p.be.ctr.copies, rounds + notify_calls);
	CHECK_EQ(p.fe.ctr.exits, rounds + bells + notify_calls);
	CHECK_EQ(p.be.ctr.exits, rounds + bells + notify_calls);
	printf("argo/%s %s: per op FE exits %.2f, BE exits %.2f (notify hypercalls %.2f each side)\n", variant,
	       poll ? "poll" : "event", (double)p.fe.ctr.exits / done, (double)p.be.ctr.exits / done,
	       (double)notify_calls / done);
	pair_close(&p);
}

/* Xen takes a message of the ring length minus 32 bytes: a request whose
 * out-data and record fill that exactly goes through; one more byte
 * cannot be carried (refused up front with -EMSGSIZE). */
static void test_sizes(const char *variant)
{
	struct pair p;
	CHECK(!pair_open(&p, variant, false));
	uint32_t max_out = vtb_argo_ring_max_msg(RING) - 16;	/* minus the request record */
	static int tok;
	CHECK_EQ(add(&p, max_out, 1, &tok), 0);
	T->fe_kick(p.fe.x, 0);
	uint32_t got = 0;
	CHECK_EQ(serve_one(&p, &got), 1);
	CHECK_EQ(got, max_out);
	T->be_flush(p.be.x);
	CHECK(T->fe_get(p.fe.x, 0, NULL) == &tok);
	/* A completion of the largest in-data. */
	CHECK_EQ(add(&p, 16, vtb_argo_ring_max_msg(RING) - 16, &tok), 0);
	T->fe_kick(p.fe.x, 0);
	CHECK_EQ(serve_one(&p, NULL), 1);
	T->be_flush(p.be.x);
	uint32_t len = 0;
	CHECK(T->fe_get(p.fe.x, 0, &len) == &tok);
	CHECK_EQ(len, vtb_argo_ring_max_msg(RING) - 16);
	CHECK_EQ(add(&p, max_out + 1, 1, &tok), -EMSGSIZE);
	CHECK(!T->fe_broken(p.fe.x) && !T->be_broken(p.be.x));
	/* The declared limits say the same. */
	uint64_t mo = 0, mi = 0;
	CHECK(T->max_request != NULL);
	if (T->max_request)
		T->max_request(&p.fe.env, &mo, &mi);
	CHECK_EQ(mo, max_out);
	CHECK_EQ(mi, vtb_argo_ring_max_msg(RING) - 16);
	pair_close(&p);
}

/* batch groups by bytes: four 300 KiB writes do not make one message
 * (1.2 MB, over what a 1 MiB ring takes): the fourth waits for space,
 * sent once the BE's drain and notify free it. */
static void test_batch_bytes(void)
{
	struct pair p;
	CHECK(!pair_open(&p, "batch", false));
	static int tok[4];
	unsigned added = 0, served = 0, got = 0;
	for (unsigned i = 0; i < 4; i++)
		if (add(&p, 300u << 10, 1, &tok[i]) == 0)
			added++;
	T->fe_kick(p.fe.x, 0);
	for (unsigned spin = 0; spin < 64 && got < 4; spin++) {
		if (added < 4 && add(&p, 300u << 10, 1, &tok[added]) == 0)
			added++;
		T->fe_kick(p.fe.x, 0);
		while (serve_one(&p, NULL) == 1)
			served++;
		T->be_flush(p.be.x);
		while (T->fe_get(p.fe.x, 0, NULL))
			got++;
		if (!T->fe_enable_cb(p.fe.x))
			(void)T->fe_wait(p.fe.x);	/* the VIRQ the BE's notify raised */
	}
	CHECK_EQ(served, 4);
	CHECK_EQ(got, 4);
	CHECK(p.fe.ctr.xport_ops >= 2);	/* at least two messages */
	CHECK(!T->fe_broken(p.fe.x) && !T->be_broken(p.be.x));
	pair_close(&p);
}

/* rx_ptr as Xen reads it: rounded up to 16 bytes and 0 at or past the end,
 * never an error for the sender. */
static void test_rx_ptr(void)
{
	CHECK_EQ(vtb_argo_rx_sanitize(0, RING), 0);
	CHECK_EQ(vtb_argo_rx_sanitize(17, RING), 32);
	CHECK_EQ(vtb_argo_rx_sanitize(RING - 1, RING), 0);
	CHECK_EQ(vtb_argo_rx_sanitize(RING, RING), 0);
	CHECK_EQ(vtb_argo_rx_sanitize(RING + 7, RING), 0);
	CHECK_EQ(vtb_argo_rx_sanitize(0xfffffff9u, RING), 0);
	CHECK_EQ(vtb_argo_ring_max_msg(RING), 1048544);
	CHECK(vtb_argo_fits(RING, 0, 0, 1048544));
	CHECK(!vtb_argo_fits(RING, 0, 0, 1048545));
	CHECK_EQ(vtb_argo_payload_space(RING, 0, 0), 1048544);

	/* 400 KiB messages (under half the ring, which the old limit took):
	 * two fit the ring, the sender's cached view of rx_ptr goes stale on
	 * the third and it re-reads the receiver's. */
	struct pair p;
	CHECK(!pair_open(&p, "sync", false));
	uint32_t big = 400u << 10;
	CHECK_EQ(roundtrip(&p, big), 0);
	CHECK_EQ(roundtrip(&p, big), 0);
	uint32_t rx = be_ring()->rx_ptr;
	CHECK_EQ(rx % 16, 0);
	/* A receiver leaving a misaligned rx_ptr: Xen rounds it up. */
	be_ring()->rx_ptr = rx - 5;
	uint64_t reads = p.fe.ctr.copies;
	CHECK_EQ(roundtrip(&p, big), 0);
	CHECK(p.fe.ctr.copies - reads > 1);	/* it did read rx_ptr */
	CHECK_EQ(roundtrip(&p, big), 0);
	/* One at or past the ring's end reads as 0 (the hypervisor believes
	 * the receiver): the send goes in at tx, and the transport holds. */
	be_ring()->rx_ptr = RING + 7;
	reads = p.fe.ctr.copies;
	CHECK_EQ(roundtrip(&p, big), 0);
	CHECK(p.fe.ctr.copies - reads > 1);
	CHECK(!T->fe_broken(p.fe.x) && !T->be_broken(p.be.x));
	/* -EAGAIN, not -EMSGSIZE, for a message that fits the ring but not
	 * the space now: the request is accepted and waits (an add fails for a
	 * lack of slots only); the receiver's notify after its drain signals
	 * the sender, whose retry sends it. */
	static int tok3[3];
	CHECK_EQ(add(&p, big, 1, &tok3[0]), 0);
	CHECK_EQ(add(&p, big, 1, &tok3[1]), 0);
	uint64_t sends = p.fe.ctr.xport_ops;
	CHECK_EQ(add(&p, big, 1, &tok3[2]), 0);
	CHECK_EQ(p.fe.ctr.xport_ops - sends, 1);	/* tried */
	CHECK(!T->fe_broken(p.fe.x));
	uint64_t bells = p.be.ctr.notifies;
	CHECK_EQ(serve_one(&p, NULL), 1);
	CHECK_EQ(p.be.ctr.notifies - bells, 2);	/* the space signal, the completion's VIRQ */
	CHECK_EQ(serve_one(&p, NULL), 1);
	CHECK_EQ(serve_one(&p, NULL), 0);	/* the third is not there yet */
	T->be_flush(p.be.x);
	CHECK(T->fe_enable_cb(p.fe.x));	/* completions wait */
	CHECK_EQ(T->fe_wait(p.fe.x), 0);	/* the space signal's VIRQ */
	sends = p.fe.ctr.xport_ops;
	CHECK(T->fe_enable_cb(p.fe.x));	/* after the wake-up: the retry goes through */
	CHECK_EQ(p.fe.ctr.xport_ops - sends, 1);
	CHECK(T->fe_get(p.fe.x, 0, NULL) == &tok3[0]);
	CHECK(T->fe_get(p.fe.x, 0, NULL) == &tok3[1]);
	CHECK_EQ(serve_one(&p, NULL), 1);
	T->be_flush(p.be.x);
	CHECK(T->fe_get(p.fe.x, 0, NULL) == &tok3[2]);
	CHECK_EQ(roundtrip(&p, big), 0);
	pair_close(&p);
}

/* notify=poll: a sender that got -EAGAIN does not spin on sendv; it
 * retries once its masked VIRQ's pending bit is set, which the receiver's
 * notify after its drain does. */
static void test_poll_stall(void)
{
	struct pair p;
	CHECK(!pair_open(&p, "sync", true));
	static int tok[3];
	uint32_t big = 400u << 10;
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(add(&p, big, 1, &tok[i]), 0);
	uint64_t sends = p.fe.ctr.xport_ops;
	for (unsigned i = 0; i < 10; i++)
		CHECK(T->fe_get(p.fe.x, 0, NULL) == NULL);
	CHECK_EQ(p.fe.ctr.xport_ops, sends);	/* no retry before a signal */
	CHECK_EQ(serve_one(&p, NULL), 1);	/* drains both, notifies: the bit */
	CHECK_EQ(serve_one(&p, NULL), 1);
	T->be_flush(p.be.x);
	CHECK(T->fe_get(p.fe.x, 0, NULL) == &tok[0]);
	CHECK_EQ(p.fe.ctr.xport_ops, sends + 1);	/* the retry, sent */
	CHECK(T->fe_get(p.fe.x, 0, NULL) == &tok[1]);
	CHECK_EQ(serve_one(&p, NULL), 1);
	T->be_flush(p.be.x);
	CHECK(T->fe_get(p.fe.x, 0, NULL) == &tok[2]);
	CHECK(!T->fe_broken(p.fe.x) && !T->be_broken(p.be.x));
	pair_close(&p);
}

/* A sendv error other than -EAGAIN breaks the transport at once, with the
 * reason (VTB_ARGO_FAIL_SENDV, read once per process: a child each). */
static int fault_child(const char *spec, const char *variant)
{
	pid_t pid = fork();
	if (pid == 0) {
		setenv("VTB_ARGO_FAIL_SENDV", spec, 1);
		struct pair p;
		static int tok[4];
		if (pair_open(&p, variant, false))
			_exit(10);
		bool be_side = spec[0] == 'b';
		for (unsigned i = 0; i < 3; i++) {
			int e = add(&p, 64, 64, &tok[i]);
			T->fe_kick(p.fe.x, 0);
			if (!be_side && (e || T->fe_broken(p.fe.x)))
				_exit(strstr(p.fe.env.why, "Invalid argument") && T->fe_broken(p.fe.x) ? 0 : 11);
			while (serve_one(&p, NULL) == 1)
				;
			T->be_flush(p.be.x);
			if (be_side && T->be_broken(p.be.x))
				_exit(strstr(p.be.env.why, "Invalid argument") && T->fe_broken(p.fe.x) ? 0 : 12);
			while (T->fe_get(p.fe.x, 0, NULL))
				;
		}
		_exit(13);	/* the fault was not seen */
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

/* Both domains' RAM in this one process (proc maps each at the same
 * address in its own process). */
static char *own_ram(const struct vtb_dom *d)
{
	void *p = mmap(NULL, d->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, vtb_proc_dom_ram_fd(d), 0);
	return p == MAP_FAILED ? NULL : p;
}

int main(void)
{
	regs = mmap(NULL, sizeof(*regs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	hv_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(regs != MAP_FAILED && hv_page != MAP_FAILED);
	CHECK(!vtb_proc_doorbell_create(&kick) && !vtb_proc_doorbell_create(&call));
	struct vtb_xenv probe = { .qsize = 16 };
	CHECK(!vtb_proc_dom_create(&fe_dom, 0, RAM));
	CHECK(!vtb_proc_dom_create(&be_dom, 1, (T->be_ram_bytes(&probe) + 4095) & ~4095ull));
	vtb_inproc_ram[0] = own_ram(&fe_dom);
	vtb_inproc_ram[1] = own_ram(&be_dom);
	CHECK(vtb_inproc_ram[0] && vtb_inproc_ram[1]);
	if (vtb_failed)
		return vtb_test_end("test_argo");
	vtb_proc_dom_set_pid(&fe_dom, getpid());
	vtb_proc_dom_set_pid(&be_dom, getpid());

	test_rx_ptr();
	test_sizes("sync");
	test_sizes("batch");
	test_batch_bytes();
	test_poll_stall();
	test_notify_counts("sync", false, 1);
	test_notify_counts("batch", false, 4);
	test_notify_counts("sync", true, 1);
	test_notify_counts("batch", true, 4);
	CHECK_EQ(fault_child("fe:2", "sync"), 0);
	CHECK_EQ(fault_child("fe:2", "batch"), 0);
	CHECK_EQ(fault_child("be:2", "sync"), 0);
	CHECK_EQ(fault_child("be:2", "batch"), 0);
	return vtb_test_end("test_argo");
}
