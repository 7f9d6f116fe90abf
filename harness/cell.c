/* One cell, one repetition: fresh FE and BE domains as processes, the
 * transport between them, the harness watching from outside.  Everything a
 * domain reports crosses in one shared page; a domain that dies or hangs
 * fails the cell, never the run. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calib.h"
#include "cell.h"
#include "perfctr.h"
#include "probes.h"
#include "vtb_usdt.h"

/* Each writer owns whole cache lines (128 B: the adjacent-line prefetcher
 * pairs 64 B lines), so the measurement adds no cross-domain line traffic:
 * the BE polls control flags that change only at phase boundaries, and no
 * line holds both a counter the FE bumps on every op and one of the BE's. */
#define VTB_SHARED_LINE 128

struct dom_counters {
	_Alignas(VTB_SHARED_LINE) struct vtb_plat_counters live;	/* the domain's seam counters */
	struct vtb_plat_counters snap;	/* at the start of its own measured phase */
};

/* Two cells taking turns (vtb_cell_run_pair): one page both cells' four
 * processes map.  Each word is written at turn boundaries only. */
struct gate {
	_Alignas(VTB_SHARED_LINE) uint32_t turn;	/* whose FE runs: 0 or 1 */
	uint32_t ready[2];	/* that FE is set up and taking turns */
	uint32_t done[2];	/* that FE's measured phase is over: never wait for it */
	uint32_t ndone;		/* both done: tear down */
	uint32_t dead;		/* the harness saw a domain end: nobody waits any more */
	_Alignas(VTB_SHARED_LINE) uint32_t active[2];	/* that cell's turn is on: its BE serves */
};

static long futex(uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

static void wake_all(uint32_t *w)
{
	futex(w, FUTEX_WAKE, INT_MAX);
}

static uint32_t gld(const uint32_t *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void gst(uint32_t *w, uint32_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* Until it is cell me's turn, or the other will not take one again. */
static void gate_wait(struct gate *g, unsigned me)
{
	for (;;) {
		uint32_t t = gld(&g->turn);
		if (t == me || gld(&g->done[!me]) || gld(&g->dead))
			return;
		futex(&g->turn, FUTEX_WAIT, t);
	}
}

static void gate_turn_on(struct gate *g, unsigned me)
{
	gst(&g->active[me], 1);
	wake_all(&g->active[me]);
}

static void gate_pass(struct gate *g, unsigned me)
{
	gst(&g->active[me], 0);
	gst(&g->turn, !me);
	wake_all(&g->turn);
}

/* The FE's measured phase is over: let the other finish its own, then
 * both tear down (a teardown would disturb the other's turns). */
static void gate_finish(struct gate *g, unsigned me)
{
	gst(&g->done[me], 1);
	__atomic_add_fetch(&g->ndone, 1, __ATOMIC_ACQ_REL);
	wake_all(&g->ndone);
	gate_pass(g, me);
	for (uint32_t n; (n = gld(&g->ndone)) < 2 && !gld(&g->dead);)
		futex(&g->ndone, FUTEX_WAIT, n);
}

struct shared {
	/* Written by the FE or the harness a few times per cell, read by both. */
	_Alignas(VTB_SHARED_LINE) uint32_t stop;	/* FE -> BE: finish */
	uint32_t measuring;		/* FE -> BE: the measured phase has begun */
	uint32_t measure_end;		/* FE -> BE: ... and has ended */
	uint32_t pids_ready;		/* harness -> domains: fe_pid and be_pid are set */
	pid_t fe_pid, be_pid;
	struct gate *gate;		/* paired: the turns; NULL: a cell on its own */
	void *hv;			/* the platform's hypervisor page (vtb_plat.hv) */
	unsigned me;			/* paired: which of the two this is */
	_Alignas(VTB_SHARED_LINE) uint32_t be_ready;	/* BE -> harness */
	/* [0]: the FE's lines, [1]: the BE's. */
	_Alignas(VTB_SHARED_LINE) struct dom_counters dom[2];
	/* Results: the FE writes its figures per op, the BE its own only at the end. */
	_Alignas(VTB_SHARED_LINE) struct vtb_cell_result r;
	char be_error[256];
	char fe_error[256];
};
_Static_assert(sizeof(struct dom_counters) % VTB_SHARED_LINE == 0, "a domain's counters end on its own line");
_Static_assert(offsetof(struct shared, dom) % VTB_SHARED_LINE == 0 && offsetof(struct shared, be_ready) % VTB_SHARED_LINE == 0 &&
	       offsetof(struct shared, r) % VTB_SHARED_LINE == 0, "each writer's block starts a line");

static uint64_t cpu_ns(clockid_t clk)
{
	struct timespec ts;
	if (clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void cpu_relax(void)
{
	vtb_cpu_relax();
}

/* Both domains exist: learn the peer's identity, as a hypervisor knows it. */
static void await_pids(struct shared *sh, struct vtb_xenv *env)
{
	while (!__atomic_load_n(&sh->pids_ready, __ATOMIC_ACQUIRE))
		sched_yield();
	env->fe->pid = sh->fe_pid;
	env->be->pid = sh->be_pid;
}

static void domain_error(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	if (buf[0])
		return;
	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ BE */
struct be_phase {
	struct vtb_perfctr *pc;
	struct shared *sh;
	struct vtb_plat *plat;
	bool measuring, ended;
	uint64_t cpu0;
};

static void be_phase_end(struct be_phase *ph)
{
	struct shared *sh = ph->sh;
	VTB_USDT_PHASE(1, 0);
	uint64_t *a = (uint64_t *)ph->plat->ctr, *b = (uint64_t *)&sh->dom[1].snap, *o = (uint64_t *)&sh->r.d[1];
	for (size_t i = 0; i < sizeof(struct vtb_plat_counters) / 8; i++)
		o[i] = a[i] - b[i];
	sh->r.cpu_s[1] = (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - ph->cpu0) / 1e9;
	vtb_perfctr_stop(ph->pc, &sh->r.perf[1]);
	ph->ended = true;
}

/* Follows the FE's measured phase: nothing but counting happens between
 * a snapshot of the seam counters and the phase USDT.  Called before every
 * request the device takes, so the BE's window starts and ends within a
 * request of the FE's: a device loop may run for milliseconds (hundreds
 * of requests under polling) before it returns. */
static void be_phase_track(struct be_phase *ph)
{
	struct shared *sh = ph->sh;
	if (!ph->measuring && __atomic_load_n(&sh->measuring, __ATOMIC_ACQUIRE)) {
		vtb_perfctr_start(ph->pc);
		ph->cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
		sh->dom[1].snap = *ph->plat->ctr;
		VTB_USDT_PHASE(1, 1);
		ph->measuring = true;
	}
	if (ph->measuring && !ph->ended && __atomic_load_n(&sh->measure_end, __ATOMIC_ACQUIRE))
		be_phase_end(ph);
}

struct be_io {
	const struct vtb_transport_ops *t;
	void *x;
	struct be_phase *ph;
};

static int be_pop(void *ctx, unsigned q, struct vtb_req *req)
{
	struct be_io *b = ctx;
	be_phase_track(b->ph);
	return b->t->be_pop(b->x, q, req);
}

static int be_push(void *ctx, struct vtb_req *req, uint32_t written)
{
	struct be_io *b = ctx;
	return b->t->be_push(b->x, req, written);
}

static int be_main(const struct vtb_cellp *cp, struct shared *sh, struct vtb_xenv *env)
{
	const struct vtb_workload_ops *w = vtb_workload_find(cp->device);
	const struct vtb_transport_ops *t = vtb_transport_find(cp->transport);
	struct vtb_plat plat = { &vtb_platform_proc, &sh->dom[1].live, sh->hv };
	struct vtb_perfctr pc;
	/* Each domain times and counts its own measured phase: another
	 * process's CPU clock is only as fresh as its last tick, and the
	 * kernel's view (the phase USDT) must cover the same calls. */
	struct be_phase ph = { .pc = &pc, .sh = sh, .plat = &plat };
	struct be_io bio = { t, NULL, &ph };
	struct vtb_dev_io io = { &bio, be_pop, be_push };
	void *dev;
	int e;

	vtb_pin_self(cp->cpu_be);
	await_pids(sh, env);
	env->plat = &plat;
	if (env->be->ram_fd >= 0 && !(env->be_ram = vtb_proc_dom_map_own(env->be))) {
		domain_error(sh->be_error, sizeof(sh->be_error), "BE: cannot map its RAM: %s", strerror(errno));
		return 1;
	}
	if ((e = w->be_init(cp, env, &io, &dev))) {
		domain_error(sh->be_error, sizeof(sh->be_error), "BE: %s device init: %s", w->name, strerror(-e));
		return 1;
	}
	if ((e = t->be_open(env, &bio.x))) {
		domain_error(sh->be_error, sizeof(sh->be_error), "BE: %s open: %s", t->name, strerror(-e));
		w->be_fini(dev);
		return 1;
	}
	w->be_start(dev, env->features);
	vtb_perfctr_open(&pc, &sh->r.perf[1]);
	__atomic_store_n(&sh->be_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		be_phase_track(&ph);
		int n = w->be_process(dev, cp->qsize);
		if (n < 0 && __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
			break;	/* the FE is tearing down: its memory may be gone */
		if (n < 0) {
			if (env->why[0])	/* the transport said what broke */
				domain_error(sh->be_error, sizeof(sh->be_error), "BE: %s; status NEEDS_RESET", env->why);
			domain_error(sh->be_error, sizeof(sh->be_error),
				     "BE: device stopped on bad input from the FE (%s); status NEEDS_RESET", strerror(-n));
			plat.ops->notify(&plat, env->call);	/* wake the FE to see it */
			while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
				t->be_wait(bio.x);
			break;
		}
		t->be_flush(bio.x);
		if (n)
			continue;
		if (env->poll) {
			struct gate *gt = sh->gate;
			/* Paired: between its cell's turns a polling BE sleeps, so
			 * the other cell's BE has the CPU to itself; not before its
			 * FE takes turns (its setup may wait on requests). */
			if (gt && gld(&gt->ready[sh->me]) && !gld(&gt->active[sh->me]) && !gld(&gt->dead) &&
			    !gld(&sh->stop)) {
				bool counting = ph.measuring && !ph.ended;
				if (counting)
					VTB_USDT_PHASE(1, 0);
				futex(&gt->active[sh->me], FUTEX_WAIT, 0);
				if (counting)
					VTB_USDT_PHASE(1, 1);
			} else
				cpu_relax();
			continue;
		}
		if (!t->be_enable_notify(bio.x, w->be_wake_mask(dev)) && !__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
			t->be_wait(bio.x);
		t->be_disable_notify(bio.x);
	}
	be_phase_track(&ph);
	if (ph.measuring && !ph.ended)
		be_phase_end(&ph);
	vtb_perfctr_close(&pc);
	sh->r.ndev = w->be_stats(dev, sh->r.dev_names, sh->r.dev_vals);
	for (unsigned i = 0; i < sh->r.ndev && i < VTB_DEV_STATS; i++)
		snprintf(sh->r.dev_name_buf[i], sizeof(sh->r.dev_name_buf[i]), "%s", sh->r.dev_names[i]);
	t->be_close(bio.x);
	w->be_fini(dev);
	return 0;
}

/* ------------------------------------------------------------------ FE */
struct fe_state {
	struct shared *sh;
	bool measuring;
	uint64_t measured;
	uint64_t target;	/* ops=N: count exactly N */
	uint64_t t_end;		/* when the N-th op completed */
	unsigned usdt;		/* 1 in usdt requests fires the request USDT */
	uint64_t reap_now;	/* the clock for completions of this reap; 0: not read yet */
	unsigned slice;		/* the slice of the measured phase ops complete in */
	uint64_t slice_end, slice_ns;
};

/* Steal time of a CPU in seconds (/proc/stat, USER_HZ ticks); <0 unknown. */
static void read_steal(const int cpu[2], double out[2])
{
	out[0] = out[1] = -1;
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return;
	char line[512];
	long hz = sysconf(_SC_CLK_TCK);
	while (fgets(line, sizeof(line), f)) {
		int n;
		unsigned long long v[8];
		if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &n, &v[0], &v[1], &v[2], &v[3], &v[4],
			   &v[5], &v[6], &v[7]) != 9)
			continue;
		for (int d = 0; d < 2; d++)
			if (cpu[d] == n && hz > 0)
				out[d] = (double)v[7] / (double)hz;
	}
	fclose(f);
}

static void fe_done(struct vtb_gen *g, uint64_t t_submit, uint64_t bytes)
{
	struct fe_state *fs = g->harness;
	if (!fs->measuring || (fs->target && fs->measured >= fs->target))
		return;
	bool sampled = vtb_usdt_sampled(t_submit, fs->usdt);
	if (sampled)
		VTB_USDT_COMPLETE(t_submit);	/* before the clock: the kernel's span lies inside ours */
	/* Completions found by one reap share the first one's clock read; a
	 * sampled one reads its own after its probe, so the kernel's span stays
	 * inside ours. */
	if (!fs->reap_now || sampled)
		fs->reap_now = vtb_now_ns();
	uint64_t now = fs->reap_now;
	while (now >= fs->slice_end && fs->slice < VTB_SLICES - 1) {
		fs->slice++;
		fs->slice_end += fs->slice_ns;
	}
	fs->sh->r.slice_ops[fs->slice]++;
	vtb_hist_add(&fs->sh->r.hist, now - t_submit);
	if (sampled)
		vtb_hist_add(&fs->sh->r.usdt_user, now - t_submit);
	if (fs->target && fs->measured + 1 == fs->target)
		fs->t_end = now;
	fs->sh->r.ops++;
	fs->sh->r.bytes += bytes;
	fs->measured++;
}

/* Paired: this FE takes no more turns; waits for the other's measured
 * phase to end before anything is torn down. */
static void fe_unpair(struct shared *sh)
{
	if (sh->gate && !gld(&sh->gate->done[sh->me]))
		gate_finish(sh->gate, sh->me);
}

/* Paired: a BE asleep between turns must see stop. */
static void fe_wake_be(struct shared *sh)
{
	if (sh->gate)
		gate_turn_on(sh->gate, sh->me);
}

static int fe_main(const struct vtb_cellp *cp, struct shared *sh, struct vtb_xenv *env)
{
	const struct vtb_workload_ops *w = vtb_workload_find(cp->device);
	const struct vtb_transport_ops *t = vtb_transport_find(cp->transport);
	struct vtb_plat plat = { &vtb_platform_proc, &sh->dom[0].live, sh->hv };
	struct fe_state fs = { .sh = sh, .target = cp->ops, .usdt = cp->probes_on ? cp->usdt : 0 };
	struct gate *gt = sh->gate;
	unsigned me = sh->me;
	struct vtb_perfctr pc;
	struct vtb_gen g = { .t = t, .env = env, .cp = cp, .done = fe_done, .harness = &fs };
	uint64_t cpu0 = 0;
	int e, rc = 1;

	vtb_pin_self(cp->cpu_fe);
	vtb_perfctr_open(&pc, &sh->r.perf[0]);
	await_pids(sh, env);
	env->plat = &plat;
	env->ram = vtb_proc_dom_map_own(env->fe);
	if (!env->ram) {
		domain_error(sh->fe_error, sizeof(sh->fe_error), "FE: cannot map its RAM: %s", strerror(errno));
		goto stop;
	}
	if ((e = t->fe_open(env, w->fe_features, &g.x))) {
		domain_error(sh->fe_error, sizeof(sh->fe_error), "FE: %s open: %s", t->name, strerror(-e));
		goto stop;
	}
	if ((e = w->fe_init(&g))) {
		domain_error(sh->fe_error, sizeof(sh->fe_error), "FE: %s generator init: %s", w->name, strerror(-e));
		goto close;
	}

	uint64_t warm_ns = (uint64_t)(cp->warmup * 1e9), dur_ns = (uint64_t)(cp->duration * 1e9);
	int cpus[2] = { cp->cpu_fe, cp->cpu_be };
	double steal0[2] = { -1, -1 };
	/* Paired: time is counted in own turns only; each turn ends with
	 * nothing in flight, so a turn's ops are its own. */
	uint64_t turn_ns = gt ? (dur_ns / VTB_SLICES ? dur_ns / VTB_SLICES : 1) : 0;
	uint64_t turn_start = 0, own_ns = 0, meas_ns = 0;
	bool draining = false, fresh = false;
	if (gt) {
		gst(&gt->ready[me], 1);
		gate_wait(gt, me);
		gate_turn_on(gt, me);
		turn_start = vtb_now_ns();
		fresh = true;
	}
	uint64_t t0 = vtb_now_ns(), tm = 0, last = 0;
	for (;;) {
		uint64_t now = vtb_now_ns();
		if (gt) {
			if (!draining && now - turn_start >= turn_ns)
				draining = true;
			if (draining && !g.inflight) {
				own_ns += now - turn_start;
				if (fs.measuring) {
					meas_ns += now - turn_start;
					sh->r.slice_dur_ns[fs.slice] += (double)(now - turn_start);
					if (meas_ns >= dur_ns)
						break;
					if (fs.slice < VTB_SLICES - 1)
						fs.slice++;
				}
				/* The handover's system calls are the harness's, not
				 * the cell's: the kernel's count pauses over them. */
				if (fs.measuring)
					VTB_USDT_PHASE(0, 0);
				gate_pass(gt, me);
				gate_wait(gt, me);
				gate_turn_on(gt, me);
				if (fs.measuring)
					VTB_USDT_PHASE(0, 1);
				draining = false;
				fresh = true;
				now = turn_start = vtb_now_ns();
			}
		}
		/* Paired: the measured phase starts with a turn, once the other
		 * cell is set up (its setup would share our CPUs). */
		bool warm = gt ? fresh && own_ns >= warm_ns &&
				 (gld(&gt->ready[!me]) || gld(&gt->done[!me]) || gld(&gt->dead))
			       : now - t0 >= warm_ns;
		fresh = false;
		if (!fs.measuring && warm) {
			read_steal(cpus, steal0);
			now = vtb_now_ns();
			if (gt)
				turn_start = now;
			/* ops=N has no known length: its slices are the warmup's. */
			fs.slice_ns = gt ? turn_ns : (cp->ops ? (warm_ns ? warm_ns : 1000000) : dur_ns) / VTB_SLICES;
			if (!fs.slice_ns)
				fs.slice_ns = 1;
			fs.slice_end = gt ? UINT64_MAX : now + fs.slice_ns;
			sh->r.slice_ns = (double)fs.slice_ns;
			/* Measured phase starts: snapshot both domains' counters. */
			vtb_hist_reset(&sh->r.hist);
			vtb_hist_reset(&sh->r.usdt_user);
			vtb_perfctr_start(&pc);
			cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
			sh->dom[0].snap = sh->dom[0].live;
			VTB_USDT_PHASE(0, 1);
			fs.measuring = true;
			__atomic_store_n(&sh->measuring, 1, __ATOMIC_RELEASE);
			tm = now;
		}
		if (fs.measuring && !gt && (cp->ops ? fs.measured >= cp->ops : now - tm >= dur_ns))
			break;
		int sub = 0;
		/* One clock read per batch (a vDSO read costs ~50 ns on a VM, as
		 * much as a whole op at depth); each submit gets a distinct
		 * timestamp, since it keys the request USDT. */
		while (!draining && g.inflight < cp->qd) {
			now = last = now > last ? now : last + 1;
			if ((e = w->fe_submit(&g, now)) <= 0)
				break;
			if (vtb_usdt_sampled(now, fs.usdt))
				VTB_USDT_SUBMIT(now);
			sub++;
		}
		if (e < 0) {
			domain_error(sh->fe_error, sizeof(sh->fe_error), "FE: submit failed: %s%s%s", strerror(-e),
				     env->why[0] ? "; " : "", env->why);
			goto close;
		}
		if (sub)
			for (unsigned q = 0; q < w->nqueues; q++)
				t->fe_kick(g.x, q);
		fs.reap_now = 0;
		int n = w->fe_reap(&g);	/* entries consumed, not ops */
		if (n < 0) {
			domain_error(sh->fe_error, sizeof(sh->fe_error), "FE: device failed (queue broken or NEEDS_RESET)%s%s",
				     env->why[0] ? ": " : "", env->why);
			goto close;
		}
		if (n || sub)
			continue;
		if (env->poll) {
			cpu_relax();
			continue;
		}
		if (!t->fe_enable_cb(g.x))
			t->fe_wait(g.x);
		t->fe_disable_cb(g.x);
	}
	VTB_USDT_PHASE(0, 0);
	uint64_t *a = (uint64_t *)&sh->dom[0].live, *b = (uint64_t *)&sh->dom[0].snap, *o = (uint64_t *)&sh->r.d[0];
	for (size_t i = 0; i < sizeof(struct vtb_plat_counters) / 8; i++)
		o[i] = a[i] - b[i];
	uint64_t end = fs.t_end ? fs.t_end : vtb_now_ns();
	sh->r.seconds = gt ? (double)meas_ns / 1e9 : (double)(end - tm) / 1e9;
	if (gt) {
		sh->r.nslices = fs.slice + 1;
	} else {
		double left = sh->r.seconds * 1e9;
		for (unsigned i = 0; i < VTB_SLICES; i++) {
			double d = i < VTB_SLICES - 1 && left > fs.slice_ns ? (double)fs.slice_ns : left;
			sh->r.slice_dur_ns[i] = d > 0 ? d : 0;
			left -= sh->r.slice_dur_ns[i];
		}
		sh->r.nslices = VTB_SLICES;
	}
	sh->r.cpu_s[0] = (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1e9;
	vtb_perfctr_stop(&pc, &sh->r.perf[0]);
	double steal1[2];
	read_steal(cpus, steal1);
	for (int d = 0; d < 2; d++)
		sh->r.steal_s[d] = steal0[d] >= 0 && steal1[d] >= steal0[d] ? steal1[d] - steal0[d] : -1;
	__atomic_store_n(&sh->measure_end, 1, __ATOMIC_RELEASE);
	sh->r.verify_errors = g.verify_errors;
	if (g.err[0])
		domain_error(sh->fe_error, sizeof(sh->fe_error), "verification failed (%llu errors): %s",
			     (unsigned long long)g.verify_errors, g.err);
	rc = 0;
close:
	fe_unpair(sh);
	w->fe_fini(&g);
	/* The BE must not see a half-torn-down FE: stop it first. */
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	fe_wake_be(sh);
	plat.ops->notify(&plat, env->kick);
	if (g.x)
		t->fe_close(g.x);
	return rc;
stop:
	fe_unpair(sh);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	fe_wake_be(sh);
	plat.ops->notify(&plat, env->kick);
	return rc;
}

/* ------------------------------------------------------------------ harness */
static pid_t spawn(int (*fn)(const struct vtb_cellp *, struct shared *, struct vtb_xenv *),
		   const struct vtb_cellp *cp, struct shared *sh, struct vtb_xenv *env)
{
	pid_t pid = vtb_fork_bound();
	if (pid != 0)
		return pid;
	_exit(fn(cp, sh, env));
}

static const char *describe_status(int st, char *buf, size_t n)
{
	if (WIFSIGNALED(st))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
	return buf;
}

/* One cell's domains, as the harness holds them while they run. */
struct cell_run {
	const struct vtb_cellp *cp;
	struct vtb_dom fe, be;
	struct vtb_doorbell kick, call;
	struct shared *sh;
	struct vtb_vdev_regs *regs;
	void *hv_page;
	struct vtb_xenv env;
	pid_t fp, bp;
	int fst, bst;
	bool fe_alive, be_alive;
};

/* Memory, domains and doorbells of one cell; 0 or -1. */
static int run_setup(struct cell_run *c, const struct vtb_cellp *cp, struct gate *gate, unsigned me)
{
	memset(c, 0, sizeof(*c));
	c->cp = cp;
	c->be = (struct vtb_dom){ .id = 1, .ram_fd = -1 };
	c->fe.ram_fd = -1;
	c->kick.fd = c->call.fd = -1;
	c->sh = mmap(NULL, sizeof(*c->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->sh == MAP_FAILED)
		return -1;
	c->sh->r.steal_s[0] = c->sh->r.steal_s[1] = -1;
	c->sh->gate = gate;
	c->sh->me = me;
	/* The device's register block: the only memory both domains share
	 * besides what the transport arranges (the MMIO window). */
	c->regs = mmap(NULL, sizeof(*c->regs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->regs == MAP_FAILED)
		goto unmap_sh;
	c->hv_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->hv_page == MAP_FAILED)
		goto unmap_regs;
	if (vtb_proc_dom_create(&c->fe, 0, cp->mem))
		goto unmap_hv;
	if (vtb_proc_doorbell_create(&c->kick) || vtb_proc_doorbell_create(&c->call))
		goto close_bells;
	c->env = (struct vtb_xenv){
		.fe = &c->fe, .be = &c->be, .kick = &c->kick, .call = &c->call, .regs = c->regs,
		.variant = cp->variant, .poll = !strcmp(cp->notify, "poll"),
		.indirect = cp->indirect, .qsize = (uint16_t)cp->qsize,
		.fq_size = cp->fq_size, .fq_timeout_ns = (uint64_t)(cp->fq_timeout * 1e9),
		.ring_bytes = cp->ring_bytes,
		.nqueues = vtb_workload_find(cp->device)->nqueues,
	};
	const struct vtb_transport_ops *t = vtb_transport_find(cp->transport);
	c->sh->hv = c->hv_page;
	if (t->be_ram_bytes && vtb_proc_dom_create(&c->be, 1, (t->be_ram_bytes(&c->env) + 4095) & ~4095ull))
		goto close_bells;
	if (t->region_bytes) {
		/* Configuration both domains know, as a device tree would say it. */
		c->env.shared_size = (t->region_bytes(&c->env) + 4095) & ~4095ull;
		c->env.shared_gpa = (cp->mem - c->env.shared_size) & ~4095ull;
	}
	return 0;

close_bells:
	vtb_proc_doorbell_destroy(&c->kick);
	vtb_proc_doorbell_destroy(&c->call);
	vtb_proc_dom_destroy(&c->fe);
	vtb_proc_dom_destroy(&c->be);
unmap_hv:
	munmap(c->hv_page, 4096);
unmap_regs:
	munmap(c->regs, sizeof(*c->regs));
unmap_sh:
	munmap(c->sh, sizeof(*c->sh));
	return -1;
}

static void run_teardown(struct cell_run *c)
{
	vtb_proc_doorbell_destroy(&c->kick);
	vtb_proc_doorbell_destroy(&c->call);
	vtb_proc_dom_destroy(&c->fe);
	vtb_proc_dom_destroy(&c->be);
	munmap(c->hv_page, 4096);
	munmap(c->regs, sizeof(*c->regs));
	munmap(c->sh, sizeof(*c->sh));
}

/* Forks the BE, then the FE; 0 or -1 (nothing left running). */
static int run_spawn(struct cell_run *c)
{
	c->bp = spawn(be_main, c->cp, c->sh, &c->env);
	if (c->bp < 0)
		return -1;
	c->sh->be_pid = c->bp;
	c->be.pid = c->bp;
	c->fp = spawn(fe_main, c->cp, c->sh, &c->env);
	if (c->fp < 0) {
		kill(c->bp, SIGKILL);
		waitpid(c->bp, NULL, 0);
		return -1;
	}
	c->fe.pid = c->fp;
	c->sh->fe_pid = c->fp;
	c->fe_alive = c->be_alive = true;
	return 0;
}

/* Watches every domain of n cells: a hang ends at the timeout, a death
 * ends the others (paired cells wait for each other).  Returns whether it
 * timed out; leaves nothing running. */
static bool run_watch(struct cell_run *c, unsigned n, struct gate *gate, double timeout_s)
{
	uint64_t deadline = vtb_now_ns() + (uint64_t)(timeout_s * 1e9);
	bool timed_out = false, orphaned = false;
	for (;;) {
		unsigned alive = 0, ends = 0;
		for (unsigned i = 0; i < n; i++) {
			alive += c[i].fe_alive + c[i].be_alive;
			ends += c[i].fe_alive != c[i].be_alive;
		}
		if (!alive)
			break;
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		bool reaped = false;
		for (unsigned i = 0; i < n && p > 0; i++) {
			if (p == c[i].fp && c[i].fe_alive) {
				c[i].fe_alive = false;
				c[i].fst = st;
				reaped = true;
			} else if (p == c[i].bp && c[i].be_alive) {
				c[i].be_alive = false;
				c[i].bst = st;
				reaped = true;
			}
		}
		if (reaped && gate && !gld(&gate->dead)) {
			/* A domain has ended (after both measured phases, or by
			 * failing): nobody may wait for a turn any more. */
			gst(&gate->dead, 1);
			wake_all(&gate->turn);
			wake_all(&gate->ndone);
			wake_all(&gate->active[0]);
			wake_all(&gate->active[1]);
		}
		if (p == 0) {
			if (vtb_now_ns() > deadline) {
				timed_out = !orphaned;
				break;
			}
			if (ends && !orphaned) {
				/* One is gone; give the other a moment to finish. */
				orphaned = true;
				if (vtb_now_ns() + 2000000000ull < deadline)
					deadline = vtb_now_ns() + 2000000000ull;
			}
			struct timespec ts = { 0, 2000000 };
			nanosleep(&ts, NULL);
		} else if (p < 0 && errno != EINTR) {
			break;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (c[i].fe_alive)
			kill(c[i].fp, SIGKILL);
		if (c[i].be_alive)
			kill(c[i].bp, SIGKILL);
	}
	for (unsigned i = 0; i < n; i++) {
		if (c[i].fe_alive)
			waitpid(c[i].fp, &c[i].fst, 0);
		if (c[i].be_alive)
			waitpid(c[i].bp, &c[i].bst, 0);
	}
	return timed_out;
}

/* What the cell reports: its domains' figures and how they ended.  The
 * *_alive flags here: still running when the watch killed it. */
static void run_result(struct cell_run *c, struct vtb_probes *probes, bool timed_out, double took,
		       struct vtb_cell_result *r)
{
	const struct vtb_cellp *cp = c->cp;
	struct shared *sh = c->sh;
	char why[128];
	*r = sh->r;
	if (probes)
		vtb_probes_collect(probes, &r->k);
	for (unsigned i = 0; i < r->ndev && i < VTB_DEV_STATS; i++)
		r->dev_names[i] = r->dev_name_buf[i];
	/* A domain killed from outside first (what the other one said after
	 * is a consequence), then what the domains said, then how they ended,
	 * then the clock. */
	bool fe_alive = c->fe_alive, be_alive = c->be_alive;
	int fst = c->fst, bst = c->bst;
	bool be_sig = !be_alive && WIFSIGNALED(bst), fe_sig = !fe_alive && WIFSIGNALED(fst);
	if (be_sig || fe_sig)
		snprintf(r->error, sizeof(r->error), "%s %s mid-cell", be_sig ? "BE" : "FE",
			 describe_status(be_sig ? bst : fst, why, sizeof(why)));
	else if (sh->fe_error[0] || sh->be_error[0])
		snprintf(r->error, sizeof(r->error), "%s%s%s", sh->be_error, sh->be_error[0] && sh->fe_error[0] ? "; " : "",
			 sh->fe_error);
	else if (timed_out)
		snprintf(r->error, sizeof(r->error), "timeout: cell still running after %.1f s (FE %s, BE %s)",
			 took, fe_alive ? "hung" : "done", be_alive ? "hung" : "done");
	else if (fe_alive || !WIFEXITED(fst) || WEXITSTATUS(fst))
		snprintf(r->error, sizeof(r->error), "FE %s%s", fe_alive ? "killed: " : "",
			 fe_alive ? "still running 2 s after the BE ended" : describe_status(fst, why, sizeof(why)));
	else if (be_alive || !WIFEXITED(bst) || WEXITSTATUS(bst))
		snprintf(r->error, sizeof(r->error), "BE %s%s", be_alive ? "killed: " : "",
			 be_alive ? "still running 2 s after the FE ended" : describe_status(bst, why, sizeof(why)));
	if (!r->error[0] && !r->ops)
		snprintf(r->error, sizeof(r->error), "no op completed in the measured phase (%.1f s)", r->seconds);
	r->verified_ok = cp->verify && !r->error[0] && r->verify_errors == 0;
}

int vtb_cell_run(const struct vtb_cellp *cp, struct vtb_probes *probes, struct vtb_cell_result *r)
{
	struct cell_run c;
	memset(r, 0, sizeof(*r));
	if (run_setup(&c, cp, NULL, 0))
		return -1;
	if (run_spawn(&c)) {
		run_teardown(&c);
		return -1;
	}
	/* The probes watch exactly these two processes, from before they run. */
	if (probes)
		vtb_probes_arm(probes, c.fp, c.bp);
	__atomic_store_n(&c.sh->pids_ready, 1, __ATOMIC_RELEASE);
	uint64_t start = vtb_now_ns();
	bool timed_out = run_watch(&c, 1, NULL, cp->timeout);
	run_result(&c, probes, timed_out, (double)(vtb_now_ns() - start) / 1e9, r);
	run_teardown(&c);
	return 0;
}

int vtb_cell_run_pair(const struct vtb_cellp *const cp[2], struct vtb_probes *probes, struct vtb_cell_result *r[2])
{
	struct cell_run c[2];
	int rc = -1;
	memset(r[0], 0, sizeof(*r[0]));
	memset(r[1], 0, sizeof(*r[1]));
	if (cp[0]->ops || cp[1]->ops) {
		errno = EINVAL;
		return -1;
	}
	struct gate *gate = mmap(NULL, sizeof(*gate), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (gate == MAP_FAILED)
		return -1;
	if (run_setup(&c[0], cp[0], gate, 0))
		goto unmap_gate;
	if (run_setup(&c[1], cp[1], gate, 1))
		goto teardown0;
	if (run_spawn(&c[0]))
		goto teardown1;
	if (run_spawn(&c[1])) {
		kill(c[0].fp, SIGKILL);
		kill(c[0].bp, SIGKILL);
		waitpid(c[0].fp, NULL, 0);
		waitpid(c[0].bp, NULL, 0);
		goto teardown1;
	}
	if (probes)
		vtb_probes_arm(probes, c[1].fp, c[1].bp);
	__atomic_store_n(&c[0].sh->pids_ready, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&c[1].sh->pids_ready, 1, __ATOMIC_RELEASE);
	uint64_t start = vtb_now_ns();
	bool timed_out = run_watch(c, 2, gate, cp[0]->timeout + cp[1]->timeout);
	double took = (double)(vtb_now_ns() - start) / 1e9;
	run_result(&c[0], NULL, timed_out, took, r[0]);
	run_result(&c[1], probes, timed_out, took, r[1]);
	rc = 0;
teardown1:
	run_teardown(&c[1]);
teardown0:
	run_teardown(&c[0]);
unmap_gate:
	munmap(gate, sizeof(*gate));
	return rc;
}
