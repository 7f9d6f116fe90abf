/* Workloads: per device, the FE load generator and the BE device model
 * glue.  The generator reaches the device only through an engine
 * (engine.h).  Hosted code; the models themselves are freestanding. */
#ifndef VTB_WORKLOAD_H
#define VTB_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "../transports/transport.h"
#include "engine.h"

/* One cell's parameters, after parsing and defaults. */
struct vtb_cellp {
	char device[16];
	char transport[16];
	char variant[16];
	char notify[8];		/* event | poll */
	char platform[16];
	char arch[16];		/* platform=qemu: the guest's architecture */
	char guest_io[12];	/* platform=qemu blk: how the guest submits, io_uring | aio */
	char backend[12];	/* platform=qemu blk: the disk's device, qemu | vtbench | qsd */
	unsigned boot_runs;	/* platform=qemu: whole boots per configuration hyperfine times (0: none) */
	char pattern[16];	/* blk */
	unsigned rwmix;		/* blk randrw: percent reads */
	char mode[8];		/* net: tx | rx | rr */
	char mix[256];		/* scmi */
	char backing[256];	/* blk: file served with io_uring, "" = RAM disk */
	bool backing_create;	/* blk: backing may be created (sized disk) and is vtbench's to overwrite */
	int size;		/* bytes; VTB_NET_IMIX for net imix; 0 where meaningless */
	unsigned qd;
	uint64_t ops;		/* measured ops, 0 = use duration */
	double duration;	/* s */
	double warmup;		/* s */
	unsigned reps;		/* at least */
	unsigned max_reps;	/* adaptive: at most (0: exactly reps) */
	double ci_pct;		/* adaptive: more reps while the 95% CI half-width is above this */
	double budget;		/* s: the run adds no adaptive repetition past this (0: none) */
	bool pair;		/* measured in turns with its shm reference */
	uint64_t seed;
	int cpu_fe, cpu_be;	/* -1: not pinned */
	bool verify;
	bool indirect;
	bool events;		/* scmi: notifications on the event queue */
	unsigned qsize;
	uint64_t mem;		/* FE RAM bytes */
	uint64_t disk;		/* blk capacity bytes (resolved: never 0 for blk) */
	double timeout;		/* s, whole cell */
	unsigned fq_size;	/* viommu lazy flush queue */
	uint32_t ring_bytes;	/* fatvq ring data bytes */
	double fq_timeout;	/* s */
	char probes[8];		/* auto | on | off, as asked */
	bool probes_on;		/* what the run decided */
	unsigned usdt;		/* 1 in N requests fires the request USDT; 0: none */
	unsigned index;		/* position in the run's matrix (rows name it; --resume reads it) */
};

struct vtb_gen;
/* Called by a generator for each completed op. */
typedef void (*vtb_done_fn)(struct vtb_gen *g, uint64_t t_submit_ns, uint64_t bytes);

/* FE side of a cell. */
struct vtb_gen {
	/* The engine; NULL at fe_init picks the device's virtqueue engine. */
	const struct vtb_engine_ops *eng;
	void *eng_priv;
	/* The transport, for the virtqueue engine only (others leave them NULL). */
	const struct vtb_transport_ops *t;
	void *x;
	struct vtb_xenv *env;
	const struct vtb_cellp *cp;
	unsigned inflight;
	vtb_done_fn done;
	void *harness;
	uint64_t verify_errors;
	char err[200];		/* first verification or protocol error */
	void *priv;
};

#define VTB_DEV_STATS 24

struct vtb_workload_ops {
	const char *name;
	const char *desc;
	uint32_t virtio_id;
	uint32_t nqueues;
	/* Optional: fills what the cell derives from the host (blk: the
	 * capacity of a backing file); -1 with a message. */
	int (*resolve)(struct vtb_cellp *cp, char *err, size_t n);
	/* Rejects impossible parameters with a message. */
	int (*check)(const struct vtb_cellp *cp, char *err, size_t n);

	/* BE: builds the model; fills env->device_id, device_features, config. */
	int (*be_init)(const struct vtb_cellp *cp, struct vtb_xenv *env,
		       const struct vtb_dev_io *io, void **dev);
	void (*be_start)(void *dev, uint64_t features);
	int (*be_process)(void *dev, unsigned budget);
	/* Queues whose new buffers would give the model work now: the BE
	 * sleeps on those only (posted RX or event buffers are not work). */
	uint32_t (*be_wake_mask)(void *dev);
	/* Up to VTB_DEV_STATS named counters for the result row. */
	unsigned (*be_stats)(void *dev, const char **names, uint64_t *vals);
	void (*be_fini)(void *dev);

	/* FE */
	uint64_t fe_features;
	int (*fe_init)(struct vtb_gen *g);
	/* 1: an op was submitted; 0: none can be now; <0: error.  The harness
	 * then commits through g->eng->commit and sleeps in g->eng->wait. */
	int (*fe_submit)(struct vtb_gen *g, uint64_t now_ns);
	/* Consumes every completion on its streams (ops are reported through
	 * g->done); returns how many it consumed, so that the harness sleeps
	 * only when nothing moved: a freed TX buffer is progress even though
	 * it completes no op.  <0 on error. */
	int (*fe_reap)(struct vtb_gen *g);
	void (*fe_fini)(struct vtb_gen *g);
};

extern const struct vtb_workload_ops vtb_workload_blk;
extern const struct vtb_workload_ops vtb_workload_net;
extern const struct vtb_workload_ops vtb_workload_scmi;
extern const struct vtb_workload_ops *const vtb_workloads[];
const struct vtb_workload_ops *vtb_workload_find(const char *name);

/* Helpers for generators. */
uint64_t vtb_now_ns(void);
void vtb_gen_fail(struct vtb_gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* xorshift PRNG for load generation (not for payloads). */
static inline uint64_t vtb_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif
