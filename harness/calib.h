/* The machine's own limits, measured in the run that uses them: a figure
 * means something only beside these (the vCPUs' placement alone moves the
 * cache-line round trip by 4x within minutes on the Firecracker VMs). */
#ifndef VTB_CALIB_H
#define VTB_CALIB_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* Cache-line ping-pong round trip between two CPUs, in ns (median of
 * batches); the placement of this machine's vCPUs moves it from ~120 ns
 * ("near") to ~470 ns ("far") within minutes.  <0 if it cannot run. */
double vtb_pingpong_ns(int cpu_a, int cpu_b, int rounds, int batches, double *spread_pct);
#define VTB_PP_RUN 20000, 7	/* at run start and end: ~60 ms when far */
#define VTB_PP_CELL 4000, 5	/* before each cell repetition: ~10 ms */
const char *vtb_placement_tag(double rt_ns);
/* Pins the calling process to cpu (-1: leaves it alone). */
void vtb_pin_self(int cpu);
/* fork() for every process vtbench starts: the child is killed when the
 * process that started it dies, however it dies. */
pid_t vtb_fork_bound(void);

/* One calibrated figure: the median over batches, and the spread of the
 * batches without the extreme one at each end, in % of the median. */
struct vtb_fig {
	double v;
	double spread_pct;
};

enum { VTB_CAL_4K, VTB_CAL_64K, VTB_CAL_1M, VTB_CAL_NSIZES };
extern const unsigned vtb_cal_sizes[VTB_CAL_NSIZES];
/* Sizes of the cross-CPU copy figures. */
enum { VTB_XC_64, VTB_XC_4K, VTB_XC_64K, VTB_XC_NSIZES };
extern const unsigned vtb_xc_sizes[VTB_XC_NSIZES];

struct vtb_calib {
	bool ok;
	struct vtb_fig memcpy_gbps[VTB_CAL_NSIZES];	/* GB/s (1e9 B/s) */
	struct vtb_fig hv_call_ns;	/* a 64-byte hypervisor copy (process_vm_writev on proc) */
	struct vtb_fig hv_seg_ns;	/* each further piece of one call (8 x 64 B, 8 pages): checked and pinned alone */
	struct vtb_fig hv_gbps;		/* hypervisor-copy bandwidth, 1 MiB per call */
	struct vtb_fig pingpong_ns;	/* cache-line round trip between the two CPUs */
	struct vtb_fig eventfd_rtt_ns;	/* doorbell and back, blocking, one process per CPU */
	struct vtb_fig futex_rtt_ns;
	struct vtb_fig syscall_ns;	/* getppid */
	struct vtb_fig map_ns;		/* map a page of another domain's memfd (populated), touch, unmap */
	struct vtb_fig map_batch_ns;	/* the same per page, 16 pages per call */
	struct vtb_fig shootdown_ns;	/* extra cost of that unmap when the mm also runs on the other CPU */
	/* What a copy costs in a cell, where one side of it was last touched
	 * by the other CPU (harness/model.md): 0 when not calibrated (a run
	 * recorded before these existed), and the model then prices warm. */
	struct vtb_fig xcopy_ns[VTB_XC_NSIZES];		/* memcpy of a buffer the other CPU just wrote, per copy */
	struct vtb_fig reclaim_ns[VTB_XC_NSIZES];	/* the other CPU's extra to write that buffer again */
	struct vtb_fig hv_x64_ns;	/* a 64 B hypervisor copy into pages the peer read since the last one */
	struct vtb_fig hv_x4k_ns;	/* the same of 4 KiB */
	const char *placement;
	double took_ms;
	char why[128];			/* when !ok */
};

/* Measures everything above with the two CPUs a cell's domains use
 * (cpu_a: FE, cpu_b: BE; -1: unpinned, then ping-pong is not measured).
 * Takes about a second. */
int vtb_calibrate(struct vtb_calib *c, int cpu_a, int cpu_b);
/* Reads back what vtb_calib_json wrote (to the precision it wrote). */
int vtb_calib_parse(const char *json, struct vtb_calib *c);
/* The figures as one JSON object. */
void vtb_calib_json(FILE *f, const struct vtb_calib *c);
/* Names the figures that moved between a and b by more than their noise
 * (the larger spread, and never less than 10%), comma-separated, into buf;
 * returns how many. */
int vtb_calib_moved(const struct vtb_calib *a, const struct vtb_calib *b, char *buf, size_t n);

#endif
