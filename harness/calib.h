#ifndef VTB_CALIB_H
#define VTB_CALIB_H

/* Cache-line ping-pong round trip between two CPUs, in ns (median of
 * batches); the placement of this machine's vCPUs moves it from ~120 ns
 * ("near") to ~470 ns ("far") within minutes.  <0 if it cannot run. */
double vtb_pingpong_ns(int cpu_a, int cpu_b, double *spread_pct);
const char *vtb_placement_tag(double rt_ns);

#endif
