#ifndef VTB_CALIB_H
#define VTB_CALIB_H

/* Cache-line ping-pong round trip between two CPUs, in ns (median of
 * batches); the placement of this machine's vCPUs moves it from ~120 ns
 * ("near") to ~470 ns ("far") within minutes.  <0 if it cannot run. */
double vtb_pingpong_ns(int cpu_a, int cpu_b, int rounds, int batches, double *spread_pct);
#define VTB_PP_RUN 20000, 7	/* at run start and end: ~60 ms when far */
#define VTB_PP_CELL 4000, 5	/* before each cell repetition: ~10 ms */
const char *vtb_placement_tag(double rt_ns);

#endif
