/* The cost model on synthetic cells whose answer is worked out by hand,
 * and the calibration's movement check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../ci/vtb_test.h"
#include "../model.h"

#define NEAR(a, b) CHECK(fabs((double)(a) - (double)(b)) < 1e-6 * (fabs((double)(b)) + 1))

static struct vtb_calib calib(void)
{
	struct vtb_calib c;
	memset(&c, 0, sizeof(c));
	c.ok = true;
	c.memcpy_gbps[VTB_CAL_4K].v = 10;	/* 10 bytes per ns */
	c.memcpy_gbps[VTB_CAL_64K].v = 20;
	c.memcpy_gbps[VTB_CAL_1M].v = 40;
	c.hv_call_ns.v = 1000;
	c.hv_seg_ns.v = 300;
	c.hv_gbps.v = 4;
	c.pingpong_ns.v = 100;
	c.eventfd_rtt_ns.v = 20000;
	c.syscall_ns.v = 200;
	c.map_ns.v = 5000;
	c.map_batch_ns.v = 500;
	return c;
}

/* The copy curve and the cross-CPU terms: per copy 50 ns at 64 B, 400 ns
 * at 4 KiB, 5000 ns at 64 KiB; the other CPU's rewrite 10, 200, 3000 ns;
 * a hypervisor copy into a reader 1500 ns at 64 B, 4032 x 0.5 ns more at
 * 4 KiB. */
static void cross_cpu_copies(void)
{
	struct vtb_calib c = calib();
	const double xc[VTB_XC_NSIZES] = { 50, 400, 5000 }, rc[VTB_XC_NSIZES] = { 10, 200, 3000 };
	CHECK(vtb_model_xcopy_ns(c.xcopy_ns, 1, 4096) < 0);	/* not calibrated */
	for (int i = 0; i < VTB_XC_NSIZES; i++) {
		c.xcopy_ns[i].v = xc[i];
		c.reclaim_ns[i].v = rc[i];
	}
	c.hv_x64_ns.v = 1500;
	c.hv_x4k_ns.v = 1500 + 4032 * 0.5;
	NEAR(vtb_model_xcopy_ns(c.xcopy_ns, 1, 4096), 400);
	NEAR(vtb_model_xcopy_ns(c.xcopy_ns, 3, 30), 3 * 50.0);		/* below a line: one line each */
	NEAR(vtb_model_xcopy_ns(c.xcopy_ns, 2, 2 * 2080), 2 * 225.0);	/* midway 64 B - 4 KiB */
	NEAR(vtb_model_xcopy_ns(c.xcopy_ns, 1, 34816), 400 + 4600 / 2.0);	/* midway 4 - 64 KiB */
	NEAR(vtb_model_xcopy_ns(c.xcopy_ns, 1, 131072), 10000);	/* beyond: the 64 KiB rate */
	NEAR(vtb_model_xcopy_ns(c.xcopy_ns, 0, 0), 0);
	/* A rewrite of 64 B that costs nothing extra is a point of the curve,
	 * not a missing one. */
	c.reclaim_ns[VTB_XC_64].v = 0;
	NEAR(vtb_model_xcopy_ns(c.reclaim_ns, 2, 2 * 2080), 2 * 100.0);
	c.reclaim_ns[VTB_XC_64].v = rc[VTB_XC_64];

	/* 1000 ops at depth 1, poll.  FE: 2000 bounce copies of 4 KiB.  BE:
	 * 2000 hv copies of 8 MB in all, in 5000 pieces. */
	struct vtb_model_cell x = { .ops = 1000, .seconds = 0.05, .qd = 1, .poll = true };
	x.d[0] = (struct vtb_plat_counters){ .bounce_copies = 2000, .bounce_bytes = 2000 * 4096 };
	x.d[1] = (struct vtb_plat_counters){ .copies = 2000, .copy_bytes = 8000000, .copy_segs = 5000 };
	struct vtb_model_out o;
	vtb_model_terms(&c, &x, &o);
	/* The other domain takes the lines back, but not those it writes by
	 * hypervisor copy (priced into a reader already): the BE hv-copies
	 * 8000 of the FE's 8192 bounced bytes per op. */
	double be_rc = 2 * 200.0 * (8192 - 8000) / 8192;
	NEAR(o.term[0][VTB_MT_BOUNCE], 2 * 400.0);
	NEAR(o.term[1][VTB_MT_RECLAIM], be_rc);
	NEAR(o.term[0][VTB_MT_RECLAIM], 0);
	NEAR(o.term[1][VTB_MT_HV_COPY], 2 * 1000.0 + 3 * 300.0 + 8000 * 0.5);
	NEAR(o.work_ns[0], 800);
	NEAR(o.work_ns[1], be_rc + 6900);
	/* Against a reference without copies, at depth 1 both domains' extra
	 * work lies on the path. */
	struct vtb_model_cell ref = { .ops = 1000, .seconds = 0.002, .qd = 1, .poll = true, .cpu_s = { 0.002, 0.002 } };
	vtb_model_predict(&c, &x, &ref, &o);
	NEAR(o.predicted_ns, 2000 + 800 + be_rc + 6900);
	/* Without the BE's hypervisor copies it takes back every line. */
	struct vtb_model_cell y = x;
	y.d[1] = (struct vtb_plat_counters){ 0 };
	vtb_model_terms(&c, &y, &o);
	NEAR(o.term[1][VTB_MT_RECLAIM], 2 * 200.0);
	NEAR(o.work_ns[1], 2 * 200.0);
	/* Both domains copy: each pays the other's reclaim, but not for what
	 * it writes by hypervisor copy (priced into a reader already): the BE
	 * hv-copies 8000 of the FE's 8192 bounced bytes per op. */
	x.d[1].bounce_copies = 1000;
	x.d[1].bounce_bytes = 1000 * 64;
	vtb_model_terms(&c, &x, &o);
	NEAR(o.term[0][VTB_MT_RECLAIM], 10);
	NEAR(o.term[1][VTB_MT_BOUNCE], 50);
	NEAR(o.term[1][VTB_MT_RECLAIM], be_rc);
	/* Without the 64-byte figure (or a 4 KiB one no dearer) the bandwidth
	 * prices the bytes. */
	c.hv_x64_ns.v = 0;
	vtb_model_terms(&c, &x, &o);
	NEAR(o.term[1][VTB_MT_HV_COPY], 2 * 1000.0 + 3 * 300.0 + 8000 / 4.0);
}

/* The calibration survives its JSON, and a run recorded before the
 * cross-CPU figures still parses (they read as 0: priced warm). */
static void calib_round_trip(void)
{
	struct vtb_calib c = calib(), back;
	c.xcopy_ns[VTB_XC_4K].v = 412.5;
	c.reclaim_ns[VTB_XC_64K].v = 3100;
	c.hv_x4k_ns = (struct vtb_fig){ 2500, 3.5 };
	c.placement = "near";
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	CHECK(f != NULL);
	if (!f)
		return;
	vtb_calib_json(f, &c);
	fclose(f);
	CHECK_EQ(vtb_calib_parse(buf, &back), 0);
	NEAR(back.map_ns.v, 5000);
	NEAR(back.xcopy_ns[VTB_XC_4K].v, 412.5);
	NEAR(back.reclaim_ns[VTB_XC_64K].v, 3100);
	NEAR(back.hv_x4k_ns.v, 2500);
	NEAR(back.hv_x4k_ns.spread_pct, 3.5);
	/* Cut at the first figure added later: the older layout. */
	char *later = strstr(buf, ", \"xcopy_64\"");
	CHECK(later != NULL);
	if (later) {
		strcpy(later, "}");
		CHECK_EQ(vtb_calib_parse(buf, &back), 0);
		NEAR(back.map_ns.v, 5000);
		CHECK_EQ(back.xcopy_ns[VTB_XC_4K].v, 0);
		CHECK_EQ(back.hv_x4k_ns.v, 0);
		CHECK(vtb_model_xcopy_ns(back.xcopy_ns, 1, 4096) < 0);
	}
	/* Without one of the original figures it is no calibration. */
	char *map = strstr(buf, "\"map_ns\"");
	CHECK(map != NULL);
	if (map) {
		map[1] = 'X';
		CHECK_EQ(vtb_calib_parse(buf, &back), -1);
	}
	free(buf);
}

int main(void)
{
	struct vtb_calib c = calib();
	struct vtb_model_out o;

	/* 1000 ops at depth 1, event mode.  FE: 2000 bounce copies of 4 KiB,
	 * 1000 kicks, 1000 waits.  BE: 3000 maps over 4000 pages, 2000 hv
	 * copies of 8 MB in all carrying 5000 pieces, 1000 interrupts, 1000
	 * waits. */
	struct vtb_model_cell x = { .ops = 1000, .seconds = 0.05, .qd = 1, .poll = false };
	x.d[0] = (struct vtb_plat_counters){ .bounce_copies = 2000, .bounce_bytes = 2000 * 4096,
					     .notifies = 1000, .waits = 1000 };
	x.d[1] = (struct vtb_plat_counters){ .maps = 3000, .map_bytes = 4000 * 4096ull, .copies = 2000,
					     .copy_bytes = 8000000, .copy_segs = 5000, .notifies = 1000, .waits = 1000 };
	vtb_model_predict(&c, &x, NULL, &o);
	double fe_bounce = 2 * 4096 / 10.0;			/* 819.2 */
	double fe_bell = 2 * 200.0;				/* 400 */
	double be_map = 3 * 5000.0 + (4 - 3) * 500.0;		/* 15500 */
	double be_hv = 2 * 1000.0 + 3 * 300.0 + 8000 / 4.0;	/* 4900: calls, further pieces, bytes */
	double be_bell = 2 * 200.0;
	double wake = 2 * (20000 / 2.0 - 2 * 200.0);		/* 19200 */
	NEAR(o.term[0][VTB_MT_BOUNCE], fe_bounce);
	NEAR(o.term[0][VTB_MT_DOORBELL], fe_bell);
	NEAR(o.term[1][VTB_MT_MAP], be_map);
	NEAR(o.term[1][VTB_MT_HV_COPY], be_hv);
	NEAR(o.work_ns[0], fe_bounce + fe_bell);
	NEAR(o.work_ns[1], be_map + be_hv + be_bell);
	NEAR(o.wake_ns, wake);
	CHECK(!o.relative);
	NEAR(o.predicted_ns, fe_bounce + fe_bell + be_map + be_hv + be_bell + wake);
	/* Limits: copy 819.2 + 4900, map 15500, doorbell rtt 20000: the doorbell binds. */
	CHECK(!strcmp(o.limit, "doorbell_rtt"));
	NEAR(o.limit_ns, 20000);

	/* Against a shm reference of the same workload: 30 us per op, no seam
	 * work but its doorbells. */
	struct vtb_model_cell ref = { .ops = 1000, .seconds = 0.03, .qd = 1, .poll = false, .cpu_s = { 0.004, 0.005 } };
	ref.d[0] = (struct vtb_plat_counters){ .notifies = 1000, .waits = 1000 };
	ref.d[1] = (struct vtb_plat_counters){ .notifies = 1000, .waits = 1000 };
	vtb_model_predict(&c, &x, &ref, &o);
	CHECK(o.relative);
	NEAR(o.predicted_ns, 30000 + fe_bounce + be_map + be_hv);	/* doorbells and wake-ups cancel */

	/* At depth the busier domain sets the pace: BE 5 us of CPU per op in the
	 * reference, plus its extra work. */
	x.qd = ref.qd = 16;
	ref.seconds = 0.004;	/* 4 us per op */
	vtb_model_predict(&c, &x, &ref, &o);
	CHECK_EQ(o.wake_ns, 0);
	NEAR(o.predicted_ns, 5000 + be_map + be_hv);
	/* Limits at depth take the larger domain: map 15500 > copy 4900. */
	CHECK(!strcmp(o.limit, "map"));
	NEAR(o.limit_ns, be_map);

	/* Event mode at depth: the reference idles 6 us (FE) and 7 us (BE) of
	 * its 10 us per op in sleeps and wake-ups, which stay; the BE waits
	 * 2 more times per op than in the reference, a wake-up (10 us) each. */
	struct vtb_model_cell ev = x, evref = { .ops = 1000, .seconds = 0.01, .qd = 16, .poll = false,
						 .cpu_s = { 0.004, 0.003 } };
	ev.qd = 16;
	ev.d[0].waits = 500;
	ev.d[1].waits = 2500;
	evref.d[0] = (struct vtb_plat_counters){ .notifies = 1000, .waits = 500 };
	evref.d[1] = (struct vtb_plat_counters){ .notifies = 1000, .waits = 500 };
	vtb_model_predict(&c, &ev, &evref, &o);
	double ev_fe = 4000 + fe_bounce + 6000;				/* doorbells cancel: 10819.2 */
	double ev_be = 3000 + (be_map + be_hv + 3.5 * 200 - 1.5 * 200) + 7000 + 2 * 10000;	/* 50800 */
	CHECK(ev_be > ev_fe);
	NEAR(o.predicted_ns, ev_be);
	/* The same in poll mode: spinning is CPU time, no idle to keep. */
	ev.poll = evref.poll = true;
	vtb_model_predict(&c, &ev, &evref, &o);
	NEAR(o.predicted_ns, 3000 + be_map + be_hv + 3.5 * 200 - 1.5 * 200);

	/* The reference: the cell's placement from any repetition so far, else
	 * this repetition's in the other placement, else none. */
	CHECK_EQ(vtb_model_pick_ref((unsigned[2]){ 3, 3 }, 1, 3), 1);
	CHECK_EQ(vtb_model_pick_ref((unsigned[2]){ 3, 1 }, 1, 3), 1);	/* far, two repetitions ago */
	CHECK_EQ(vtb_model_pick_ref((unsigned[2]){ 3, 0 }, 1, 3), 0);	/* no far one yet */
	CHECK_EQ(vtb_model_pick_ref((unsigned[2]){ 2, 0 }, 1, 3), -1);	/* near, but from another repetition */
	CHECK_EQ(vtb_model_pick_ref((unsigned[2]){ 0, 0 }, 0, 1), -1);

	/* Poll mode, nothing but the ring: the ping-pong floor per request in flight. */
	struct vtb_model_cell shm = { .ops = 100, .seconds = 1e-4, .qd = 4, .poll = true };
	vtb_model_predict(&c, &shm, NULL, &o);
	CHECK(!strcmp(o.limit, "pingpong"));
	NEAR(o.limit_ns, 25);
	NEAR(o.predicted_ns, 25);

	/* A figure moved when it changed by more than its noise (at least 10%). */
	struct vtb_calib d = c;
	char buf[128];
	CHECK_EQ(vtb_calib_moved(&c, &d, buf, sizeof(buf)), 0);
	d.pingpong_ns.v = 105;	/* 5%: noise */
	CHECK_EQ(vtb_calib_moved(&c, &d, buf, sizeof(buf)), 0);
	d.pingpong_ns.v = 400;
	d.map_ns.v = 9000;
	CHECK_EQ(vtb_calib_moved(&c, &d, buf, sizeof(buf)), 2);
	CHECK(!strcmp(buf, "pingpong_ns,map_ns"));
	d = c;
	d.pingpong_ns.v = 130;
	d.pingpong_ns.spread_pct = 40;	/* 30% but within its own spread */
	CHECK_EQ(vtb_calib_moved(&c, &d, buf, sizeof(buf)), 0);

	cross_cpu_copies();
	calib_round_trip();
	return vtb_test_end("test_model");
}
