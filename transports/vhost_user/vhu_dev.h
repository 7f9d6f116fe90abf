/* A vhost-user backend's protocol state machine, independent of the OS:
 * it takes one message at a time (header, payload and the fds that came
 * with it), validates it, keeps the region table and the rings' state, and
 * calls hooks for what only the OS can do (map a region's fd, close an fd,
 * run or stop a ring's worker, send a reply).  Freestanding: its memory is
 * the caller's (_memsize() + _init()), so it can be fuzzed as is and
 * embedded where the core is.
 *
 * fds: every fd handed to vtb_vhu_dev_handle belongs to the device from
 * then on: kept (kick, call, err) or closed through close_fd, never
 * leaked, whatever the message's fate. */
#ifndef VTB_VHU_DEV_H
#define VTB_VHU_DEV_H

#include "vhu_proto.h"
#include "../core/vtb_memmap.h"
#include "../core/vtb_virtq.h"

#define VTB_VHU_MAX_QUEUES 16

struct vtb_vhu_hooks {
	void *ctx;
	/* Maps size bytes of fd from offset, shared and writable; *va is
	 * where offset landed.  -errno: it cannot (offset or size beyond the
	 * fd, no memory).  The fd stays the device's (closed after). */
	int (*map)(void *ctx, int fd, uint64_t offset, uint64_t size, void **va);
	void (*unmap)(void *ctx, void *va, uint64_t size);
	void (*close_fd)(void *ctx, int fd);
	/* Ring q is ready (vtb_vhu_dev_vq is valid): serve it.  fresh: its
	 * queue state was (re)initialised since it last ran, so requests the
	 * device model still holds for q are void. */
	int (*queue_start)(void *ctx, unsigned q, bool fresh);
	/* Synchronous: on return no worker touches ring q or its fds. */
	void (*queue_stop)(void *ctx, unsigned q);
	/* Sends msg (header and payload, len bytes) to the front-end. */
	int (*reply)(void *ctx, const void *msg, uint32_t len);
	/* A message refused or the connection given up, and why. */
	void (*log)(void *ctx, uint32_t request, const char *why);
	/* Device config space: fills up to cap bytes, returns its length. */
	uint32_t (*get_config)(void *ctx, void *buf, uint32_t cap);
};

struct vtb_vhu_params {
	unsigned queues;		/* rings, 1..VTB_VHU_MAX_QUEUES */
	uint16_t max_num;		/* largest ring, a power of two */
	uint64_t features;		/* virtio features offered */
	uint64_t protocol_features;	/* protocol features offered */
	const struct vtb_vhu_hooks *hooks;
};

struct vtb_vhu_dev;

size_t vtb_vhu_dev_memsize(unsigned queues, uint16_t max_num);
/* NULL on bad parameters. */
struct vtb_vhu_dev *vtb_vhu_dev_init(void *mem, const struct vtb_vhu_params *p);
/* One message: msg holds the header and hdr.size payload bytes (len in
 * all), fds the nfds descriptors that came with it.  0: done (replied if
 * the request has a reply); -errno: refused, logged, and answered with a
 * failure if the front-end asked for an ack.  *close set: the connection
 * cannot go on (a request whose reply cannot be given, a bad header). */
int vtb_vhu_dev_handle(struct vtb_vhu_dev *d, const void *msg, uint32_t len,
		       const int *fds, unsigned nfds, bool *close);
/* The front-end went away: every ring stopped, every fd closed, every
 * region unmapped; the device is as _init left it, ready for the next. */
void vtb_vhu_dev_disconnect(struct vtb_vhu_dev *d);

/* For the workers, between queue_start and queue_stop of ring q: */
struct vtb_vqdev *vtb_vhu_dev_vq(struct vtb_vhu_dev *d, unsigned q);
int vtb_vhu_dev_kickfd(const struct vtb_vhu_dev *d, unsigned q);	/* -1: none */
int vtb_vhu_dev_callfd(const struct vtb_vhu_dev *d, unsigned q);
int vtb_vhu_dev_errfd(const struct vtb_vhu_dev *d, unsigned q);
/* Guest-physical addresses to the device's pointers (descriptor buffers). */
const struct vtb_memmap *vtb_vhu_dev_memmap(const struct vtb_vhu_dev *d);
uint64_t vtb_vhu_dev_features(const struct vtb_vhu_dev *d);	/* acked */
unsigned vtb_vhu_dev_queues(const struct vtb_vhu_dev *d);
/* Messages refused since init (across connections). */
uint64_t vtb_vhu_dev_refused(const struct vtb_vhu_dev *d);

#endif
