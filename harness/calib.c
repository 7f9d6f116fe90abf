#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "calib.h"
#include "../transports/platform.h"
#include "../workloads/workload.h"

#define PP_MAX_BATCHES 15

struct pp {
	_Alignas(64) uint32_t ball;
	int cpu;
	uint32_t last;		/* the last value pong waits for */
};

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *pong(void *arg)
{
	struct pp *p = arg;
	pin(p->cpu);
	for (uint32_t want = 1; want < p->last; want += 2) {
		while (__atomic_load_n(&p->ball, __ATOMIC_ACQUIRE) != want)
			vtb_cpu_relax();
		__atomic_store_n(&p->ball, want + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double vtb_pingpong_ns(int cpu_a, int cpu_b, int rounds, int batches, double *spread_pct)
{
	static struct pp p;
	pthread_t t;
	double rt[PP_MAX_BATCHES];
	if (cpu_a < 0 || cpu_b < 0 || cpu_a == cpu_b || batches < 3 || batches > PP_MAX_BATCHES || rounds < 1)
		return -1;
	p.ball = 0;
	p.cpu = cpu_b;
	p.last = 2u * (uint32_t)rounds * (uint32_t)batches;
	if (pthread_create(&t, NULL, pong, &p))
		return -1;
	cpu_set_t old;
	sched_getaffinity(0, sizeof(old), &old);
	pin(cpu_a);
	uint32_t v = 0;
	for (int b = 0; b < batches; b++) {
		uint64_t t0 = vtb_now_ns();
		for (int i = 0; i < rounds; i++) {
			__atomic_store_n(&p.ball, ++v, __ATOMIC_RELEASE);
			while (__atomic_load_n(&p.ball, __ATOMIC_ACQUIRE) != v + 1)
				vtb_cpu_relax();
			v++;
		}
		rt[b] = (double)(vtb_now_ns() - t0) / rounds;
	}
	pthread_join(t, NULL);
	pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
	qsort(rt, (size_t)batches, sizeof(rt[0]), cmp);
	if (spread_pct)	/* without the extreme batch at each end */
		*spread_pct = 100.0 * (rt[batches - 2] - rt[1]) / rt[batches / 2];
	return rt[batches / 2];
}

const char *vtb_placement_tag(double rt_ns)
{
	/* Midway between the two placements seen on this machine type. */
	return rt_ns < 0 ? "unknown" : rt_ns < 280 ? "near" : "far";
}

/* ------------------------------------------------------------ calibration */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAL_BATCHES 7

const unsigned vtb_cal_sizes[VTB_CAL_NSIZES] = { 4096, 65536, 1 << 20 };

/* Median and spread of one figure over CAL_BATCHES batches. */
static struct vtb_fig fig_of(double *b)
{
	qsort(b, CAL_BATCHES, sizeof(b[0]), cmp);
	double m = b[CAL_BATCHES / 2];
	return (struct vtb_fig){ m, m > 0 ? 100.0 * (b[CAL_BATCHES - 2] - b[1]) / m : 0 };
}

void vtb_pin_self(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

pid_t vtb_fork_bound(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent))
		_exit(1);	/* the parent died before the death signal was armed */
	return pid;
}

static struct vtb_fig cal_memcpy(unsigned size)
{
	double b[CAL_BATCHES];
	char *src = malloc(size), *dst = malloc(size);
	if (!src || !dst) {
		free(src);
		free(dst);
		return (struct vtb_fig){ 0, 0 };
	}
	memset(src, 1, size);
	memset(dst, 2, size);
	unsigned iters = (32u << 20) / size;
	for (int k = 0; k < CAL_BATCHES; k++) {
		uint64_t t0 = vtb_now_ns();
		for (unsigned i = 0; i < iters; i++) {
			memcpy(dst, src, size);
			__asm__ volatile("" : : "r"(dst) : "memory");	/* keep every copy */
		}
		b[k] = (double)size * iters / (double)(vtb_now_ns() - t0);
	}
	free(src);
	free(dst);
	return fig_of(b);
}

/* ------------------------------------------------ copies across the CPUs */
/* In a cell every bounce copy has one side the other domain's CPU last
 * touched: the data it wrote into shared memory, or the slot it read the
 * time before.  Those lines cross between the caches, which the warm
 * figures above never pay.  Here the thread on cpu_b writes a buffer, the
 * caller on cpu_a copies it out (timed: xcopy), and cpu_b writes it again
 * (timed, less a second write of lines it already owns: reclaim). */
const unsigned vtb_xc_sizes[VTB_XC_NSIZES] = { 64, 4096, 65536 };

#define XC_ROUNDS 500

struct xc {
	_Alignas(64) uint32_t turn;
	int cpu;
	char *src;
	unsigned size, rounds;
	double reclaim[CAL_BATCHES];
	double round[XC_ROUNDS];	/* the writer's, this batch */
};

/* A batch's figure is the median of its rounds: a preemption inside one
 * timed copy (the machine is shared) must not move it. */
static double median_of(double *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), cmp);
	return v[n / 2];
}

static void *xc_writer(void *arg)
{
	struct xc *x = arg;
	pin(x->cpu);
	for (int k = 0; k < CAL_BATCHES; k++) {
		for (unsigned i = 0; i < x->rounds; i++) {
			uint32_t want = 2 * ((uint32_t)k * x->rounds + i);
			while (__atomic_load_n(&x->turn, __ATOMIC_ACQUIRE) != want)
				vtb_cpu_relax();
			uint64_t t0 = vtb_now_ns();
			memset(x->src, (int)i, x->size);	/* lines the other CPU read */
			__asm__ volatile("" : : "r"(x->src) : "memory");
			uint64_t t1 = vtb_now_ns();
			memset(x->src, (int)i + 1, x->size);	/* lines this CPU owns */
			__asm__ volatile("" : : "r"(x->src) : "memory");
			uint64_t t2 = vtb_now_ns();
			x->round[i] = (t1 - t0) > (t2 - t1) ? (double)((t1 - t0) - (t2 - t1)) : 0;
			__atomic_store_n(&x->turn, want + 1, __ATOMIC_RELEASE);
		}
		x->reclaim[k] = median_of(x->round, x->rounds);
	}
	return NULL;
}

static int xcopy_one(unsigned size, int cpu_b, struct vtb_fig *copy, struct vtb_fig *reclaim)
{
	static struct xc x;
	static double round[XC_ROUNDS];
	char *src = aligned_alloc(64, size), *dst = aligned_alloc(64, size);
	double b[CAL_BATCHES];
	pthread_t t;
	int rc = -1;
	if (!src || !dst)
		goto free;
	memset(src, 0, size);
	memset(dst, 0, size);
	x = (struct xc){ .cpu = cpu_b, .src = src, .size = size, .rounds = size >= 65536 ? XC_ROUNDS / 5 : XC_ROUNDS };
	if (pthread_create(&t, NULL, xc_writer, &x))
		goto free;
	for (int k = 0; k < CAL_BATCHES; k++) {
		for (unsigned i = 0; i < x.rounds; i++) {
			uint32_t want = 2 * ((uint32_t)k * x.rounds + i) + 1;
			while (__atomic_load_n(&x.turn, __ATOMIC_ACQUIRE) != want)
				vtb_cpu_relax();
			uint64_t t0 = vtb_now_ns();
			memcpy(dst, src, size);
			__asm__ volatile("" : : "r"(dst) : "memory");
			uint64_t t1 = vtb_now_ns();
			uint64_t t2 = vtb_now_ns();	/* the clock's own cost, which matters at 64 B */
			round[i] = (t1 - t0) > (t2 - t1) ? (double)((t1 - t0) - (t2 - t1)) : 0;
			__atomic_store_n(&x.turn, want + 1, __ATOMIC_RELEASE);
		}
		b[k] = median_of(round, x.rounds);
	}
	pthread_join(t, NULL);
	*copy = fig_of(b);
	*reclaim = fig_of(x.reclaim);
	rc = 0;
free:
	free(src);
	free(dst);
	return rc;
}

static int cal_xcopy(struct vtb_calib *c, int cpu_b)
{
	if (cpu_b < 0)
		return 0;	/* unpinned: no other CPU to name; the model prices warm */
	for (int s = 0; s < VTB_XC_NSIZES; s++)
		if (xcopy_one(vtb_xc_sizes[s], cpu_b, &c->xcopy_ns[s], &c->reclaim_ns[s]))
			return -1;
	return 0;
}

/* The platform whose primitives are priced: the default one, whose seam
 * the transports call in every cell of a run. */
static const struct vtb_platform_ops *cal_platform(void)
{
	return vtb_platforms[0];
}

/* A peer domain whose process only exists, its RAM mapped where its
 * platform puts it: the target of hypervisor copies. */
static pid_t spawn_idle(const struct vtb_dom *d, int cpu)
{
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid = vtb_fork_bound();
	if (pid == 0) {
		struct vtb_plat_counters ctr;
		struct vtb_plat self = { cal_platform(), &ctr, NULL };
		vtb_pin_self(cpu);
		char *ram = self.ops->map_own(&self, d);
		if (!ram)
			_exit(1);
		memset(ram, 0, d->ram_size);	/* populated: no fault per copy */
		char c = 1;
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c;
	close(p[1]);
	if (pid > 0 && read(p[0], &c, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Through the seam the transports use, so the figure is theirs. */
static int cal_hv(struct vtb_calib *c, int cpu_b)
{
	size_t len = 1 << 20;
	struct vtb_dom peer = { 0 };
	struct vtb_plat_counters ctr;
	struct vtb_plat p = { cal_platform(), &ctr, NULL };
	char *local = malloc(len);
	double b[CAL_BATCHES], bw[CAL_BATCHES], sg[CAL_BATCHES];
	pid_t pid;
	int rc = -1;
	if (!local || p.ops->dom_create(&peer, 1, len))
		goto free;
	memset(local, 3, len);
	if ((pid = spawn_idle(&peer, cpu_b)) < 0)
		goto free;
	if (p.ops->attach(&p, &peer, (uint64_t)pid))
		goto reap;
	for (int k = 0; k < CAL_BATCHES; k++) {
		struct vtb_copy_op op = { 0, local, 64 };
		uint64_t t0 = vtb_now_ns();
		for (int i = 0; i < 2000; i++)
			if (p.ops->copy(&p, &peer, &op, 1, true))
				goto reap;
		b[k] = (double)(vtb_now_ns() - t0) / 2000;
		/* One call of 8 pieces on 8 pages, as a gathered sendv or a
		 * batch of GNTTABOP_copy ops: what each piece adds. */
		struct vtb_copy_op ops[8];
		for (unsigned i = 0; i < 8; i++)
			ops[i] = (struct vtb_copy_op){ (uint64_t)i * 8192, local + i * 64, 64 };
		t0 = vtb_now_ns();
		for (int i = 0; i < 1000; i++)
			if (p.ops->copy(&p, &peer, ops, 8, true))
				goto reap;
		sg[k] = ((double)(vtb_now_ns() - t0) / 1000 - b[k]) / 7;
		if (sg[k] < 0)
			sg[k] = 0;
		op.len = (uint32_t)len;
		t0 = vtb_now_ns();
		for (int i = 0; i < 16; i++)
			if (p.ops->copy(&p, &peer, &op, 1, true))
				goto reap;
		bw[k] = 16.0 * (double)len / (double)(vtb_now_ns() - t0);
	}
	c->hv_call_ns = fig_of(b);
	c->hv_seg_ns = fig_of(sg);
	c->hv_gbps = fig_of(bw);
	rc = 0;
reap:
	reap(pid);
free:
	p.ops->dom_destroy(&peer);
	free(local);
	return rc;
}

/* Hypervisor copies of 64 B and of 4 KiB into pages the peer reads between
 * the calls, as an Argo ring slot or a granted buffer is: the copy must
 * take its lines back from the peer's cache, which a copy into an idle peer
 * never does.  Both the same way (median of the calls), so that their
 * difference is what the bytes cost. */
static int cal_hv_x(struct vtb_calib *c, int cpu_b)
{
	size_t len = 1 << 20;
	struct vtb_dom peer = { 0 };
	struct vtb_plat_counters ctr;
	struct vtb_plat p = { cal_platform(), &ctr, NULL };
	char local[4096];
	double b[2][CAL_BATCHES];
	const unsigned rounds = 300;
	int rc = -1;
	if (cpu_b < 0)
		return 0;
	if (p.ops->dom_create(&peer, 1, len))
		return -1;
	uint32_t *turn = p.ops->shared_create(4096);
	if (!turn)
		goto destroy;
	*turn = UINT32_MAX;	/* until the peer has mapped its RAM */
	memset(local, 5, sizeof(local));
	pid_t pid = vtb_fork_bound();
	if (pid == 0) {
		vtb_pin_self(cpu_b);
		volatile char *own = p.ops->map_own(&p, &peer);	/* where the copies land */
		if (!own)
			_exit(1);
		__atomic_store_n(turn, 0, __ATOMIC_RELEASE);
		for (uint32_t want = 1;; want += 2) {
			while (__atomic_load_n(turn, __ATOMIC_ACQUIRE) != want)
				vtb_cpu_relax();
			uint64_t sum = 0;
			for (size_t i = 0; i < 4096; i += 64)
				sum += own[i];
			__asm__ volatile("" : : "r"(sum));
			__atomic_store_n(turn, want + 1, __ATOMIC_RELEASE);
		}
	}
	if (pid < 0)
		goto unmap;
	if (p.ops->attach(&p, &peer, (uint64_t)pid))
		goto reap;
	static double round[XC_ROUNDS];
	for (int k = 0; k < 2 * CAL_BATCHES; k++) {
		for (unsigned i = 0; i < rounds; i++) {
			uint32_t want = 2 * ((uint32_t)k * rounds + i);
			/* A peer that died (it could not map its RAM) never answers. */
			for (unsigned spins = 1; __atomic_load_n(turn, __ATOMIC_ACQUIRE) != want; spins++)
				if (!(spins & 0xfffff) && waitpid(pid, NULL, WNOHANG) == pid)
					goto unmap;
				else
					vtb_cpu_relax();
			struct vtb_copy_op op = { 0, local, k % 2 ? sizeof(local) : 64 };
			uint64_t t0 = vtb_now_ns();
			if (p.ops->copy(&p, &peer, &op, 1, true))
				goto reap;
			round[i] = (double)(vtb_now_ns() - t0);
			__atomic_store_n(turn, want + 1, __ATOMIC_RELEASE);
		}
		b[k % 2][k / 2] = median_of(round, rounds);
	}
	c->hv_x64_ns = fig_of(b[0]);
	c->hv_x4k_ns = fig_of(b[1]);
	rc = 0;
reap:
	reap(pid);
unmap:
	p.ops->shared_destroy(turn, 4096);
destroy:
	p.ops->dom_destroy(&peer);
	return rc;
}

/* Doorbell round trip: A rings B and blocks until B rings back, B on the
 * other CPU doing the mirror image, as a kick and its interrupt do. */
static int cal_eventfd(struct vtb_calib *c, int cpu_b)
{
	int e1 = eventfd(0, EFD_CLOEXEC), e2 = eventfd(0, EFD_CLOEXEC), rc = -1;
	double b[CAL_BATCHES];
	uint64_t one = 1, v;
	const int rounds = 500;
	if (e1 < 0 || e2 < 0)
		goto close;
	pid_t pid = vtb_fork_bound();
	if (pid == 0) {
		vtb_pin_self(cpu_b);
		for (;;)
			if (read(e1, &v, 8) != 8 || write(e2, &one, 8) != 8)
				_exit(1);
	}
	if (pid < 0)
		goto close;
	for (int k = 0; k < CAL_BATCHES; k++) {
		uint64_t t0 = vtb_now_ns();
		for (int i = 0; i < rounds; i++)
			if (write(e1, &one, 8) != 8 || read(e2, &v, 8) != 8)
				goto reap;
		b[k] = (double)(vtb_now_ns() - t0) / rounds;
	}
	c->eventfd_rtt_ns = fig_of(b);
	rc = 0;
reap:
	reap(pid);
close:
	if (e1 >= 0)
		close(e1);
	if (e2 >= 0)
		close(e2);
	return rc;
}

static long futex(uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

static int cal_futex(struct vtb_calib *c, int cpu_b)
{
	/* ping counts A's rings, pong B's; each side sleeps on the other's word. */
	uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	double b[CAL_BATCHES];
	const int rounds = 500;
	int rc = -1;
	if (w == MAP_FAILED)
		return -1;
	uint32_t *ping = &w[0], *pong = &w[16];
	pid_t pid = vtb_fork_bound();
	if (pid == 0) {
		vtb_pin_self(cpu_b);
		for (uint32_t seen = 0;;) {
			uint32_t p;
			while ((p = __atomic_load_n(ping, __ATOMIC_ACQUIRE)) == seen)
				futex(ping, FUTEX_WAIT, seen);
			seen = p;
			__atomic_store_n(pong, p, __ATOMIC_RELEASE);
			futex(pong, FUTEX_WAKE, 1);
		}
	}
	if (pid < 0)
		goto unmap;
	uint32_t n = 0;
	for (int k = 0; k < CAL_BATCHES; k++) {
		uint64_t t0 = vtb_now_ns();
		for (int i = 0; i < rounds; i++) {
			__atomic_store_n(ping, ++n, __ATOMIC_RELEASE);
			futex(ping, FUTEX_WAKE, 1);
			uint32_t q;
			while ((q = __atomic_load_n(pong, __ATOMIC_ACQUIRE)) != n)
				futex(pong, FUTEX_WAIT, q);
		}
		b[k] = (double)(vtb_now_ns() - t0) / rounds;
	}
	c->futex_rtt_ns = fig_of(b);
	rc = 0;
	reap(pid);
unmap:
	munmap(w, 4096);
	return rc;
}

static struct vtb_fig cal_syscall(void)
{
	double b[CAL_BATCHES];
	for (int k = 0; k < CAL_BATCHES; k++) {
		uint64_t t0 = vtb_now_ns();
		for (int i = 0; i < 20000; i++)
			syscall(SYS_getppid);
		b[k] = (double)(vtb_now_ns() - t0) / 20000;
	}
	return fig_of(b);
}

/* A grant or IOMMU map: through the seam, as grant/map does it: another
 * domain's pages mapped (populated) at a reserved address, touched, and
 * unmapped leaving the range reserved. */
static int map_batch(const struct vtb_dom *d, char *at, unsigned pages, unsigned rounds, double *ns_per_page)
{
	struct vtb_plat_counters ctr;
	struct vtb_plat p = { cal_platform(), &ctr, NULL };
	uint64_t t0 = vtb_now_ns();
	for (unsigned i = 0; i < rounds; i++) {
		uint64_t gpa = (uint64_t)((i * pages) % 64) * 4096;
		volatile char *va = p.ops->map(&p, d, gpa, pages * 4096ul, true, at);
		if (!va)
			return -1;
		for (unsigned k = 0; k < pages; k++)
			va[k * 4096ul] = 1;
		if (p.ops->unmap(&p, (void *)va, pages * 4096ul, true))
			return -1;
	}
	*ns_per_page = (double)(vtb_now_ns() - t0) / rounds / pages;
	return 0;
}

struct spinner {
	int cpu;
	uint32_t stop, running;
};

static void *spin(void *arg)
{
	struct spinner *s = arg;
	pin(s->cpu);
	__atomic_store_n(&s->running, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
		vtb_cpu_relax();
	return NULL;
}

static int cal_map(struct vtb_calib *c, int cpu_b)
{
	struct vtb_dom d = { 0 };
	const struct vtb_platform_ops *pl = cal_platform();
	double one[CAL_BATCHES], batch[CAL_BATCHES], remote[CAL_BATCHES];
	int rc = -1;
	char *at = mmap(NULL, 16 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (at == MAP_FAILED || pl->dom_create(&d, 0, 80 * 4096))
		goto close;
	for (int k = 0; k < CAL_BATCHES; k++)
		if (map_batch(&d, at, 1, 300, &one[k]) || map_batch(&d, at, 16, 40, &batch[k]))
			goto close;
	c->map_ns = fig_of(one);
	c->map_batch_ns = fig_of(batch);
	if (cpu_b >= 0) {
		/* With a thread of this mm on the other CPU, every unmap must
		 * shoot down that CPU's TLB: an IPI and its answer. */
		struct spinner s = { .cpu = cpu_b };
		pthread_t t;
		if (pthread_create(&t, NULL, spin, &s))
			goto close;
		while (!__atomic_load_n(&s.running, __ATOMIC_ACQUIRE))
			sched_yield();
		int e = 0;
		for (int k = 0; k < CAL_BATCHES && !e; k++)
			e = map_batch(&d, at, 1, 300, &remote[k]);
		__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		if (e)
			goto close;
		struct vtb_fig r = fig_of(remote);
		double extra = r.v > c->map_ns.v ? r.v - c->map_ns.v : 0;
		c->shootdown_ns = (struct vtb_fig){ extra, extra > 0 ? r.spread_pct * r.v / extra : r.spread_pct };
	}
	rc = 0;
close:
	pl->dom_destroy(&d);
	if (at != MAP_FAILED)
		munmap(at, 16 * 4096);
	return rc;
}

int vtb_calibrate(struct vtb_calib *c, int cpu_a, int cpu_b)
{
	uint64_t t0 = vtb_now_ns();
	cpu_set_t old;
	memset(c, 0, sizeof(*c));
	sched_getaffinity(0, sizeof(old), &old);
	vtb_pin_self(cpu_a);
	for (int i = 0; i < VTB_CAL_NSIZES; i++)
		c->memcpy_gbps[i] = cal_memcpy(vtb_cal_sizes[i]);
	c->syscall_ns = cal_syscall();
	const char *failed = cal_hv(c, cpu_b) ? "hypervisor copy" : cal_eventfd(c, cpu_b) ? "eventfd doorbell"
		: cal_futex(c, cpu_b) ? "futex doorbell" : cal_map(c, cpu_b) ? "page map"
		: cal_xcopy(c, cpu_b) ? "cross-CPU copy" : cal_hv_x(c, cpu_b) ? "hypervisor copy into a reader" : NULL;
	double sp = 0;
	c->pingpong_ns.v = vtb_pingpong_ns(cpu_a, cpu_b, VTB_PP_RUN, &sp);
	c->pingpong_ns.spread_pct = sp;
	c->placement = vtb_placement_tag(c->pingpong_ns.v);
	sched_setaffinity(0, sizeof(old), &old);
	c->took_ms = (double)(vtb_now_ns() - t0) / 1e6;
	if (failed) {
		snprintf(c->why, sizeof(c->why), "%s: %s", failed, strerror(errno));
		return -1;
	}
	c->ok = true;
	return 0;
}

/* The figures, by name, for the JSON and for vtb_calib_moved. */
struct named {
	const char *name;
	const char *unit;
	size_t off;
};
#define F(field, unit) { #field, unit, offsetof(struct vtb_calib, field) }
static const struct named figs[] = {
	{ "memcpy_4k", "GB/s", offsetof(struct vtb_calib, memcpy_gbps[VTB_CAL_4K]) },
	{ "memcpy_64k", "GB/s", offsetof(struct vtb_calib, memcpy_gbps[VTB_CAL_64K]) },
	{ "memcpy_1m", "GB/s", offsetof(struct vtb_calib, memcpy_gbps[VTB_CAL_1M]) },
	F(hv_call_ns, "ns"), F(hv_seg_ns, "ns"), F(hv_gbps, "GB/s"), F(pingpong_ns, "ns"), F(eventfd_rtt_ns, "ns"),
	F(futex_rtt_ns, "ns"), F(syscall_ns, "ns"), F(map_ns, "ns"), F(map_batch_ns, "ns"), F(shootdown_ns, "ns"),
	/* Later additions: a run recorded before them lacks them (parsed as 0). */
	{ "xcopy_64", "ns", offsetof(struct vtb_calib, xcopy_ns[VTB_XC_64]) },
	{ "xcopy_4k", "ns", offsetof(struct vtb_calib, xcopy_ns[VTB_XC_4K]) },
	{ "xcopy_64k", "ns", offsetof(struct vtb_calib, xcopy_ns[VTB_XC_64K]) },
	{ "reclaim_64", "ns", offsetof(struct vtb_calib, reclaim_ns[VTB_XC_64]) },
	{ "reclaim_4k", "ns", offsetof(struct vtb_calib, reclaim_ns[VTB_XC_4K]) },
	{ "reclaim_64k", "ns", offsetof(struct vtb_calib, reclaim_ns[VTB_XC_64K]) },
	F(hv_x64_ns, "ns"), F(hv_x4k_ns, "ns"),
};
#define N_FIGS_V1 13	/* the figures every recorded run has */
#undef F

static const struct vtb_fig *fig_at(const struct vtb_calib *c, size_t i)
{
	return (const struct vtb_fig *)((const char *)c + figs[i].off);
}

int vtb_calib_parse(const char *json, struct vtb_calib *c)
{
	memset(c, 0, sizeof(*c));
	c->ok = strstr(json, "\"ok\": true") != NULL;
	const char *p = strstr(json, "\"took_ms\": ");
	c->took_ms = p ? strtod(p + 11, NULL) : 0;
	for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
		char pat[48];
		snprintf(pat, sizeof(pat), "\"%s\": {\"v\": ", figs[i].name);
		if (!(p = strstr(json, pat))) {
			if (i < N_FIGS_V1)
				return -1;
			continue;
		}
		struct vtb_fig *g = (struct vtb_fig *)((char *)c + figs[i].off);
		char *end;
		g->v = strtod(p + strlen(pat), &end);
		const char *sp = strstr(end, "\"spread_pct\": ");
		g->spread_pct = sp ? strtod(sp + strlen("\"spread_pct\": "), NULL) : 0;
	}
	c->placement = vtb_placement_tag(c->pingpong_ns.v);
	if (!c->ok)
		snprintf(c->why, sizeof(c->why), "as recorded");
	return 0;
}

void vtb_calib_json(FILE *f, const struct vtb_calib *c)
{
	fprintf(f, "{\"ok\": %s, \"placement\": \"%s\", \"took_ms\": %.1f", c->ok ? "true" : "false",
		c->placement ? c->placement : "unknown", c->took_ms);
	for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
		const struct vtb_fig *g = fig_at(c, i);
		fprintf(f, ", \"%s\": {\"v\": %.10g, \"spread_pct\": %.1f, \"unit\": \"%s\"}", figs[i].name, g->v,
			g->spread_pct, figs[i].unit);
	}
	if (!c->ok)
		fprintf(f, ", \"why\": \"%s\"", c->why);
	fputc('}', f);
}

int vtb_calib_moved(const struct vtb_calib *a, const struct vtb_calib *b, char *buf, size_t n)
{
	int moved = 0;
	size_t used = 0;
	if (n)
		buf[0] = 0;
	for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
		const struct vtb_fig *x = fig_at(a, i), *y = fig_at(b, i);
		double noise = x->spread_pct > y->spread_pct ? x->spread_pct : y->spread_pct;
		if (noise < 10)
			noise = 10;
		if (x->v <= 0 || y->v <= 0 || 100.0 * fabs(y->v - x->v) / x->v <= noise)
			continue;
		moved++;
		if (used < n)
			used += (size_t)snprintf(buf + used, n - used, "%s%s", moved > 1 ? "," : "", figs[i].name);
	}
	return moved;
}
