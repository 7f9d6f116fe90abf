/* The generators over the loopback engine: no transport, no virtqueue, no
 * virtio header, so every check here passes only if the generator speaks
 * abstract I/O alone.  Each device runs its patterns, sizes, depths and
 * mixes with verification on; the counts must match what the loopback
 * device served, and a completion it corrupts must be caught. */
#include <stdio.h>
#include <string.h>

#include "../../ci/vtb_test.h"
#include "../workload.h"
#include "../net/vtb_net.h"
#include "../scmi/vtb_scmi.h"

struct acct {
	uint64_t target;	/* counted as ops=N counts: the first N */
	uint64_t ops, bytes;
	uint64_t all;		/* every completion reported */
};

static void done(struct vtb_gen *g, uint64_t t_submit, uint64_t bytes)
{
	struct acct *a = g->harness;
	CHECK(t_submit != 0);
	a->all++;
	if (a->ops >= a->target)
		return;
	a->ops++;
	a->bytes += bytes;
}

/* Runs ops completions of cp's device through the loopback engine, as
 * cell.c's loop does (submit up to qd, commit, reap, wait); corrupt: the
 * engine flips a byte in that many completions once ops/2 are done. */
static void run(const struct vtb_cellp *cp, uint64_t ops, unsigned corrupt, struct acct *a, struct vtb_gen *out,
		struct vtb_loop_stats *st)
{
	const struct vtb_workload_ops *w = vtb_workload_find(cp->device);
	const struct vtb_engine_ops *engs[] = { &vtb_engine_loop_blk, &vtb_engine_loop_net, &vtb_engine_loop_scmi };
	struct vtb_gen g = { .cp = cp, .done = done, .harness = a };
	char err[200];
	memset(a, 0, sizeof(*a));
	a->target = ops;
	CHECK(w != NULL);
	CHECK_EQ(w->check(cp, err, sizeof(err)), 0);
	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(engs[i]->device, cp->device))
			g.eng = engs[i];
	CHECK_EQ(w->fe_init(&g), 0);
	CHECK(g.t == NULL && g.x == NULL && g.env == NULL);	/* never reached for */
	bool armed = false;
	unsigned idle = 0;
	while (a->ops < ops && idle < 1000) {
		if (!armed && corrupt && a->ops >= ops / 2) {
			vtb_loop_corrupt(&g, corrupt);
			armed = true;
		}
		int sub = 0, e = 0;
		while (g.inflight < cp->qd && (e = w->fe_submit(&g, 1 + a->ops)) > 0)
			sub++;
		CHECK(e >= 0);
		if (sub)
			g.eng->commit(&g, VTB_STREAM_ALL);
		int n = w->fe_reap(&g);
		CHECK(n >= 0);
		if (n < 0)
			break;
		idle = n || sub ? 0 : idle + 1;
		if (!n && !sub)
			g.eng->wait(&g);
	}
	CHECK(idle < 1000);	/* never stuck */
	*st = *vtb_loop_stats(&g);
	*out = g;
	w->fe_fini(&g);
	CHECK(g.eng_priv == NULL);
}

static struct vtb_cellp base(const char *dev)
{
	struct vtb_cellp cp = { .seed = 7, .verify = true, .qsize = 256, .disk = 4u << 20, .events = true };
	snprintf(cp.device, sizeof(cp.device), "%s", dev);
	return cp;
}

static void test_blk(void)
{
	static const char *const pats[] = { "randread", "randwrite", "read", "write", "randrw" };
	static const int sizes[] = { 512, 4096, 65536 };
	static const unsigned qds[] = { 1, 8, 32 };
	for (unsigned p = 0; p < 5; p++)
		for (unsigned s = 0; s < 3; s++)
			for (unsigned q = 0; q < 3; q++) {
				struct vtb_cellp cp = base("blk");
				snprintf(cp.pattern, sizeof(cp.pattern), "%s", pats[p]);
				cp.size = sizes[s];
				cp.qd = qds[q];
				cp.rwmix = 70;
				struct acct a;
				struct vtb_gen g;
				struct vtb_loop_stats st;
				run(&cp, 400, 0, &a, &g, &st);
				CHECK_EQ(a.ops, 400);
				CHECK_EQ(a.bytes, 400ull * cp.size);
				CHECK_EQ(g.verify_errors, 0);
				if (g.verify_errors)
					fprintf(stderr, "blk %s size %d qd %u: %s\n", pats[p], cp.size, cp.qd, g.err);
				/* Setup: one read past the end (EIO, not counted) and
				 * the measured ops, each served once. */
				CHECK_EQ(st.reads + st.writes, a.all + g.inflight);
				CHECK_EQ(st.bytes_read + st.bytes_written, (a.all + g.inflight) * cp.size);
				if (!strcmp(pats[p], "randrw"))
					CHECK(st.reads > st.writes && st.writes > 0);
				else if (strstr(pats[p], "write"))
					CHECK_EQ(st.reads, 0);
				else
					CHECK_EQ(st.writes, 0);
			}
	/* A corrupted read is caught by the generator, and only there. */
	struct vtb_cellp cp = base("blk");
	snprintf(cp.pattern, sizeof(cp.pattern), "randrw");
	cp.size = 4096;
	cp.qd = 8;
	cp.rwmix = 50;
	struct acct a;
	struct vtb_gen g;
	struct vtb_loop_stats st;
	run(&cp, 400, 6, &a, &g, &st);
	CHECK(g.verify_errors > 0);
	CHECK(strstr(g.err, "returned other data") != NULL);
}

static void test_net(void)
{
	static const char *const modes[] = { "tx", "rx", "rr" };
	static const int sizes[] = { 64, 1500, VTB_NET_IMIX, 9014 };
	static const unsigned qds[] = { 1, 16, 64 };
	for (unsigned m = 0; m < 3; m++)
		for (unsigned s = 0; s < 4; s++)
			for (unsigned q = 0; q < 3; q++) {
				struct vtb_cellp cp = base("net");
				snprintf(cp.mode, sizeof(cp.mode), "%s", modes[m]);
				cp.size = sizes[s];
				cp.qd = qds[q];
				struct acct a;
				struct vtb_gen g;
				struct vtb_loop_stats st;
				run(&cp, 500, 0, &a, &g, &st);
				CHECK_EQ(a.ops, 500);
				uint64_t want = 0;
				for (uint64_t i = 0; i < 500; i++)
					want += vtb_net_frame_size(cp.size, i);
				CHECK_EQ(a.bytes, want);
				CHECK_EQ(g.verify_errors, 0);
				CHECK_EQ(st.sink_errors, 0);
				if (g.verify_errors)
					fprintf(stderr, "net %s size %d qd %u: %s\n", modes[m], cp.size, cp.qd, g.err);
				if (m == 0)
					CHECK(st.frames_tx == a.all + g.inflight && st.frames_rx == 0);
				else if (m == 1)
					CHECK(st.frames_rx == a.all + g.inflight && st.frames_tx == 0);
				else
					CHECK(st.frames_rx == a.all + g.inflight && st.frames_tx == st.frames_rx);
			}
	/* A corrupted frame is caught in rx and rr. */
	for (unsigned m = 1; m < 3; m++) {
		struct vtb_cellp cp = base("net");
		snprintf(cp.mode, sizeof(cp.mode), "%s", modes[m]);
		cp.size = 1500;
		cp.qd = 16;
		struct acct a;
		struct vtb_gen g;
		struct vtb_loop_stats st;
		run(&cp, 500, 1, &a, &g, &st);
		CHECK_EQ(g.verify_errors, 1);
		CHECK(strstr(g.err, "bad length") != NULL);
	}
}

static void test_scmi(void)
{
	static const char *const mixes[] = {
		"sensor_read:40,sensor_desc:5,clock_get:10,clock_set:10,clock_attrs:5,clock_rates:5,perf_get:5,perf_set:10,"
		"perf_attrs:2,base_version:2,base_attrs:1,base_vendor:1,base_subvendor:1,base_impl:1,base_protocols:2",
		"perf_set:5,perf_limits_set:3,perf_limits_get:2,perf_levels:2,perf_get:1",
		"sensor_read",
	};
	static const unsigned qds[] = { 1, 8, 32 };
	for (unsigned m = 0; m < 3; m++)
		for (unsigned q = 0; q < 3; q++)
			for (int ev = 0; ev < 2; ev++) {
				struct vtb_cellp cp = base("scmi");
				snprintf(cp.mix, sizeof(cp.mix), "%s", mixes[m]);
				cp.qd = qds[q];
				cp.events = ev;
				struct acct a;
				struct vtb_gen g;
				struct vtb_loop_stats st;
				run(&cp, 600, 0, &a, &g, &st);
				CHECK_EQ(a.ops, 600);
				CHECK(a.bytes > 600 * 8);
				CHECK_EQ(g.verify_errors, 0);
				if (g.verify_errors)
					fprintf(stderr, "scmi mix %u qd %u events %d: %s\n", m, cp.qd, ev, g.err);
				/* Setup commands (2 without events, one per domain with) and the ops. */
				CHECK_EQ(st.calls, a.all + g.inflight + (ev ? VTB_SCMI_NUM_PERF : 2));
				if (m == 1 && ev)
					CHECK(st.notifs > 0);
				else if (!ev || m == 2)
					CHECK_EQ(st.notifs, 0);
			}
	struct vtb_cellp cp = base("scmi");
	snprintf(cp.mix, sizeof(cp.mix), "%s", mixes[0]);
	cp.qd = 8;
	struct acct a;
	struct vtb_gen g;
	struct vtb_loop_stats st;
	run(&cp, 600, 1, &a, &g, &st);
	CHECK_EQ(g.verify_errors, 1);
	CHECK(strstr(g.err, "differs from the spec") != NULL);
}

int main(void)
{
	test_blk();
	test_net();
	test_scmi();
	return vtb_test_end("test_engines");
}
