/* Loader for probes.bpf.c: one skeleton per cell, filtered on that cell's
 * FE and BE processes, detached and freed when the cell ends. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "probes.h"

_Static_assert(VTB_KP_HIST_SUB_BITS == VTB_HIST_SUB_BITS && VTB_KP_HIST_BUCKETS == VTB_HIST_BUCKETS &&
		       VTB_KP_HIST_MAX_LOG2 == VTB_HIST_MAX_LOG2,
	       "the in-kernel latency histogram must bucket like hist.h");

const char *const vtb_kp_prim_names[VTB_KP_NPRIM] = {
	"process_vm_readv", "process_vm_writev", "mmap", "munmap", "mprotect",
	"read", "write", "futex", "io_uring_enter",
};

/* enum tlb_flush_reason */
const char *const vtb_kp_tlb_reasons[VTB_KP_TLB_REASONS] = {
	"task_switch", "remote_shootdown", "local_shootdown", "local_mm_shootdown",
	"remote_send_ipi", "remote_wrong_cpu", "reason6", "reason7",
};

static const struct {
	unsigned nr;
	const char *name;
} syscall_names[] = {
#include "syscall_names.h"
};

const char *vtb_syscall_name(unsigned nr)
{
	for (size_t i = 0; i < sizeof(syscall_names) / sizeof(syscall_names[0]); i++)
		if (syscall_names[i].nr == nr)
			return syscall_names[i].name;
	return NULL;
}

int vtb_probes_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[128];
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t l = readlink(path, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = 0;
		if (strstr(target, "anon_inode:bpf") || strstr(target, "anon_inode:[perf_event]"))
			n++;
	}
	closedir(d);
	return n;
}

#ifndef VTB_NO_BPF
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "probes.skel.h"

#define TRACEFS "/sys/kernel/tracing"

/* The kernel's names for the syscall dispatcher (fentry: every system call,
 * with its number) and the prefix of a system call's function. */
#if defined(__x86_64__)
#define SYS_CALL_FN_NAME "x64_sys_call"
#define SYS_FN_PREFIX_NAME "__x64_sys_"
#elif defined(__aarch64__)
#define SYS_CALL_FN_NAME ""	/* arm64 calls through its table: sys_enter counts */
#define SYS_FN_PREFIX_NAME "__arm64_sys_"
#elif defined(__riscv)
#define SYS_CALL_FN_NAME ""
#define SYS_FN_PREFIX_NAME "__riscv_sys_"
#else
#define SYS_CALL_FN_NAME ""
#define SYS_FN_PREFIX_NAME ""
#endif
#define SYS_CALL_FN (SYS_CALL_FN_NAME[0] ? SYS_CALL_FN_NAME : NULL)
#define SYS_FN_PREFIX (SYS_FN_PREFIX_NAME[0] ? SYS_FN_PREFIX_NAME : NULL)

struct vtb_probes {
	struct probes *skel;
	struct bpf_link *links[32];
	unsigned nlinks;
	bool fentry_enter, fexit_prims;	/* loaded: the fast hooks (else tp_btf) */
	struct vtb_kresult meta;
};

/* libbpf's messages go here, not to the terminal; the last one explains a failure. */
static char last_msg[256];
static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_DEBUG) {
		vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
		last_msg[strcspn(last_msg, "\n")] = 0;
	}
	return 0;
}

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

static bool have_event(const char *cat, const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), TRACEFS "/events/%s/%s", cat, name);
	return exists(p);
}

static int setup_env(char *why, size_t n)
{
	static bool done;
	if (done)
		return 0;
	libbpf_set_print(quiet_print);
	/* Tracepoint ids come from tracefs: mount it where it is missing. */
	if (!exists(TRACEFS "/events") && mount("nodev", TRACEFS, "tracefs", 0, NULL) && !exists(TRACEFS "/events")) {
		snprintf(why, n, "tracefs is not mounted at " TRACEFS " and cannot be (%s)", strerror(errno));
		return -1;
	}
	if (!exists("/sys/kernel/btf/vmlinux")) {
		snprintf(why, n, "the kernel has no BTF (/sys/kernel/btf/vmlinux)");
		return -1;
	}
	done = true;
	return 0;
}

/* The primitives' fexit programs, in enum vtb_kp_prim order. */
static void prim_exits(struct probes *s, struct bpf_program *out[VTB_KP_NPRIM])
{
	struct bpf_program *v[VTB_KP_NPRIM] = {
		s->progs.exit_pvm_readv, s->progs.exit_pvm_writev, s->progs.exit_mmap,
		s->progs.exit_munmap, s->progs.exit_mprotect, s->progs.exit_read,
		s->progs.exit_write, s->progs.exit_futex, s->progs.exit_io_uring,
	};
	memcpy(out, v, sizeof(v));
}

static bool have_func(const struct btf *vmlinux, const char *name)
{
	return vmlinux && name && btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) >= 0;
}

/* Opens and loads the skeleton; fast: try the fentry/fexit hooks where
 * the kernel's BTF has their functions. */
static int load_once(struct vtb_probes *p, bool fast, char *why, size_t n)
{
	static const int nrs[VTB_KP_NPRIM] = {
		SYS_process_vm_readv, SYS_process_vm_writev, SYS_mmap, SYS_munmap, SYS_mprotect,
		SYS_read, SYS_write, SYS_futex, SYS_io_uring_enter,
	};
	struct bpf_program *px[VTB_KP_NPRIM];
	struct probes *s = probes__open();
	int e;
	if (!s) {
		snprintf(why, n, "cannot open the BPF object: %s", last_msg[0] ? last_msg : strerror(errno));
		return -1;
	}
	p->skel = s;
	for (int i = 0; i < VTB_KP_NPRIM; i++)
		if (nrs[i] >= 0 && nrs[i] < VTB_KP_NSYS)
			s->rodata->prim_of[nrs[i]] = (__u8)(i + 1);
	/* Syscall hooks: fentry on the dispatcher and fexit on the primitives
	 * where the kernel has them, each side independently; the raw
	 * tracepoints are always loaded, to fall back on at attach. */
	struct btf *vmlinux = fast ? btf__load_vmlinux_btf() : NULL;
	p->fentry_enter = have_func(vmlinux, SYS_CALL_FN);
	p->fexit_prims = vmlinux && SYS_FN_PREFIX;
	prim_exits(s, px);
	for (int i = 0; i < VTB_KP_NPRIM && p->fexit_prims; i++) {
		char fn[64];
		snprintf(fn, sizeof(fn), "%s%s", SYS_FN_PREFIX ? SYS_FN_PREFIX : "", vtb_kp_prim_names[i]);
		p->fexit_prims = have_func(vmlinux, fn) && !bpf_program__set_attach_target(px[i], 0, fn);
	}
	btf__free(vmlinux);
	if (p->fentry_enter && bpf_program__set_attach_target(s->progs.sys_call, 0, SYS_CALL_FN))
		p->fentry_enter = false;
	bpf_program__set_autoload(s->progs.sys_call, p->fentry_enter);
	for (int i = 0; i < VTB_KP_NPRIM; i++)
		bpf_program__set_autoload(px[i], p->fexit_prims);
	/* Optional sources: loaded only where the kernel has them. */
	p->meta.have_page_faults = have_event("exceptions", "page_fault_user");
	p->meta.have_ipis = have_event("ipi", "ipi_send_cpu") && have_event("ipi", "ipi_send_cpumask");
	p->meta.kvm = have_event("kvm", "kvm_exit") && exists("/dev/kvm");
	bpf_program__set_autoload(s->progs.page_fault_user, p->meta.have_page_faults);
	bpf_program__set_autoload(s->progs.ipi_send_cpu, p->meta.have_ipis);
	bpf_program__set_autoload(s->progs.ipi_send_cpumask, p->meta.have_ipis);
	/* kvm_exit is always verified, attached only where there is KVM. */
	bpf_program__set_autoload(s->progs.tlb_flush, have_event("tlb", "tlb_flush"));
	if ((e = probes__load(s))) {
		snprintf(why, n, "cannot load BPF programs: %s%s%s", strerror(-e), last_msg[0] ? ": " : "", last_msg);
		return -1;
	}
	/* .bss starts zeroed, and tgid 0 is the idle task: disarm first. */
	s->bss->dom_tgid[0] = s->bss->dom_tgid[1] = VTB_KP_NO_TGID;
	return 0;
}

static int load(struct vtb_probes *p, char *why, size_t n)
{
	if (!load_once(p, true, why, n))
		return 0;
	if (!p->fentry_enter && !p->fexit_prims)
		return -1;
	/* A kernel that lists the functions but will not load tracing
	 * programs on them: the tracepoints alone. */
	probes__destroy(p->skel);
	p->skel = NULL;
	return load_once(p, false, why, n);
}

static int add_link(struct vtb_probes *p, struct bpf_link *l, const char *what, char *why, size_t n)
{
	if (!l) {
		snprintf(why, n, "cannot attach %s: %s", what, strerror(errno));
		return -1;
	}
	if (p->nlinks == sizeof(p->links) / sizeof(p->links[0])) {
		bpf_link__destroy(l);
		snprintf(why, n, "too many probe links");
		return -1;
	}
	p->links[p->nlinks++] = l;
	return 0;
}

/* The syscall hooks: the fast ones where they attach, else the raw
 * tracepoint of that side. */
static int attach_syscalls(struct vtb_probes *p, char *why, size_t n)
{
	struct probes *s = p->skel;
	struct bpf_program *px[VTB_KP_NPRIM];
	struct bpf_link *l = NULL;
	if (p->fentry_enter && !(l = bpf_program__attach(s->progs.sys_call)))
		p->fentry_enter = false;
	if (p->fentry_enter ? add_link(p, l, "fentry sys_call", why, n)
			    : add_link(p, bpf_program__attach(s->progs.sys_enter), "sys_enter", why, n))
		return -1;
	prim_exits(s, px);
	unsigned first = p->nlinks;
	for (int i = 0; i < VTB_KP_NPRIM && p->fexit_prims; i++) {
		if (!(l = bpf_program__attach(px[i])))
			p->fexit_prims = false;
		else if (add_link(p, l, bpf_program__name(px[i]), why, n))
			return -1;
	}
	/* All primitives or none: undo a partial set. */
	while (!p->fexit_prims && p->nlinks > first)
		bpf_link__destroy(p->links[--p->nlinks]);
	if (!p->fexit_prims && add_link(p, bpf_program__attach(s->progs.sys_exit), "sys_exit", why, n))
		return -1;
	return 0;
}

int vtb_probes_open(struct vtb_probes **pp, char *why, size_t n)
{
	char exe[4096];
	ssize_t l;
	struct vtb_probes *p = calloc(1, sizeof(*p));
	*pp = NULL;
	if (!p) {
		snprintf(why, n, "out of memory");
		return -1;
	}
	if (setup_env(why, n) || load(p, why, n))
		goto close;
	/* The domains are forks of this process: the same executable. */
	if ((l = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0) {
		snprintf(why, n, "cannot find the executable: %s", strerror(errno));
		goto close;
	}
	exe[l] = 0;
	struct probes *s = p->skel;
	if (attach_syscalls(p, why, n))
		goto close;
	struct bpf_program *tps[] = {
		s->progs.sched_switch, s->progs.page_fault_user, s->progs.tlb_flush,
		s->progs.ipi_send_cpu, s->progs.ipi_send_cpumask, s->progs.kvm_exit_tp,
	};
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++)
		if (bpf_program__autoload(tps[i]) && (tps[i] != s->progs.kvm_exit_tp || p->meta.kvm) &&
		    add_link(p, bpf_program__attach(tps[i]), bpf_program__name(tps[i]), why, n))
			goto close;
	/* USDT: uprobes in every process running this executable (each cell's
	 * domains are new processes); the programs keep only the armed ones. */
	if (add_link(p, bpf_program__attach_usdt(s->progs.phase, -1, exe, "vtbench", "phase", NULL), "usdt phase", why, n) ||
	    add_link(p, bpf_program__attach_usdt(s->progs.req_submit, -1, exe, "vtbench", "submit", NULL), "usdt submit", why, n) ||
	    add_link(p, bpf_program__attach_usdt(s->progs.req_complete, -1, exe, "vtbench", "complete", NULL), "usdt complete", why, n))
		goto close;
	*pp = p;
	return 0;
close:
	vtb_probes_close(p);
	return -1;
}

const char *vtb_probes_syscall_hooks(const struct vtb_probes *p)
{
	if (p->fentry_enter)
		return p->fexit_prims ? "fentry " SYS_CALL_FN_NAME ", fexit " SYS_FN_PREFIX_NAME "<primitive>"
				      : "fentry " SYS_CALL_FN_NAME ", tp_btf sys_exit";
	return p->fexit_prims ? "tp_btf sys_enter, fexit " SYS_FN_PREFIX_NAME "<primitive>" : "tp_btf sys_enter, tp_btf sys_exit";
}

void vtb_probes_arm(struct vtb_probes *p, pid_t fe, pid_t be)
{
	struct timespec t0, t1;
	struct probes__bss *b = p->skel->bss;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(b->kd, 0, sizeof(b->kd));
	memset(&b->req_lat, 0, sizeof(b->req_lat));
	memset(b->kvm_exit, 0, sizeof(b->kvm_exit));
	memset(b->hot, 0, sizeof(b->hot));
	__atomic_store_n(&b->dom_tgid[0], (__u32)fe, __ATOMIC_RELEASE);
	__atomic_store_n(&b->dom_tgid[1], (__u32)be, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	p->meta.arm_us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
}

void vtb_probes_collect(struct vtb_probes *p, struct vtb_kresult *out)
{
	struct probes__bss *b = p->skel->bss;
	__atomic_store_n(&b->dom_tgid[0], VTB_KP_NO_TGID, __ATOMIC_RELEASE);
	__atomic_store_n(&b->dom_tgid[1], VTB_KP_NO_TGID, __ATOMIC_RELEASE);
	*out = p->meta;
	out->on = true;
	memcpy(out->d, b->kd, sizeof(out->d));
	out->usdt = b->req_lat;
	memcpy(out->kvm_exit, b->kvm_exit, sizeof(out->kvm_exit));
}

void vtb_probes_close(struct vtb_probes *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nlinks; i++)
		bpf_link__destroy(p->links[i]);
	if (p->skel)
		probes__destroy(p->skel);
	free(p);
}

#else /* VTB_NO_BPF: built where clang, bpftool or kernel BTF were missing */

struct vtb_probes {
	int unused;
};

const char *vtb_probes_syscall_hooks(const struct vtb_probes *p)
{
	(void)p;
	return NULL;
}

int vtb_probes_open(struct vtb_probes **pp, char *why, size_t n)
{
	*pp = NULL;
	snprintf(why, n, "built without eBPF (no kernel BTF, clang or bpftool at build time)");
	return -1;
}

void vtb_probes_arm(struct vtb_probes *p, pid_t fe, pid_t be)
{
	(void)p;
	(void)fe;
	(void)be;
}

void vtb_probes_collect(struct vtb_probes *p, struct vtb_kresult *out)
{
	(void)p;
	memset(out, 0, sizeof(*out));
}

void vtb_probes_close(struct vtb_probes *p)
{
	(void)p;
}
#endif
