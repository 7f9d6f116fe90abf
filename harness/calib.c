#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "calib.h"
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
			__builtin_ia32_pause();
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
				__builtin_ia32_pause();
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
