/* The net fast path over shm, both domains in one process, in a fixed
 * schedule: the FE's loop body (submit up to qd, kick, reap) and the BE's
 * (process up to a budget, flush) alternate exactly, so the instructions
 * each side spends per frame are the same on every run, whatever the
 * machine's load.  Run it under callgrind and read the inclusive cost of
 * fe_step and be_step (see transports/core/README.md):
 *
 *   valgrind --tool=callgrind build/ci/fastpath_steps tx 128 256 32 200000
 *
 * Arguments: mode (tx or rr), qd, qsize, BE budget per step, frames, and
 * "event" for EVENT_IDX with doorbells (counted, never waited on) instead
 * of polling.
 * ci/cacheline_sim.py turns a lackey trace of it into the cache lines
 * each side takes from the other per frame. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../harness/hist.h"
#include "../transports/tests/inproc.h"
#include "../transports/vring.h"
#include "../workloads/workload.h"

static const struct vtb_workload_ops *W;
static const struct vtb_transport_ops *T;
static struct vtb_hist hist;	/* as the FE's result block */
static uint64_t ops, reap_now;
/* One is written at every step: under valgrind --tool=lackey
 * --trace-mem=yes the store's address says whose accesses follow (line 0:
 * FE, 1: BE; 2 and 3 once half the frames are done, so a line-transfer
 * count can skip the first laps). */
static _Alignas(64) volatile uint32_t mark[4 * 16];
static uint32_t half;

static void done(struct vtb_gen *g, uint64_t t_submit, uint64_t bytes)
{
	(void)g;
	(void)bytes;
	if (!reap_now)	/* one clock read per reap, as cell.c's fe_done */
		reap_now = vtb_now_ns();
	vtb_hist_add(&hist, reap_now - t_submit);
	ops++;
}

struct be_io {
	void *x;
};

static int be_pop(void *ctx, unsigned q, struct vtb_req *req)
{
	return T->be_pop(((struct be_io *)ctx)->x, q, req);
}

static int be_push(void *ctx, struct vtb_req *req, uint32_t written)
{
	return T->be_push(((struct be_io *)ctx)->x, req, written);
}

struct opener {
	struct vtb_inproc_side *fe;
	struct vtb_gen *g;
	int err;
};

static void *fe_open_thread(void *arg)
{
	struct opener *o = arg;
	o->err = T->fe_open(&o->fe->env, W->fe_features, &o->fe->x);
	if (!o->err) {
		o->g->x = o->fe->x;
		o->err = W->fe_init(o->g);
	}
	return NULL;
}

__attribute__((noinline)) static int fe_step(struct vtb_gen *g, unsigned qd)
{
	int sub = 0, e = 0;
	mark[(0 + half) * 16] = 1;
	uint64_t now = vtb_now_ns();
	while (g->inflight < qd && (e = W->fe_submit(g, now++)) > 0)
		sub++;
	if (e < 0)
		return e;
	if (sub)
		for (unsigned q = 0; q < W->nqueues; q++)
			T->fe_kick(g->x, q);
	reap_now = 0;
	return W->fe_reap(g);
}

__attribute__((noinline)) static int be_step(void *dev, void *bx, unsigned budget)
{
	mark[(1 + half) * 16] = 1;
	int n = W->be_process(dev, budget);
	T->be_flush(bx);
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "event"))) {
		fprintf(stderr, "usage: %s tx|rr QD QSIZE BUDGET FRAMES [event]\n", argv[0]);
		return 2;
	}
	static struct vtb_cellp cp = { .device = "net", .transport = "shm", .variant = "split", .notify = "poll",
				       .size = 64, .seed = 1, .mem = 64u << 20 };
	snprintf(cp.mode, sizeof(cp.mode), "%s", argv[1]);
	cp.qd = (unsigned)atoi(argv[2]);
	cp.qsize = (unsigned)atoi(argv[3]);
	unsigned budget = (unsigned)atoi(argv[4]);
	uint64_t frames = strtoull(argv[5], NULL, 10);
	W = vtb_workload_find("net");
	T = vtb_transport_find("shm");
	char err[200];
	if (W->check(&cp, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	struct vtb_dom fe_dom, be_dom = { .id = 1 };
	struct vtb_doorbell kick, call;
	struct vtb_vdev_regs *regs = mmap(NULL, sizeof(*regs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (regs == MAP_FAILED || vtb_proc_dom_create(&fe_dom, 0, cp.mem) || vtb_proc_doorbell_create(&kick) ||
	    vtb_proc_doorbell_create(&call))
		return 1;
	char *ram = vtb_proc_dom_map_own(&fe_dom);
	if (!ram)
		return 1;
	vtb_inproc_ram[0] = ram;
	vtb_proc_dom_set_pid(&fe_dom, getpid());
	vtb_proc_dom_set_pid(&be_dom, getpid());
	struct vtb_xenv env = { .fe = &fe_dom, .be = &be_dom, .kick = &kick, .call = &call, .regs = regs,
				.variant = "split", .poll = argc == 6, .qsize = (uint16_t)cp.qsize, .nqueues = W->nqueues };
	struct vtb_inproc_side fe = { 0 }, be = { 0 };
	vtb_inproc_side_init(&fe, &env, &vtb_inproc_platform);
	vtb_inproc_side_init(&be, &env, &vtb_inproc_platform);
	fe.env.ram = ram;

	struct be_io bio = { 0 };
	struct vtb_dev_io io = { &bio, be_pop, be_push };
	void *dev;
	int e = W->be_init(&cp, &be.env, &io, &dev);
	if (e)
		return 1;
	struct vtb_gen g = { .t = T, .env = &fe.env, .cp = &cp, .done = done };
	struct opener o = { &fe, &g, 0 };
	pthread_t th;
	if (pthread_create(&th, NULL, fe_open_thread, &o))
		return 1;
	e = T->be_open(&be.env, &bio.x);
	if (e) {
		fprintf(stderr, "be_open: %d\n", e);
		return 1;
	}
	/* rr's FE posts its RX buffers at init and waits for nothing. */
	pthread_join(th, NULL);
	if (o.err) {
		fprintf(stderr, "fe_open/init: %d\n", o.err);
		return 1;
	}
	W->be_start(dev, be.env.features);
	vtb_hist_reset(&hist);
	/* shm's BE state starts with its own mapping of FE RAM (shm.c). */
	char *be_view = *(char **)((struct vtb_vbe *)bio.x)->priv;
	fprintf(stderr, "ram %p %llu phase %p be %p\n", (void *)ram, (unsigned long long)cp.mem, (void *)mark,
		(void *)be_view);
	while (ops < frames) {
		half = ops >= frames / 2 ? 2 : 0;
		if (fe_step(&g, cp.qd) < 0 || be_step(dev, bio.x, budget) < 0) {
			fprintf(stderr, "broken after %llu frames\n", (unsigned long long)ops);
			return 1;
		}
	}
	const char *n[VTB_DEV_STATS];
	uint64_t v[VTB_DEV_STATS];
	unsigned ns = W->be_stats(dev, n, v);
	printf("frames %llu", (unsigned long long)ops);
	for (unsigned i = 0; i < ns; i++)
		printf(" %s %llu", n[i], (unsigned long long)v[i]);
	printf(" verify_errors %llu\n", (unsigned long long)g.verify_errors);
	return g.verify_errors ? 1 : 0;
}
