/* One cell, one repetition: fresh FE and BE domains from the cell's
 * platform, started by a runner, the transport between them, the harness
 * watching from outside.  Everything a domain reports crosses in the
 * control page; a domain that dies or hangs fails the cell, never the run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "calib.h"
#include "cell.h"
#include "ctl.h"
#include "domain.h"
#include "probes.h"
#include "runner.h"
#include "suite.h"

#define VTB_HV_PAGE 4096u

/* One cell's domains, as the harness holds them while they run. */
struct cell_run {
	const struct vtb_cellp *cp;
	const struct vtb_platform_ops *plat;
	const struct vtb_runner_ops *runner;
	struct vtb_dom fe, be;
	struct vtb_doorbell kick, call;
	struct vtb_ctl *sh;
	struct vtb_vdev_regs *regs;
	void *hv_page;
	struct vtb_xenv env;
	struct vtb_domargs args;
	struct vtb_rdom d[2];	/* FE, BE */
};

static uint64_t page_up(uint64_t n)
{
	return (n + 4095) & ~4095ull;
}

/* The transport's view of the cell, before either domain runs. */
static void env_init(struct cell_run *c)
{
	const struct vtb_cellp *cp = c->cp;
	const struct vtb_transport_ops *t = vtb_transport_find(cp->transport);
	c->env = (struct vtb_xenv){
		.fe = &c->fe, .be = &c->be, .kick = &c->kick, .call = &c->call, .regs = c->regs,
		.variant = cp->variant, .poll = !strcmp(cp->notify, "poll"),
		.indirect = cp->indirect, .qsize = (uint16_t)cp->qsize,
		.nqueues = vtb_workload_find(cp->device)->nqueues,
	};
	/* The transport's own options, where its table says they land. */
	vtb_cell_xport_env(cp, t, &c->env);
	if (t->region_bytes) {
		/* Configuration both domains know, as a device tree would say it. */
		c->env.shared_size = page_up(t->region_bytes(&c->env));
		c->env.shared_gpa = (cp->mem - c->env.shared_size) & ~4095ull;
	}
}

/* The memory both domains and the harness see: the control page, the
 * device's register block (the MMIO window) and the hypervisor's page. */
static int shared_create(struct cell_run *c, struct vtb_gate *gate, unsigned me)
{
	const struct vtb_platform_ops *pl = c->plat;
	if (!(c->sh = pl->shared_create(sizeof(*c->sh))))
		return -1;
	c->sh->gate = gate;
	c->sh->me = me;
	if (!(c->regs = pl->shared_create(sizeof(*c->regs))))
		goto destroy_ctl;
	if (!(c->hv_page = pl->shared_create(VTB_HV_PAGE)))
		goto destroy_regs;
	return 0;

destroy_regs:
	pl->shared_destroy(c->regs, sizeof(*c->regs));
destroy_ctl:
	pl->shared_destroy(c->sh, sizeof(*c->sh));
	return -1;
}

static void shared_destroy(struct cell_run *c)
{
	c->plat->shared_destroy(c->hv_page, VTB_HV_PAGE);
	c->plat->shared_destroy(c->regs, sizeof(*c->regs));
	c->plat->shared_destroy(c->sh, sizeof(*c->sh));
}

/* Memory, domains and doorbells of one cell; 0 or -1. */
static int run_setup(struct cell_run *c, const struct vtb_cellp *cp, struct vtb_gate *gate, unsigned me)
{
	memset(c, 0, sizeof(*c));
	c->cp = cp;
	c->plat = vtb_platform_find(cp->platform);
	c->runner = &vtb_runner_fork;
	c->kick.fd = c->call.fd = -1;
	if (!c->plat) {
		errno = EINVAL;
		return -1;
	}
	const struct vtb_platform_ops *pl = c->plat;
	const struct vtb_transport_ops *t = vtb_transport_find(cp->transport);
	if (shared_create(c, gate, me))
		return -1;
	if (pl->dom_create(&c->fe, 0, cp->mem))
		goto destroy_shared;
	env_init(c);
	if (pl->dom_create(&c->be, 1, t->be_ram_bytes ? page_up(t->be_ram_bytes(&c->env)) : 0))
		goto destroy_fe;
	if (pl->doorbell_create(&c->kick))
		goto destroy_be;
	if (pl->doorbell_create(&c->call))
		goto destroy_kick;
	c->args = (struct vtb_domargs){ .cp = cp, .plat = pl, .ctl = c->sh, .env = &c->env, .hv = c->hv_page };
	return 0;

destroy_kick:
	pl->doorbell_destroy(&c->kick);
destroy_be:
	pl->dom_destroy(&c->be);
destroy_fe:
	pl->dom_destroy(&c->fe);
destroy_shared:
	shared_destroy(c);
	return -1;
}

static void run_teardown(struct cell_run *c)
{
	c->plat->doorbell_destroy(&c->call);
	c->plat->doorbell_destroy(&c->kick);
	c->plat->dom_destroy(&c->be);
	c->plat->dom_destroy(&c->fe);
	shared_destroy(c);
}

static int fe_entry(const void *a)
{
	return vtb_domain_fe(a);
}

static int be_entry(const void *a)
{
	return vtb_domain_be(a);
}

/* Starts the BE, then the FE; 0 or -1 (nothing left running). */
static int run_spawn(struct cell_run *c)
{
	if (c->runner->start(&c->d[1], be_entry, &c->args))
		return -1;
	if (c->runner->start(&c->d[0], fe_entry, &c->args)) {
		c->runner->kill(&c->d[1]);
		return -1;
	}
	return 0;
}

static void run_kill(struct cell_run *c)
{
	c->runner->kill(&c->d[0]);
	c->runner->kill(&c->d[1]);
}

/* Both domains run: tell each how to reach the other. */
static void run_publish(struct cell_run *c)
{
	c->sh->handle[0] = c->d[0].handle;
	c->sh->handle[1] = c->d[1].handle;
	vtb_gst(&c->sh->handles_ready, 1);
}

/* Watches every domain of n cells: a hang ends at the timeout, a death
 * ends the others (paired cells wait for each other).  Returns whether it
 * timed out; alive[i]: which of cell i's domains it had to kill; leaves
 * nothing running. */
static bool run_watch(struct cell_run *c, unsigned n, struct vtb_gate *gate, double timeout_s, bool (*alive)[2])
{
	uint64_t deadline = vtb_now_ns() + (uint64_t)(timeout_s * 1e9);
	bool timed_out = false, orphaned = false;
	for (;;) {
		unsigned alive = 0, ends = 0, reaped = 0;
		for (unsigned i = 0; i < n; i++) {
			alive += c[i].d[0].running + c[i].d[1].running;
			ends += c[i].d[0].running != c[i].d[1].running;
		}
		if (!alive)
			break;
		for (unsigned i = 0; i < n; i++)
			reaped += (unsigned)c[i].runner->reap(c[i].d, 2, 0);
		/* A domain has ended (after both measured phases, or by failing):
		 * nobody may wait for a turn any more. */
		if (reaped && gate)
			vtb_gate_kill(gate);
		if (reaped)
			continue;
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
		c[0].runner->reap(c[0].d, 0, 2000000);
	}
	for (unsigned i = 0; i < n; i++) {
		alive[i][0] = c[i].d[0].running;
		alive[i][1] = c[i].d[1].running;
		run_kill(&c[i]);
	}
	return timed_out;
}

/* The figures the two domains reported, into r; true if a report that
 * was there did not decode. */
static bool run_reports(struct cell_run *c, struct vtb_cell_result *r)
{
	struct vtb_fe_report fe;
	struct vtb_be_report be;
	uint32_t n[2] = { vtb_gld(&c->sh->report_len[0]), vtb_gld(&c->sh->report_len[1]) };
	bool fe_ok = n[0] && n[0] <= VTB_REPORT_MAX && !vtb_fe_report_decode(c->sh->report[0], n[0], &fe);
	bool be_ok = n[1] && n[1] <= VTB_REPORT_MAX && !vtb_be_report_decode(c->sh->report[1], n[1], &be);
	vtb_report_merge(r, fe_ok ? &fe : NULL, be_ok ? &be : NULL);
	return (n[0] && !fe_ok) || (n[1] && !be_ok);
}

/* What the cell reports: its domains' figures and how they ended.
 * alive[]: still running when the watch killed it. */
static void run_result(struct cell_run *c, const bool alive[2], struct vtb_probes *probes, bool timed_out,
		       double took, struct vtb_cell_result *r)
{
	const struct vtb_cellp *cp = c->cp;
	struct vtb_ctl *sh = c->sh;
	const struct vtb_dom_end *fe = &c->d[0].end, *be = &c->d[1].end;
	char why[128];
	bool bad = run_reports(c, r);
	if (probes)
		vtb_probes_collect(probes, &r->k);
	/* A domain killed from outside first (what the other one said after
	 * is a consequence), then what the domains said, then how they ended,
	 * then the clock. */
	bool be_sig = !alive[1] && be->signaled, fe_sig = !alive[0] && fe->signaled;
	if (be_sig || fe_sig)
		snprintf(r->error, sizeof(r->error), "%s %s mid-cell", be_sig ? "BE" : "FE",
			 vtb_dom_end_str(be_sig ? be : fe, why, sizeof(why)));
	else if (sh->fe_error[0] || sh->be_error[0])
		snprintf(r->error, sizeof(r->error), "%s%s%s", sh->be_error, sh->be_error[0] && sh->fe_error[0] ? "; " : "",
			 sh->fe_error);
	else if (timed_out)
		snprintf(r->error, sizeof(r->error), "timeout: cell still running after %.1f s (FE %s, BE %s)",
			 took, alive[0] ? "hung" : "done", alive[1] ? "hung" : "done");
	else if (alive[0] || fe->signaled || fe->code)
		snprintf(r->error, sizeof(r->error), "FE %s%s", alive[0] ? "killed: " : "",
			 alive[0] ? "still running 2 s after the BE ended" : vtb_dom_end_str(fe, why, sizeof(why)));
	else if (alive[1] || be->signaled || be->code)
		snprintf(r->error, sizeof(r->error), "BE %s%s", alive[1] ? "killed: " : "",
			 alive[1] ? "still running 2 s after the FE ended" : vtb_dom_end_str(be, why, sizeof(why)));
	if (!r->error[0] && bad)
		snprintf(r->error, sizeof(r->error), "a domain's report was malformed");
	if (!r->error[0] && !r->ops)
		snprintf(r->error, sizeof(r->error), "no op completed in the measured phase (%.1f s)", r->seconds);
	r->verified_ok = cp->verify && !r->error[0] && r->verify_errors == 0;
}

/* Runs n started cells to their end; fills each one's result. */
static void run_cells(struct cell_run *c, unsigned n, struct vtb_gate *gate, struct vtb_probes *probes,
		      double timeout_s, struct vtb_cell_result *const *r)
{
	bool alive[2][2];
	/* The probes watch the last cell's two domains, from before they run:
	 * host processes only (a runner whose domains are guests has none). */
	if (probes && (!c[n - 1].d[0].host_pid || !c[n - 1].d[1].host_pid))
		probes = NULL;
	if (probes)
		vtb_probes_arm(probes, c[n - 1].d[0].host_pid, c[n - 1].d[1].host_pid);
	for (unsigned i = 0; i < n; i++)
		run_publish(&c[i]);
	uint64_t start = vtb_now_ns();
	bool timed_out = run_watch(c, n, gate, timeout_s, alive);
	double took = (double)(vtb_now_ns() - start) / 1e9;
	for (unsigned i = 0; i < n; i++)
		run_result(&c[i], alive[i], i == n - 1 ? probes : NULL, timed_out, took, r[i]);
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
	run_cells(&c, 1, NULL, probes, cp->timeout, &r);
	run_teardown(&c);
	return 0;
}

int vtb_cell_run_pair(const struct vtb_cellp *const cp[2], struct vtb_probes *probes, struct vtb_cell_result *r[2])
{
	struct cell_run c[2];
	struct vtb_gate *gate;
	const struct vtb_platform_ops *pl = vtb_platform_find(cp[0]->platform);
	int rc = -1;
	memset(r[0], 0, sizeof(*r[0]));
	memset(r[1], 0, sizeof(*r[1]));
	if (cp[0]->ops || cp[1]->ops || !pl || pl != vtb_platform_find(cp[1]->platform)) {
		errno = EINVAL;
		return -1;
	}
	if (!(gate = pl->shared_create(sizeof(*gate))))
		return -1;
	if (run_setup(&c[0], cp[0], gate, 0))
		goto destroy_gate;
	if (run_setup(&c[1], cp[1], gate, 1))
		goto teardown0;
	if (run_spawn(&c[0]))
		goto teardown1;
	if (run_spawn(&c[1])) {
		run_kill(&c[0]);
		goto teardown1;
	}
	run_cells(c, 2, gate, probes, cp[0]->timeout + cp[1]->timeout, r);
	rc = 0;
teardown1:
	run_teardown(&c[1]);
teardown0:
	run_teardown(&c[0]);
destroy_gate:
	pl->shared_destroy(gate, sizeof(*gate));
	return rc;
}
