/* vtbench's own USDT probes (provider "vtbench"); nops until a probe
 * attaches.  probes.bpf.c consumes them. */
#ifndef VTB_USDT_H
#define VTB_USDT_H

#include <stdint.h>

#if defined(__has_include) && __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
/* A domain's measured phase begins (start=1) or ends (0), right where it
 * snapshots its own seam counters. */
#define VTB_USDT_PHASE(dom, start) DTRACE_PROBE2(vtbench, phase, (int)(dom), (int)(start))
/* A sampled request, keyed by its (unique) submit timestamp. */
#define VTB_USDT_SUBMIT(key) DTRACE_PROBE1(vtbench, submit, (uint64_t)(key))
#define VTB_USDT_COMPLETE(key) DTRACE_PROBE1(vtbench, complete, (uint64_t)(key))
#define VTB_HAVE_USDT 1
#else
#define VTB_USDT_PHASE(dom, start) ((void)(dom), (void)(start))
#define VTB_USDT_SUBMIT(key) ((void)(key))
#define VTB_USDT_COMPLETE(key) ((void)(key))
#define VTB_HAVE_USDT 0
#endif

/* 1 in `every` requests (a power of two; 0: none) fires submit/complete:
 * a uprobe trap costs microseconds, too much for every op.  A hash of the
 * key decides, so both probes agree without shared state. */
static inline int vtb_usdt_sampled(uint64_t key, unsigned every)
{
	return every && (((key * 0x9E3779B97F4A7C15ull) >> 32) & (every - 1)) == 0;
}

#endif
