/* The eBPF probes count exactly what two armed domains do: FE and BE, each
 * in a tight loop of eventfd write + read (primitives, timed) and getppid
 * (counted only), concurrently on two CPUs, over the phases their USDT
 * opens.  Also prints each domain's CPU time per system call with the
 * probes absent, attached but not counting, and counting (information: the
 * probes' own cost, not checked).  Where BPF cannot load it says why and
 * checks nothing else. */
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../ci/vtb_test.h"
#include "../probes.h"
#include "../vtb_usdt.h"

enum { N = 20000, ROUNDS = 3 };		/* ROUNDS without probes, then 2 * ROUNDS alternating */

static double cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void pin(int c)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(c % CPU_SETSIZE, &s);
	sched_setaffinity(0, sizeof(s), &s);	/* best effort: one CPU is fine too */
}

/* CPU ns per system call of N rounds of write, read, getppid. */
static double loop(int efd)
{
	uint64_t v = 1;
	double t0 = cpu_ns();
	for (int i = 0; i < N; i++) {
		if (write(efd, &v, 8) != 8 || read(efd, &v, 8) != 8)
			return -1;
		syscall(SYS_getppid);
		v = 1;
	}
	return (cpu_ns() - t0) / (3.0 * N);
}

static void token(int fd, int out)
{
	char c = 0;
	if ((out ? write(fd, &c, 1) : read(fd, &c, 1)) != 1)
		_exit(3);
}

/* One domain's rounds; the FE opens and arms the probes after the first
 * ROUNDS; go/done keep the two domains' loops overlapping. */
static int domain(int dom, int go, int done, struct vtb_probes **pp, pid_t be, double best[3], char *why, size_t n)
{
	int efd = eventfd(0, 0);
	if (efd < 0)
		return -1;
	pin(dom);
	best[0] = best[1] = best[2] = 1e18;
	for (int r = 0; r < 3 * ROUNDS; r++) {
		if (dom == 0 && r == ROUNDS) {
			if (vtb_probes_open(pp, why, n))
				return 1;
			vtb_probes_arm(*pp, getpid(), be);
		}
		int on = r >= ROUNDS && ((r - ROUNDS) & 1), m = r < ROUNDS ? 0 : on ? 2 : 1;
		token(go, dom == 0);
		if (on)
			VTB_USDT_PHASE(dom, 1);
		double t = loop(efd);
		if (on)
			VTB_USDT_PHASE(dom, 0);
		token(done, dom == 1);
		if (t < 0)
			return -1;
		if (t < best[m])
			best[m] = t;
	}
	close(efd);
	return 0;
}

int main(void)
{
	int go[2], done[2];
	char why[256] = "";
	double best[3];
	struct vtb_probes *p = NULL;
	if (getpid() == 0) {	/* never: the loader attaches these too */
		VTB_USDT_SUBMIT(0);
		VTB_USDT_COMPLETE(0);
	}
	if (pipe(go) || pipe(done))
		return 1;
	pid_t be = fork();
	if (be < 0)
		return 1;
	if (!be) {
		close(go[1]);
		close(done[0]);
		/* BE: waits for go, reports done; ends with the FE's pipe. */
		int rc = domain(1, go[0], done[1], NULL, 0, best, why, sizeof(why));
		if (!rc)
			printf("test_probes: be ns/syscall: none %.1f, attached %.1f, counting %.1f\n", best[0], best[1], best[2]);
		fflush(stdout);
		_exit(rc ? 2 : 0);
	}
	close(go[0]);
	close(done[1]);
	int rc = domain(0, go[1], done[0], &p, be, best, why, sizeof(why)), st = 0;
	close(go[1]);
	waitpid(be, &st, 0);
	if (rc > 0) {
		printf("test_probes: BPF cannot load here (%s): nothing to check\n", why);
		return vtb_test_end("test_probes");
	}
	CHECK_EQ(rc, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct vtb_kresult k;
	vtb_probes_collect(p, &k);
	printf("test_probes: fe ns/syscall: none %.1f, attached %.1f, counting %.1f; hooks: %s\n", best[0], best[1],
	       best[2], vtb_probes_syscall_hooks(p));
	const uint64_t want = (uint64_t)N * ROUNDS;
	for (int d = 0; d < 2; d++) {
		const struct vtb_kdom *kd = &k.d[d];
		uint64_t total = kd->sys_other, lat[VTB_KP_NPRIM] = {0};
		for (int i = 0; i < VTB_KP_NSYS; i++)
			total += kd->sys[i];
		for (int i = 0; i < VTB_KP_NPRIM; i++)
			for (int s = 0; s < VTB_KP_LAT_SLOTS; s++)
				lat[i] += kd->prim_lat[i][s];
		CHECK_EQ(kd->sys[SYS_write], want);
		CHECK_EQ(kd->sys[SYS_read], want);
		CHECK_EQ(kd->sys[SYS_getppid], want);	/* not a primitive: counted all the same */
		/* and the thread CPU clock, a system call, at both ends of a loop */
		CHECK_EQ(kd->sys[SYS_clock_gettime], 2 * ROUNDS);
		CHECK_EQ(total, 3 * want + 2 * ROUNDS);
		CHECK_EQ(lat[VTB_KP_WRITE], want);
		CHECK_EQ(lat[VTB_KP_READ], want);
		CHECK_EQ(lat[VTB_KP_WRITE] + lat[VTB_KP_READ], 2 * want);	/* nothing else timed */
		CHECK(kd->prim_ns[VTB_KP_READ] > 0 && kd->prim_ns[VTB_KP_WRITE] > 0);
		CHECK_EQ(kd->phase_on, ROUNDS);
		CHECK_EQ(kd->phase_off, ROUNDS);
	}
	vtb_probes_close(p);
	return vtb_test_end("test_probes");
}
