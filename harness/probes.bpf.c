// SPDX-License-Identifier: GPL-2.0
/* What the kernel sees of a cell's FE and BE processes during their
 * measured phases: system calls (counts and latency of the primitives),
 * context switches and off-CPU time, user page faults, TLB flushes, IPIs,
 * KVM exits where there is KVM, and request latency between vtbench's own
 * USDT probes.  Each domain gates its own counting with the vtbench:phase
 * USDT, fired right where it snapshots its seam counters, so the two views
 * cover the same calls.
 *
 * The programs stay attached for a whole run: detaching a link waits for an
 * RCU grace period (~75 ms each on the Firecracker VMs, over a second per
 * cell for all of them).  The loader arms them per cell instead: it zeroes
 * the counters and names the cell's two processes in dom_tgid. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>

#include "probes.h"

char LICENSE[] SEC("license") = "GPL";

/* Configuration, set by the loader before load: for each syscall number,
 * 1 + its primitive's index (0: not a primitive), one load on the hot path. */
const volatile __u8 prim_of[VTB_KP_NSYS] = {};

/* The armed cell's FE and BE, written by the loader between cells
 * (VTB_KP_NO_TGID: disarmed), read on every event of every process: a
 * whole line of its own ([0] and [1] used), so no write shares it.
 * Results, read by the loader.  All in .bss. */
__u32 dom_tgid[VTB_KP_LINE / 4] __attribute__((aligned(VTB_KP_LINE))) = {};
struct vtb_kdom kd[2] = {};
struct vtb_kusdt req_lat __attribute__((aligned(VTB_KP_LINE))) = {};
__u64 kvm_exit[VTB_KP_KVM_REASONS + 1] __attribute__((aligned(VTB_KP_LINE))) = {};

/* A domain runs one thread, so one slot per domain holds its call in
 * progress and its switch-out time: no hash map update on every system
 * call (the probes' cost is paid on the domains' hot path).  The tid makes
 * a second thread, should a domain grow one, miss rather than mismatch. */
struct vtb_khot hot[2] = {};

struct req_key {
	__u32 tgid;
	__u32 pad;
	__u64 key;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct req_key);
	__type(value, __u64);		/* submitted at */
} reqs SEC(".maps");

/* 0 or 1 for a domain's process, -1 for anyone else. */
static __always_inline int dom_of(__u32 tgid)
{
	if (tgid == dom_tgid[0])
		return 0;
	if (tgid == dom_tgid[1])
		return 1;
	return -1;
}

static __always_inline int cur_dom(void)
{
	return dom_of(bpf_get_current_pid_tgid() >> 32);
}

/* Counting domain: a domain whose measured phase is on. */
static __always_inline int counting(void)
{
	int d = cur_dom();
	if (d < 0 || !hot[d & 1].on)
		return -1;
	return d & 1;
}

/* floor(log2(v)) for v > 0. */
static __always_inline __u32 msb64(__u64 v)
{
	__u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

/* Slot s > 0 holds [2^(s-1), 2^s). */
static __always_inline __u32 log2_slot(__u64 v)
{
	if (!v)
		return 0;
	__u32 r = msb64(v) + 1;
	return r < VTB_KP_LAT_SLOTS ? r : VTB_KP_LAT_SLOTS - 1;
}

/* hist.c's vtb_hist_index, for the verifier. */
static __always_inline __u32 hist_index(__u64 v)
{
	if (v < VTB_KP_HIST_SUB)
		return (__u32)v;
	__u32 e = msb64(v);
	if (e > VTB_KP_HIST_MAX_LOG2)
		return VTB_KP_HIST_BUCKETS - 1;
	__u32 shift = e - VTB_KP_HIST_SUB_BITS;
	__u32 sub = (__u32)(v >> shift) - VTB_KP_HIST_SUB;
	return VTB_KP_HIST_SUB + shift * VTB_KP_HIST_SUB + sub;
}

/* A domain enters a system call: count it, and time it if it is a
 * primitive. */
static __always_inline void sys_in_enter(long nr)
{
	__u64 id = bpf_get_current_pid_tgid();
	int d = dom_of(id >> 32);
	if (d < 0 || !hot[d & 1].on)
		return;
	d &= 1;
	if (nr < 0 || nr >= VTB_KP_NSYS) {
		__sync_fetch_and_add(&kd[d].sys_other, 1);
		return;
	}
	__u32 i = (__u32)nr & (VTB_KP_NSYS - 1);
	__sync_fetch_and_add(&kd[d].sys[i], 1);
	__u32 prim = prim_of[i];
	if (prim) {
		hot[d].sys_in.ts = bpf_ktime_get_ns();
		hot[d].sys_in.tid = (__u32)id;
		hot[d].sys_in.prim = prim;
	}
}

/* A system call returns: close the primitive in progress, if any. */
static __always_inline void sys_in_exit(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	int d = dom_of(id >> 32);
	if (d < 0)
		return;	/* every other process on the machine */
	d &= 1;
	__u32 p = hot[d].sys_in.prim;
	if (!p || hot[d].sys_in.tid != (__u32)id)
		return;
	__u64 dt = bpf_ktime_get_ns() - hot[d].sys_in.ts;
	hot[d].sys_in.prim = 0;
	p = (p - 1) & 15;
	if (p >= VTB_KP_NPRIM)
		return;
	__sync_fetch_and_add(&kd[d].prim_lat[p][log2_slot(dt)], 1);
	__sync_fetch_and_add(&kd[d].prim_ns[p], dt);
}

/* Entry side, preferred: fentry on the syscall dispatcher (x86's
 * x64_sys_call(regs, nr)), a direct call from the syscall path.  The raw
 * syscall tracepoints below instead set the tracing work flag on every task
 * of the machine, which sends every system call of every process down the
 * slow entry and exit path.  (A number the kernel has no call for never
 * reaches the dispatcher, so sys_other stays 0 here.)  The loader sets the
 * target; without one it attaches the tracepoint. */
SEC("fentry")
int BPF_PROG(sys_call, const struct pt_regs *regs, unsigned int nr)
{
	sys_in_enter(nr);
	return 0;
}

/* Exit side, preferred: fexit on each primitive's syscall function
 * (__x64_sys_read, __arm64_sys_read, ...): the other system calls pay
 * nothing.  The loader names the targets. */
#define PRIM_EXIT(name)								\
	SEC("fexit")								\
	int BPF_PROG(name, const struct pt_regs *regs, long ret)		\
	{									\
		sys_in_exit();							\
		return 0;							\
	}
PRIM_EXIT(exit_pvm_readv)
PRIM_EXIT(exit_pvm_writev)
PRIM_EXIT(exit_mmap)
PRIM_EXIT(exit_munmap)
PRIM_EXIT(exit_mprotect)
PRIM_EXIT(exit_read)
PRIM_EXIT(exit_write)
PRIM_EXIT(exit_futex)
PRIM_EXIT(exit_io_uring)

/* Fallbacks, for a kernel without the functions above (or without fentry):
 * raw (BTF) tracepoints on every system call. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
	sys_in_enter(nr);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	sys_in_exit();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	int d = dom_of(prev->tgid);
	if (d >= 0 && hot[d & 1].on) {
		d &= 1;
		__sync_fetch_and_add(&kd[d].ctx_switches, 1);
		if (preempt)
			__sync_fetch_and_add(&kd[d].ctx_involuntary, 1);
		hot[d].offcpu.ts = now;
		hot[d].offcpu.tid = prev->pid;
	}
	d = dom_of(next->tgid);
	if (d >= 0) {
		d &= 1;
		if (hot[d].offcpu.ts && hot[d].offcpu.tid == (__u32)next->pid) {
			if (hot[d].on)
				__sync_fetch_and_add(&kd[d].offcpu_ns, now - hot[d].offcpu.ts);
			hot[d].offcpu.ts = 0;
		}
	}
	return 0;
}

SEC("tp/exceptions/page_fault_user")
int page_fault_user(void *ctx)
{
	int d = counting();
	if (d >= 0)
		__sync_fetch_and_add(&kd[d].page_faults, 1);
	return 0;
}

SEC("tp/tlb/tlb_flush")
int tlb_flush(struct trace_event_raw_tlb_flush *ctx)
{
	/* Fires on the CPU doing the flush, in whatever task runs there: a
	 * remote shootdown lands on the task the IPI interrupted. */
	int d = counting();
	if (d < 0)
		return 0;
	__u32 r = (__u32)ctx->reason;
	__sync_fetch_and_add(&kd[d].tlb_flush[r & (VTB_KP_TLB_REASONS - 1)], 1);
	if (ctx->pages != (unsigned long)-1)
		__sync_fetch_and_add(&kd[d].tlb_pages, ctx->pages);
	return 0;
}

SEC("tp/ipi/ipi_send_cpu")
int ipi_send_cpu(void *ctx)
{
	int d = counting();
	if (d >= 0)
		__sync_fetch_and_add(&kd[d].ipis, 1);
	return 0;
}

SEC("tp/ipi/ipi_send_cpumask")
int ipi_send_cpumask(void *ctx)
{
	int d = counting();
	if (d >= 0)
		__sync_fetch_and_add(&kd[d].ipis, 1);
	return 0;
}

/* kvm:kvm_exit's format (not in vmlinux.h where KVM is a module). */
struct kvm_exit_args {
	__u64 common;
	__u32 exit_reason;
};

SEC("tp/kvm/kvm_exit")
int kvm_exit_tp(struct kvm_exit_args *ctx)
{
	/* vCPU threads are the QEMU platform's domains; counted whole. */
	__u32 r = ctx->exit_reason & 0xffff;
	__sync_fetch_and_add(&kvm_exit[r < VTB_KP_KVM_REASONS ? r : VTB_KP_KVM_REASONS], 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(phase, int dom, int start)
{
	int d = cur_dom();
	if (d < 0 || d != dom)
		return 0;
	d &= 1;
	hot[d].on = start ? 1 : 0;
	if (start)
		__sync_fetch_and_add(&kd[d].phase_on, 1);
	else
		__sync_fetch_and_add(&kd[d].phase_off, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(req_submit, __u64 key)
{
	struct req_key k = { bpf_get_current_pid_tgid() >> 32, 0, key };
	__u64 now = bpf_ktime_get_ns();
	if (dom_of(k.tgid) != 0)
		return 0;
	bpf_map_update_elem(&reqs, &k, &now, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(req_complete, __u64 key)
{
	/* The FE fires this only for ops its own histogram counts. */
	__u64 now = bpf_ktime_get_ns();
	struct req_key k = { bpf_get_current_pid_tgid() >> 32, 0, key };
	if (dom_of(k.tgid) != 0)
		return 0;
	__u64 *t0 = bpf_map_lookup_elem(&reqs, &k);
	if (!t0) {
		__sync_fetch_and_add(&req_lat.unmatched, 1);
		return 0;
	}
	__u64 dt = now - *t0;
	bpf_map_delete_elem(&reqs, &k);
	__u32 i = hist_index(dt);
	asm volatile("" : "+r"(i));	/* one register for the check and the access */
	if (i < VTB_KP_HIST_BUCKETS)
		__sync_fetch_and_add(&req_lat.hist[i], 1);
	__sync_fetch_and_add(&req_lat.count, 1);
	__sync_fetch_and_add(&req_lat.sum_ns, dt);
	return 0;
}
