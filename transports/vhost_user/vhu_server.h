/* vtbench's device models served over vhost-user: the Unix socket, the
 * messages with their fds, guest memory mapped from the region fds, and a
 * worker thread per group of rings running a device model over the core's
 * device-side virtqueues (vtb_vhu_dev holds the protocol state).  Linux. */
#ifndef VTB_VHU_SERVER_H
#define VTB_VHU_SERVER_H

#include <signal.h>
#include <stdio.h>

#include "vhu_dev.h"
#include "../core/vtb_devio.h"

/* What a device brings: groups of rings, each group one model instance on
 * one worker (blk: a group a queue; net: RX+TX; scmi: cmd+event). */
struct vtb_vhu_model {
	const char *name;
	unsigned groups;
	unsigned rings;			/* per group */
	uint64_t features;		/* the device's own virtio feature bits */
	size_t memsize;			/* one instance */
	/* (Re)initialises instance g at mem over io; acked: features agreed. */
	int (*init)(void *arg, void *mem, unsigned g, const struct vtb_dev_io *io, uint64_t acked);
	int (*process)(void *mem, unsigned budget);
	/* Bit i: ring i of the group would let the model make progress. */
	uint32_t (*wake_mask)(const void *mem);
	uint32_t (*config)(void *arg, void *buf, uint32_t cap);
	/* Optional: the model's own counters of instance mem, as JSON members
	 * (each "," "\"name\":value") appended to the stats line. */
	void (*stats_json)(const void *mem, FILE *f);
	void *arg;
};

struct vtb_vhu_server_opts {
	const char *socket;
	bool poll;			/* notify=poll: workers busy-poll */
	const int *cpus;		/* worker g pinned to cpus[g % ncpus] */
	unsigned ncpus;
	unsigned conns;			/* return after this many connections; 0: never */
	uint16_t max_num;		/* largest ring accepted; 0: 1024 */
	const volatile sig_atomic_t *quit;	/* set: return */
	volatile sig_atomic_t *dump;	/* set: write stats, then cleared */
	FILE *stats;			/* where stats lines go */
	bool quiet;			/* no log lines (tests of hostile input) */
	bool trace;			/* a line on stderr per message received */
};

/* Counters per ring, across connections (vtbench's names). */
struct vtb_vhu_qstats {
	uint64_t ops;			/* requests popped */
	uint64_t bytes;			/* read from and written into buffers */
	uint64_t doorbells_in;		/* kicks taken from the kick eventfd */
	uint64_t notifies;		/* interrupts: writes to the call eventfd */
	uint64_t notifies_suppressed;	/* completions the driver asked not to hear of */
	uint64_t waits;			/* the worker slept waiting for this ring */
	uint64_t errors;		/* the ring broke */
};

struct vtb_vhu_server;

/* Listens on o->socket (replacing a stale socket file); NULL and errno. */
struct vtb_vhu_server *vtb_vhu_server_open(const struct vtb_vhu_model *m, const struct vtb_vhu_server_opts *o);
/* Serves front-ends one at a time until conns are done or *quit; 0, or
 * -errno when the socket failed. */
int vtb_vhu_server_run(struct vtb_vhu_server *s);
/* One JSON line of every counter, per ring and in total. */
void vtb_vhu_server_stats(struct vtb_vhu_server *s, FILE *f);
void vtb_vhu_server_qstats(struct vtb_vhu_server *s, unsigned ring, struct vtb_vhu_qstats *out);
uint64_t vtb_vhu_server_refused(const struct vtb_vhu_server *s);
unsigned vtb_vhu_server_connections(const struct vtb_vhu_server *s);
void vtb_vhu_server_close(struct vtb_vhu_server *s);

#endif
