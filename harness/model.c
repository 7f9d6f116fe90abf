/* The cost model; harness/model.md says what each term is and what it
 * leaves out. */
#include "model.h"

const char *const vtb_mt_names[VTB_MT_N] = { "hv_copy", "bounce", "map", "doorbell", "reclaim" };

static double memcpy_gbps_for(const struct vtb_calib *c, double bytes_per_copy)
{
	int i = bytes_per_copy <= 16384 ? VTB_CAL_4K : bytes_per_copy <= 512 * 1024 ? VTB_CAL_64K : VTB_CAL_1M;
	return c->memcpy_gbps[i].v;
}

double vtb_model_xcopy_ns(const struct vtb_fig fig[VTB_XC_NSIZES], double n, double bytes)
{
	/* A 64 KiB copy never takes no time; the smaller points may come out
	 * 0 (below the clock, or a rewrite that costs nothing extra). */
	if (!(fig[VTB_XC_64K].v > 0))
		return -1;
	if (n <= 0 || bytes <= 0)
		return 0;
	double m = bytes / n, per;
	if (m <= vtb_xc_sizes[0]) {
		per = fig[0].v;	/* one line crosses whatever the size below it */
	} else if (m >= vtb_xc_sizes[VTB_XC_NSIZES - 1]) {
		per = fig[VTB_XC_NSIZES - 1].v * m / vtb_xc_sizes[VTB_XC_NSIZES - 1];
	} else {
		int i = 1;
		while (m > vtb_xc_sizes[i])
			i++;
		double a = vtb_xc_sizes[i - 1], b = vtb_xc_sizes[i];
		per = fig[i - 1].v + (fig[i].v - fig[i - 1].v) * (m - a) / (b - a);
	}
	return n * per;
}

void vtb_model_terms(const struct vtb_calib *c, const struct vtb_model_cell *x, struct vtb_model_out *o)
{
	double ops = x->ops ? (double)x->ops : 1;
	double notifies = 0;
	for (int d = 0; d < 2; d++)
		o->term[d][VTB_MT_RECLAIM] = 0;
	/* A hypervisor copy's bytes land in (or come from) pages the other
	 * domain uses: priced as a copy into a reader's pages costs beyond a
	 * 64-byte one, when the run calibrated that. */
	double hv_byte = c->hv_gbps.v > 0 ? 1 / c->hv_gbps.v : 0;
	if (c->hv_x64_ns.v > 0 && c->hv_x4k_ns.v > c->hv_x64_ns.v)
		hv_byte = (c->hv_x4k_ns.v - c->hv_x64_ns.v) / (4096 - 64);
	for (int d = 0; d < 2; d++) {
		const struct vtb_plat_counters *k = &x->d[d];
		double *t = o->term[d];
		/* A call, each further piece it carries (checked and pinned on its
		 * own: 8 pieces cost 3x one here), and the bytes. */
		double segs = k->copy_segs > k->copies ? (double)(k->copy_segs - k->copies) : 0;
		t[VTB_MT_HV_COPY] = (k->copies * c->hv_call_ns.v + segs * c->hv_seg_ns.v + k->copy_bytes * hv_byte) / ops;
		/* A bounce copy moves data between private memory and memory the
		 * other domain shares, which its CPU last wrote or read: the copy
		 * pulls those lines across, and the other domain pays to take
		 * them back when it writes there again.  Warm bandwidth when the
		 * run did not calibrate that (a run recorded before it). */
		double nb = (double)k->bounce_copies, bb = (double)k->bounce_bytes;
		double xc = vtb_model_xcopy_ns(c->xcopy_ns, nb, bb), rc = vtb_model_xcopy_ns(c->reclaim_ns, nb, bb);
		if (xc >= 0) {
			t[VTB_MT_BOUNCE] = xc / ops;
			/* What the other domain writes there by hypervisor copy
			 * is priced as a copy into a reader's pages already. */
			double hv = (double)x->d[!d].copy_bytes, share = bb > hv ? (bb - hv) / bb : 0;
			o->term[!d][VTB_MT_RECLAIM] += (rc > 0 ? rc * share : 0) / ops;
		} else {
			double bw = nb > 0 ? memcpy_gbps_for(c, bb / nb) : 0;
			t[VTB_MT_BOUNCE] = bw > 0 ? bb / bw / ops : 0;
		}
		double pages = (double)k->map_bytes / 4096;
		t[VTB_MT_MAP] = (k->maps * c->map_ns.v + (pages > k->maps ? pages - k->maps : 0) * c->map_batch_ns.v) / ops;
		t[VTB_MT_DOORBELL] = (double)(k->notifies + k->waits) * c->syscall_ns.v / ops;
		notifies += (double)k->notifies;
	}
	for (int d = 0; d < 2; d++) {
		o->work_ns[d] = 0;
		for (int i = 0; i < VTB_MT_N; i++)
			o->work_ns[d] += o->term[d][i];
	}
	/* A doorbell that wakes a sleeping peer at queue depth 1 puts the
	 * wake-up on the request's path: half a round trip, less the two
	 * system calls already counted. */
	double wake = c->eventfd_rtt_ns.v / 2 - 2 * c->syscall_ns.v;
	o->wake_ns = !x->poll && x->qd <= 1 && wake > 0 ? notifies / ops * wake : 0;
}

static void limit(const struct vtb_calib *c, const struct vtb_model_cell *x, struct vtb_model_out *o)
{
	/* Each bound is what the cell could not beat on this machine were
	 * everything else free; the largest binds. */
	double copy = 0, map = 0;
	for (int d = 0; d < 2; d++) {
		double cp = o->term[d][VTB_MT_HV_COPY] + o->term[d][VTB_MT_BOUNCE];
		copy = x->qd > 1 ? (cp > copy ? cp : copy) : copy + cp;
		double mp = o->term[d][VTB_MT_MAP];
		map = x->qd > 1 ? (mp > map ? mp : map) : map + mp;
	}
	double ops = x->ops ? (double)x->ops : 1;
	double notifies = (double)(x->d[0].notifies + x->d[1].notifies) / ops;
	double rtt = x->poll || notifies < 1 || x->qd > 1 ? c->pingpong_ns.v / (x->qd ? x->qd : 1) : c->eventfd_rtt_ns.v;
	const char *rtt_name = x->poll || notifies < 1 || x->qd > 1 ? "pingpong" : "doorbell_rtt";
	o->limit = rtt_name;
	o->limit_ns = rtt;
	if (map > o->limit_ns) {
		o->limit = "map";
		o->limit_ns = map;
	}
	if (copy > o->limit_ns) {
		double hv = o->term[0][VTB_MT_HV_COPY] + o->term[1][VTB_MT_HV_COPY];
		double bounce = o->term[0][VTB_MT_BOUNCE] + o->term[1][VTB_MT_BOUNCE];
		o->limit = hv >= bounce ? "hv_copy_bw" : "memcpy_bw";
		o->limit_ns = copy;
	}
}

int vtb_model_pick_ref(const unsigned seen[2], unsigned pl, unsigned rep)
{
	pl = pl ? 1 : 0;
	if (seen[pl])
		return (int)pl;
	return seen[!pl] == rep ? (int)!pl : -1;
}

void vtb_model_predict(const struct vtb_calib *c, const struct vtb_model_cell *x,
		       const struct vtb_model_cell *ref, struct vtb_model_out *o)
{
	vtb_model_terms(c, x, o);
	limit(c, x, o);
	o->relative = ref && ref->ops && ref->seconds > 0;
	if (!o->relative) {
		/* The seam's costs alone: a floor, leaving out ring and device work. */
		double line = x->poll ? c->pingpong_ns.v / (x->qd ? x->qd : 1) : 0;
		o->predicted_ns = x->qd > 1 ? (o->work_ns[0] > o->work_ns[1] ? o->work_ns[0] : o->work_ns[1]) + line
					    : o->work_ns[0] + o->work_ns[1] + o->wake_ns + line;
		return;
	}
	struct vtb_model_out r;
	vtb_model_terms(c, ref, &r);
	double t_ref = ref->seconds * 1e9 / (double)ref->ops;
	if (x->qd <= 1) {
		/* Serial: every extra cost lies on the request's path. */
		o->predicted_ns = t_ref + (o->work_ns[0] - r.work_ns[0]) + (o->work_ns[1] - r.work_ns[1]) +
				  (o->wake_ns - r.wake_ns);
		return;
	}
	/* Pipelined: the busier domain sets the pace, unless the reference's
	 * own pace is slower still.  In event mode a domain's idle time in the
	 * reference is its sleeps and wake-ups, which do not shrink when its
	 * work grows: it stays, and each blocking wait beyond the reference's
	 * adds a wake-up (half a doorbell round trip) of its own.  In poll
	 * mode the idle time is spinning, counted in the CPU time already. */
	o->predicted_ns = t_ref;
	double wake = c->eventfd_rtt_ns.v / 2;
	for (int d = 0; d < 2; d++) {
		double cpu_ref = ref->cpu_s[d] * 1e9 / (double)ref->ops;
		double busy = cpu_ref + o->work_ns[d] - r.work_ns[d];
		if (!x->poll) {
			double more = (double)x->d[d].waits / (double)(x->ops ? x->ops : 1) -
				      (double)ref->d[d].waits / (double)ref->ops;
			busy += (t_ref > cpu_ref ? t_ref - cpu_ref : 0) + (more > 0 ? more * wake : 0);
		}
		if (busy > o->predicted_ns)
			o->predicted_ns = busy;
	}
}
