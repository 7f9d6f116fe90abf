/* eBPF probes: what the kernel saw of a cell's two domains.  This header is
 * shared by probes.bpf.c (the programs) and probes.c (the loader), as in
 * libbpf-bootstrap; the layout below is the programs' .bss. */
#ifndef VTB_PROBES_H
#define VTB_PROBES_H

#ifdef __bpf__
typedef __u64 vtb_u64;
typedef __u32 vtb_u32;
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
typedef uint64_t vtb_u64;
typedef uint32_t vtb_u32;
#endif

#define VTB_KP_NSYS 512		/* syscall numbers counted one by one; beyond: sys_other */
#define VTB_KP_LAT_SLOTS 40	/* log2 buckets: slot s holds [2^(s-1), 2^s) ns, slot 0 holds 0 */
#define VTB_KP_TLB_REASONS 8	/* enum tlb_flush_reason, include/linux/mm_types.h */

/* The primitives whose latency is histogrammed: the system calls a seam
 * call or a doorbell makes on proc (read/write are the eventfds'). */
enum vtb_kp_prim {
	VTB_KP_PROCESS_VM_READV,
	VTB_KP_PROCESS_VM_WRITEV,
	VTB_KP_MMAP,
	VTB_KP_MUNMAP,
	VTB_KP_MPROTECT,
	VTB_KP_READ,
	VTB_KP_WRITE,
	VTB_KP_FUTEX,
	VTB_KP_IO_URING_ENTER,
	VTB_KP_NPRIM
};

/* Same log-linear layout as hist.h (checked by a _Static_assert in probes.c),
 * so the in-kernel request latency histogram compares bucket for bucket. */
#define VTB_KP_HIST_SUB_BITS 6
#define VTB_KP_HIST_SUB (1u << VTB_KP_HIST_SUB_BITS)
#define VTB_KP_HIST_MAX_LOG2 40
#define VTB_KP_HIST_BUCKETS (VTB_KP_HIST_SUB * (VTB_KP_HIST_MAX_LOG2 - VTB_KP_HIST_SUB_BITS + 2))

/* Whatever the programs write on a domain's events sits on that domain's
 * own cache lines: FE and BE run on two CPUs, and a line both write (or one
 * writes and every system call reads) moves between them on every call. */
#define VTB_KP_LINE 64

/* One domain, over its measured phase only (the phase USDT gates it). */
struct __attribute__((aligned(VTB_KP_LINE))) vtb_kdom {
	vtb_u64 sys[VTB_KP_NSYS];
	vtb_u64 sys_other;
	vtb_u64 prim_lat[VTB_KP_NPRIM][VTB_KP_LAT_SLOTS];
	vtb_u64 prim_ns[VTB_KP_NPRIM];
	vtb_u64 ctx_switches;		/* this domain switched out */
	vtb_u64 ctx_involuntary;	/* ... while still runnable (preempted) */
	vtb_u64 offcpu_ns;		/* switched out until switched in again */
	vtb_u64 page_faults;		/* user page faults (x86 tracepoint) */
	vtb_u64 tlb_flush[VTB_KP_TLB_REASONS];
	vtb_u64 tlb_pages;
	vtb_u64 ipis;			/* IPIs this domain's CPU sent while running it */
	vtb_u64 phase_on, phase_off;	/* USDT phase events seen (1 each when healthy) */
};

/* Request latency from the FE's USDT submit to complete probes, for the
 * sampled requests (1 in usdt_sample). */
struct vtb_kusdt {
	vtb_u64 count;
	vtb_u64 unmatched;		/* completions with no recorded submit */
	vtb_u64 sum_ns;
	vtb_u64 hist[VTB_KP_HIST_BUCKETS];
};

/* A domain's one thread: its system call in progress, or when it was
 * switched out. */
struct vtb_kslot {
	vtb_u64 ts;
	vtb_u32 tid;
	vtb_u32 prim;
};

/* A domain's state on its hot path, one line per domain (.bss). */
struct __attribute__((aligned(VTB_KP_LINE))) vtb_khot {
	vtb_u32 on;			/* measured phase on */
	vtb_u32 pad;
	struct vtb_kslot sys_in;	/* prim: 1 + index; 0: none in progress */
	struct vtb_kslot offcpu;	/* ts: switched out at; 0: not out */
};

#define VTB_KP_KVM_REASONS 128
#define VTB_KP_NO_TGID 0xffffffffu	/* dom_tgid of a disarmed probe set (0 is the idle task) */

#ifndef __bpf__
/* ------------------------------------------------------------ loader */

struct vtb_kresult {
	bool on;
	struct vtb_kdom d[2];		/* FE, BE */
	struct vtb_kusdt usdt;
	bool kvm;			/* kvm:kvm_exit was attached */
	vtb_u64 kvm_exit[VTB_KP_KVM_REASONS + 1];	/* by reason; last: others */
	bool have_page_faults, have_ipis;
	double arm_us;			/* zeroing and arming before the cell, outside the measurement */
};

struct vtb_probes;
/* Loads and attaches the programs for a whole run, disarmed.  On failure
 * returns -1 and says in why what is missing (permission, BTF, tracefs). */
int vtb_probes_open(struct vtb_probes **pp, char *why, size_t n);
/* Zeroes the counters and points them at a cell's two processes; call
 * before either starts its measured phase. */
void vtb_probes_arm(struct vtb_probes *p, pid_t fe, pid_t be);
/* Disarms and copies what the programs counted; call after both domains
 * have ended. */
void vtb_probes_collect(struct vtb_probes *p, struct vtb_kresult *out);
/* Detaches and frees everything (NULL: nothing). */
void vtb_probes_close(struct vtb_probes *p);
/* What counts and times the system calls: the fentry/fexit hooks or the
 * raw tracepoints they fall back on, per side (static string). */
const char *vtb_probes_syscall_hooks(const struct vtb_probes *p);
/* bpf and perf file descriptors this process holds. */
int vtb_probes_open_fds(void);

/* Names for the row: a syscall number's name, or NULL. */
const char *vtb_syscall_name(unsigned nr);
extern const char *const vtb_kp_prim_names[VTB_KP_NPRIM];
extern const char *const vtb_kp_tlb_reasons[VTB_KP_TLB_REASONS];
#endif

#endif
