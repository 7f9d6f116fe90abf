/* What runs inside each domain of a cell: the BE serves the device model
 * over the transport, the FE drives the workload's generator and times
 * its measured phase.  Any runner can start them; they reach each other
 * only through the platform (data path, doorbells, attach) and the
 * control page (phases, turns, results). */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "calib.h"
#include "domain.h"
#include "perfctr.h"
#include "vtb_usdt.h"

long vtb_futex_wait(uint32_t *w, uint32_t val)
{
	return syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0);
}

void vtb_futex_wake_all(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

uint32_t vtb_gld(const uint32_t *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

void vtb_gst(uint32_t *w, uint32_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

void vtb_gate_kill(struct vtb_gate *g)
{
	if (vtb_gld(&g->dead))
		return;
	vtb_gst(&g->dead, 1);
	vtb_futex_wake_all(&g->turn);
	vtb_futex_wake_all(&g->ndone);
	vtb_futex_wake_all(&g->active[0]);
	vtb_futex_wake_all(&g->active[1]);
}

/* Until it is cell me's turn, or the other will not take one again. */
static void gate_wait(struct vtb_gate *g, unsigned me)
{
	for (;;) {
		uint32_t t = vtb_gld(&g->turn);
		if (t == me || vtb_gld(&g->done[!me]) || vtb_gld(&g->dead))
			return;
		vtb_futex_wait(&g->turn, t);
	}
}

static void gate_turn_on(struct vtb_gate *g, unsigned me)
{
	vtb_gst(&g->active[me], 1);
	vtb_futex_wake_all(&g->active[me]);
}

static void gate_pass(struct vtb_gate *g, unsigned me)
{
	vtb_gst(&g->active[me], 0);
	vtb_gst(&g->turn, !me);
	vtb_futex_wake_all(&g->turn);
}

/* The FE's measured phase is over: let the other finish its own, then
 * both tear down (a teardown would disturb the other's turns). */
static void gate_finish(struct vtb_gate *g, unsigned me)
{
	vtb_gst(&g->done[me], 1);
	__atomic_add_fetch(&g->ndone, 1, __ATOMIC_ACQ_REL);
	vtb_futex_wake_all(&g->ndone);
	gate_pass(g, me);
	for (uint32_t n; (n = vtb_gld(&g->ndone)) < 2 && !vtb_gld(&g->dead);)
		vtb_futex_wait(&g->ndone, n);
}

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

/* Both domains exist: learn how to reach each (the hypervisor's paths of
 * a domain may address its own RAM as well as the peer's), and make the
 * doorbells this domain's own. */
static int attach_domains(struct vtb_ctl *sh, struct vtb_plat *plat, struct vtb_xenv *env)
{
	int e;
	while (!vtb_gld(&sh->handles_ready))
		sched_yield();
	if ((e = plat->ops->attach(plat, env->fe, sh->handle[0])) || (e = plat->ops->attach(plat, env->be, sh->handle[1])))
		return e;
	if ((e = plat->ops->doorbell_bind(plat, env->kick)))
		return e;
	return plat->ops->doorbell_bind(plat, env->call);
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

/* A domain's report goes into the control page once, its length last:
 * the harness reads it only after the domain has ended. */
static void report_put(struct vtb_ctl *sh, unsigned k, size_t len)
{
	vtb_gst(&sh->report_len[k], (uint32_t)len);
}

static void report_fe(struct vtb_ctl *sh, const struct vtb_fe_report *rep)
{
	report_put(sh, 0, vtb_fe_report_encode(rep, sh->report[0], sizeof(sh->report[0])));
}

static void report_be(struct vtb_ctl *sh, const struct vtb_be_report *rep)
{
	report_put(sh, 1, vtb_be_report_encode(rep, sh->report[1], sizeof(sh->report[1])));
}

/* ------------------------------------------------------------------ BE */
struct be_phase {
	struct vtb_perfctr *pc;
	struct vtb_ctl *sh;
	struct vtb_be_report *rep;
	struct vtb_plat *plat;
	bool measuring, ended;
	uint64_t cpu0;
};

static void be_phase_end(struct be_phase *ph)
{
	struct vtb_ctl *sh = ph->sh;
	VTB_USDT_PHASE(1, 0);
	uint64_t *a = (uint64_t *)ph->plat->ctr, *b = (uint64_t *)&sh->dom[1].snap, *o = (uint64_t *)&ph->rep->d;
	for (size_t i = 0; i < sizeof(struct vtb_plat_counters) / 8; i++)
		o[i] = a[i] - b[i];
	ph->rep->cpu_s = (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - ph->cpu0) / 1e9;
	vtb_perfctr_stop(ph->pc, &ph->rep->perf);
	ph->ended = true;
}

/* Follows the FE's measured phase: nothing but counting happens between
 * a snapshot of the seam counters and the phase USDT.  Called before every
 * request the device takes, so the BE's window starts and ends within a
 * request of the FE's: a device loop may run for milliseconds (hundreds
 * of requests under polling) before it returns. */
static void be_phase_track(struct be_phase *ph)
{
	struct vtb_ctl *sh = ph->sh;
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

int vtb_domain_be(const struct vtb_domargs *a)
{
	const struct vtb_cellp *cp = a->cp;
	struct vtb_ctl *sh = a->ctl;
	struct vtb_xenv *env = a->env;
	const struct vtb_workload_ops *w = vtb_workload_find(cp->device);
	const struct vtb_transport_ops *t = vtb_transport_find(cp->transport);
	struct vtb_plat plat = { a->plat, &sh->dom[1].live, a->hv };
	struct vtb_perfctr pc;
	/* Each domain times and counts its own measured phase: another
	 * process's CPU clock is only as fresh as its last tick, and the
	 * kernel's view (the phase USDT) must cover the same calls. */
	struct vtb_be_report rep = { 0 };
	struct be_phase ph = { .pc = &pc, .sh = sh, .rep = &rep, .plat = &plat };
	struct be_io bio = { t, NULL, &ph };
	struct vtb_dev_io io = { &bio, be_pop, be_push };
	void *dev;
	int e;

	vtb_pin_self(cp->cpu_be);
	if ((e = attach_domains(sh, &plat, env))) {
		domain_error(sh->be_error, sizeof(sh->be_error), "BE: cannot attach to the domains: %s", strerror(-e));
		return 1;
	}
	env->plat = &plat;
	if (env->be->ram_size && !(env->be_ram = plat.ops->map_own(&plat, env->be))) {
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
	vtb_perfctr_open(&pc, &rep.perf);
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
			struct vtb_gate *gt = sh->gate;
			/* Paired: between its cell's turns a polling BE sleeps, so
			 * the other cell's BE has the CPU to itself; not before its
			 * FE takes turns (its setup may wait on requests). */
			if (gt && vtb_gld(&gt->ready[sh->me]) && !vtb_gld(&gt->active[sh->me]) && !vtb_gld(&gt->dead) &&
			    !vtb_gld(&sh->stop)) {
				bool counting = ph.measuring && !ph.ended;
				if (counting)
					VTB_USDT_PHASE(1, 0);
				vtb_futex_wait(&gt->active[sh->me], 0);
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
	const char *names[VTB_DEV_STATS];
	unsigned ndev = w->be_stats(dev, names, rep.dev_val);
	rep.ndev = ndev < VTB_DEV_STATS ? ndev : VTB_DEV_STATS;
	for (unsigned i = 0; i < rep.ndev; i++)
		snprintf(rep.dev_name[i], sizeof(rep.dev_name[i]), "%s", names[i]);
	t->be_close(bio.x);
	w->be_fini(dev);
	report_be(sh, &rep);
	return 0;
}

/* ------------------------------------------------------------------ FE */
struct fe_state {
	struct vtb_ctl *sh;
	struct vtb_fe_report *rep;
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
	fs->rep->slice_ops[fs->slice]++;
	vtb_hist_add(&fs->rep->hist, now - t_submit);
	if (sampled)
		vtb_hist_add(&fs->rep->usdt_user, now - t_submit);
	if (fs->target && fs->measured + 1 == fs->target)
		fs->t_end = now;
	fs->rep->ops++;
	fs->rep->bytes += bytes;
	fs->measured++;
}

/* Paired: this FE takes no more turns; waits for the other's measured
 * phase to end before anything is torn down. */
static void fe_unpair(struct vtb_ctl *sh)
{
	if (sh->gate && !vtb_gld(&sh->gate->done[sh->me]))
		gate_finish(sh->gate, sh->me);
}

/* Paired: a BE asleep between turns must see stop. */
static void fe_wake_be(struct vtb_ctl *sh)
{
	if (sh->gate)
		gate_turn_on(sh->gate, sh->me);
}

/* The FE's measured loop: the cell, its clocks and its turns. */
struct fe_loop {
	const struct vtb_cellp *cp;
	struct vtb_ctl *sh;
	struct vtb_xenv *env;
	const struct vtb_workload_ops *w;
	struct vtb_gen *g;
	struct fe_state *fs;
	struct vtb_fe_report *rep;
	struct vtb_perfctr *pc;
	struct vtb_gate *gt;	/* paired: the turns */
	unsigned me;
	uint64_t warm_ns, dur_ns;
	/* Paired: time is counted in own turns only; each turn ends with
	 * nothing in flight, so a turn's ops are its own. */
	uint64_t turn_ns, turn_start, own_ns, meas_ns;
	bool draining, fresh;
	uint64_t t0, tm, last, cpu0;
	int cpus[2];
	double steal0[2];
};

static void fe_loop_init(struct fe_loop *l)
{
	const struct vtb_cellp *cp = l->cp;
	l->warm_ns = (uint64_t)(cp->warmup * 1e9);
	l->dur_ns = (uint64_t)(cp->duration * 1e9);
	l->cpus[0] = cp->cpu_fe;
	l->cpus[1] = cp->cpu_be;
	l->steal0[0] = l->steal0[1] = -1;
	l->turn_ns = l->gt ? (l->dur_ns / VTB_SLICES ? l->dur_ns / VTB_SLICES : 1) : 0;
	if (l->gt) {
		vtb_gst(&l->gt->ready[l->me], 1);
		gate_wait(l->gt, l->me);
		gate_turn_on(l->gt, l->me);
		l->turn_start = vtb_now_ns();
		l->fresh = true;
	}
	l->t0 = vtb_now_ns();
}

/* Paired: a turn that has run its length drains, then hands over and
 * waits for the next.  true: the measured phase is complete. */
static bool fe_turn(struct fe_loop *l, uint64_t *now)
{
	struct fe_state *fs = l->fs;
	if (!l->draining && *now - l->turn_start >= l->turn_ns)
		l->draining = true;
	if (!l->draining || l->g->inflight)
		return false;
	l->own_ns += *now - l->turn_start;
	if (fs->measuring) {
		l->meas_ns += *now - l->turn_start;
		l->rep->slice_dur_ns[fs->slice] += (double)(*now - l->turn_start);
		if (l->meas_ns >= l->dur_ns)
			return true;
		if (fs->slice < VTB_SLICES - 1)
			fs->slice++;
	}
	/* The handover's system calls are the harness's, not the cell's: the
	 * kernel's count pauses over them. */
	if (fs->measuring)
		VTB_USDT_PHASE(0, 0);
	gate_pass(l->gt, l->me);
	gate_wait(l->gt, l->me);
	gate_turn_on(l->gt, l->me);
	if (fs->measuring)
		VTB_USDT_PHASE(0, 1);
	l->draining = false;
	l->fresh = true;
	*now = l->turn_start = vtb_now_ns();
	return false;
}

/* Whether the warmup is over.  Paired: the measured phase starts with a
 * turn, once the other cell is set up (its setup would share our CPUs). */
static bool fe_warm(struct fe_loop *l, uint64_t now)
{
	struct vtb_gate *gt = l->gt;
	bool warm = gt ? l->fresh && l->own_ns >= l->warm_ns &&
				 (vtb_gld(&gt->ready[!l->me]) || vtb_gld(&gt->done[!l->me]) || vtb_gld(&gt->dead))
		       : now - l->t0 >= l->warm_ns;
	l->fresh = false;
	return warm;
}

/* The measured phase starts: its slices, and a snapshot of this domain's
 * counters and clocks; the BE follows on the control page. */
static void fe_measure_start(struct fe_loop *l, uint64_t *now)
{
	struct fe_state *fs = l->fs;
	struct vtb_fe_report *rep = l->rep;
	read_steal(l->cpus, l->steal0);
	*now = vtb_now_ns();
	if (l->gt)
		l->turn_start = *now;
	/* ops=N has no known length: its slices are the warmup's. */
	fs->slice_ns = l->gt ? l->turn_ns
			     : (l->cp->ops ? (l->warm_ns ? l->warm_ns : 1000000) : l->dur_ns) / VTB_SLICES;
	if (!fs->slice_ns)
		fs->slice_ns = 1;
	fs->slice_end = l->gt ? UINT64_MAX : *now + fs->slice_ns;
	rep->slice_ns = (double)fs->slice_ns;
	vtb_hist_reset(&rep->hist);
	vtb_hist_reset(&rep->usdt_user);
	vtb_perfctr_start(l->pc);
	l->cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	l->sh->dom[0].snap = l->sh->dom[0].live;
	VTB_USDT_PHASE(0, 1);
	fs->measuring = true;
	vtb_gst(&l->sh->measuring, 1);
	l->tm = *now;
}

/* One round: submit up to the depth, kick, reap, and wait if nothing
 * moved.  0, or -1 with the FE's error said. */
static int fe_round(struct fe_loop *l, uint64_t now)
{
	struct vtb_gen *g = l->g;
	struct vtb_xenv *env = l->env;
	int e = 0, sub = 0;
	/* One clock read per batch (a vDSO read costs as much as a whole op at
	 * depth); each submit gets a distinct timestamp, since it keys the
	 * request USDT. */
	while (!l->draining && g->inflight < l->cp->qd) {
		now = l->last = now > l->last ? now : l->last + 1;
		if ((e = l->w->fe_submit(g, now)) <= 0)
			break;
		if (vtb_usdt_sampled(now, l->fs->usdt))
			VTB_USDT_SUBMIT(now);
		sub++;
	}
	if (e < 0) {
		domain_error(l->sh->fe_error, sizeof(l->sh->fe_error), "FE: submit failed: %s%s%s", strerror(-e),
			     env->why[0] ? "; " : "", env->why);
		return -1;
	}
	if (sub)
		g->eng->commit(g, VTB_STREAM_ALL);
	l->fs->reap_now = 0;
	int n = l->w->fe_reap(g);	/* entries consumed, not ops */
	if (n < 0) {
		domain_error(l->sh->fe_error, sizeof(l->sh->fe_error), "FE: device failed (queue broken or NEEDS_RESET)%s%s",
			     env->why[0] ? ": " : "", env->why);
		return -1;
	}
	if (n || sub)
		return 0;
	if (env->poll)
		cpu_relax();
	else
		g->eng->wait(g);
	return 0;
}

/* The measured phase is over: this domain's counters, time, slices, CPU
 * and steal into its report; the BE follows. */
static void fe_measure_end(struct fe_loop *l)
{
	struct fe_state *fs = l->fs;
	struct vtb_fe_report *rep = l->rep;
	struct vtb_ctl *sh = l->sh;
	VTB_USDT_PHASE(0, 0);
	uint64_t *lv = (uint64_t *)&sh->dom[0].live, *sn = (uint64_t *)&sh->dom[0].snap, *o = (uint64_t *)&rep->d;
	for (size_t i = 0; i < sizeof(struct vtb_plat_counters) / 8; i++)
		o[i] = lv[i] - sn[i];
	uint64_t end = fs->t_end ? fs->t_end : vtb_now_ns();
	rep->seconds = l->gt ? (double)l->meas_ns / 1e9 : (double)(end - l->tm) / 1e9;
	if (l->gt) {
		rep->nslices = fs->slice + 1;
	} else {
		double left = rep->seconds * 1e9;
		for (unsigned i = 0; i < VTB_SLICES; i++) {
			double d = i < VTB_SLICES - 1 && left > fs->slice_ns ? (double)fs->slice_ns : left;
			rep->slice_dur_ns[i] = d > 0 ? d : 0;
			left -= rep->slice_dur_ns[i];
		}
		rep->nslices = VTB_SLICES;
	}
	rep->cpu_s = (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - l->cpu0) / 1e9;
	vtb_perfctr_stop(l->pc, &rep->perf);
	double steal1[2];
	read_steal(l->cpus, steal1);
	for (int d = 0; d < 2; d++)
		rep->steal_s[d] = l->steal0[d] >= 0 && steal1[d] >= l->steal0[d] ? steal1[d] - l->steal0[d] : -1;
	vtb_gst(&sh->measure_end, 1);
	rep->verify_errors = l->g->verify_errors;
	if (l->g->err[0])
		domain_error(sh->fe_error, sizeof(sh->fe_error), "verification failed (%llu errors): %s",
			     (unsigned long long)l->g->verify_errors, l->g->err);
}

/* Warmup, then the measured phase to its end; 0, or -1 with the error said. */
static int fe_measure(struct fe_loop *l)
{
	fe_loop_init(l);
	for (;;) {
		uint64_t now = vtb_now_ns();
		if (l->gt && fe_turn(l, &now))
			break;
		if (!l->fs->measuring && fe_warm(l, now))
			fe_measure_start(l, &now);
		if (l->fs->measuring && !l->gt &&
		    (l->cp->ops ? l->fs->measured >= l->cp->ops : now - l->tm >= l->dur_ns))
			break;
		if (fe_round(l, now))
			return -1;
	}
	fe_measure_end(l);
	return 0;
}

/* The FE is done measuring: its report, then (paired) it waits for the
 * other's measured phase to end before anything is torn down. */
static void fe_done_measuring(struct vtb_ctl *sh, const struct vtb_fe_report *rep)
{
	report_fe(sh, rep);
	fe_unpair(sh);
}

/* The BE must not see a half-torn-down FE: it stops before the transport
 * closes. */
static void fe_stop_be(struct vtb_ctl *sh, struct vtb_plat *plat, struct vtb_xenv *env)
{
	vtb_gst(&sh->stop, 1);
	fe_wake_be(sh);
	plat->ops->notify(plat, env->kick);
}

int vtb_domain_fe(const struct vtb_domargs *a)
{
	const struct vtb_cellp *cp = a->cp;
	struct vtb_ctl *sh = a->ctl;
	struct vtb_xenv *env = a->env;
	const struct vtb_workload_ops *w = vtb_workload_find(cp->device);
	const struct vtb_transport_ops *t = vtb_transport_find(cp->transport);
	struct vtb_plat plat = { a->plat, &sh->dom[0].live, a->hv };
	struct vtb_fe_report rep;
	vtb_fe_report_init(&rep);
	struct fe_state fs = { .sh = sh, .rep = &rep, .target = cp->ops, .usdt = cp->probes_on ? cp->usdt : 0 };
	struct vtb_perfctr pc;
	struct vtb_gen g = { .t = t, .env = env, .cp = cp, .done = fe_done, .harness = &fs };
	struct fe_loop l = { .cp = cp, .sh = sh, .env = env, .w = w, .g = &g, .fs = &fs, .rep = &rep, .pc = &pc,
			     .gt = sh->gate, .me = sh->me };
	int e, rc = 1;

	vtb_pin_self(cp->cpu_fe);
	vtb_perfctr_open(&pc, &rep.perf);
	if ((e = attach_domains(sh, &plat, env))) {
		domain_error(sh->fe_error, sizeof(sh->fe_error), "FE: cannot attach to the domains: %s", strerror(-e));
		goto stop;
	}
	env->plat = &plat;
	env->ram = plat.ops->map_own(&plat, env->fe);
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
	rc = fe_measure(&l) ? 1 : 0;
close:
	fe_done_measuring(sh, &rep);
	w->fe_fini(&g);
	fe_stop_be(sh, &plat, env);
	if (g.x)
		t->fe_close(g.x);
	return rc;
stop:
	fe_done_measuring(sh, &rep);
	fe_stop_be(sh, &plat, env);
	return rc;
}
