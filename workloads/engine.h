/* Engines: how a generator's abstract I/O reaches a device, fio's
 * ioengine.  A generator (blk_wl.c, net_wl.c, scmi_wl.c) decides what to
 * submit and checks what comes back; it fills struct vtb_io with an
 * operation on its data buffer and never sees a virtio header, a status
 * byte, a descriptor or a guest address.  The engine maps that onto a
 * device: the virtqueue engines (blk_vq.c, net_vq.c, scmi_vq.c) build
 * the virtio wire through the transport's ops; the loopback engines
 * (loop_engine.c) serve it in memory for the tests.  Hosted code. */
#ifndef VTB_ENGINE_H
#define VTB_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

struct vtb_gen;

/* What a generator asks for. */
enum vtb_io_op {
	VTB_IO_READ,		/* blk: len bytes at offset into buf */
	VTB_IO_WRITE,		/* blk: len bytes of buf at offset */
	VTB_IO_FLUSH,		/* blk */
	VTB_IO_DISCARD,		/* blk: [offset, +len), contents undefined after */
	VTB_IO_WRITE_ZEROES,	/* blk: [offset, +len) reads back zeroes */
	VTB_IO_GET_ID,		/* blk: the device's id string into buf (len bytes) */
	VTB_IO_SEND,		/* net: a frame of len bytes in buf */
	VTB_IO_RECV,		/* net: buf takes a received frame; scmi: a notification */
	VTB_IO_CALL,		/* scmi: message of len bytes in buf, response into rbuf */
};

/* A completion's outcome, abstract. */
enum vtb_io_status {
	VTB_IO_OK,
	VTB_IO_EIO,		/* the device failed it (blk IOERR) */
	VTB_IO_EUNSUPP,		/* the device does not do it */
	VTB_IO_EPROTO,		/* the device's answer broke the framing */
};

/* Streams are the device's own queue numbering (blk 0; net RX/TX; scmi
 * CMD/EVENT): a kernel engine has a ring per direction too. */
#define VTB_STREAM_ALL (-1)

/* One I/O unit (fio's io_u).  The generator owns it (usually inside its
 * slot) and sets op, stream, offset and len before queue; the engine sets
 * buf/rbuf once at io_init and status/res at completion. */
struct vtb_io {
	uint8_t op;		/* enum vtb_io_op */
	uint8_t stream;
	uint8_t status;		/* out: enum vtb_io_status */
	uint8_t raw;		/* out: the device's own status code, for messages */
	uint32_t len;		/* bytes the op carries in buf (blk data, frame, message) */
	uint64_t offset;	/* blk: bytes */
	uint32_t res;		/* out: bytes the device returned (read data, frame, response) */
	uint32_t cap, rcap;	/* bytes of buf and rbuf */
	void *buf, *rbuf;
	/* The engine's per-io state (the virtqueue engine: wire buffers and
	 * their guest addresses), kept here so a request costs no lookup. */
	struct {
		void *va[2];
		uint64_t addr[3];
	} e;
};

/* Buffers come from the transport's allocator (FE RAM the device can reach). */
#define VTB_ENGINE_F_DMA   (1u << 0)
/* It builds the virtio wire itself (a kernel engine would not). */
#define VTB_ENGINE_F_WIRE  (1u << 1)

/* One table per engine and device. */
struct vtb_engine_ops {
	const char *name;
	const char *device;
	unsigned flags;
	unsigned nstreams;
	/* Optional: state for one generator (g->eng_priv). */
	int (*open)(struct vtb_gen *g);
	void (*close)(struct vtb_gen *g);
	/* Negotiated device features (virtio bits, e.g. scmi's P2A channels). */
	uint64_t (*features)(struct vtb_gen *g);
	/* Device parameters in the virtio config layout (blk capacity, net MAC). */
	void (*config)(struct vtb_gen *g, uint32_t off, void *buf, uint32_t len);
	/* Gives io its buffers: buf of cap bytes; for CALL also rbuf of rcap.
	 * Called at init only, in the order the generator wants them laid out. */
	int (*io_init)(struct vtb_gen *g, struct vtb_io *io, unsigned stream, uint32_t cap, uint32_t rcap);
	/* 0: queued; -VTB_ENOSPC: no room now, nothing changed; <0: error. */
	int (*queue)(struct vtb_gen *g, struct vtb_io *io);
	/* Makes queued I/O visible to the device (kick): one stream or all. */
	void (*commit)(struct vtb_gen *g, int stream);
	/* The next completed io on stream, status and res filled; NULL: none. */
	struct vtb_io *(*getevent)(struct vtb_gen *g, unsigned stream);
	/* True once the device can complete nothing more. */
	bool (*broken)(struct vtb_gen *g);
	/* Sleeps until a completion may have arrived (event notification). */
	void (*wait)(struct vtb_gen *g);
};

/* Queues io, commits its stream and waits for it alone (setup only);
 * -EPROTO if anything else completes first or the device broke. */
int vtb_io_sync(struct vtb_gen *g, struct vtb_io *io);

/* The virtqueue engines, the default. */
extern const struct vtb_engine_ops vtb_engine_vq_blk;
extern const struct vtb_engine_ops vtb_engine_vq_net;
extern const struct vtb_engine_ops vtb_engine_vq_scmi;
/* The loopback engines: no device, no transport (tests). */
extern const struct vtb_engine_ops vtb_engine_loop_blk;
extern const struct vtb_engine_ops vtb_engine_loop_net;
extern const struct vtb_engine_ops vtb_engine_loop_scmi;

/* Loopback test hooks: the next n completions that carry data come back
 * with one byte flipped; what the loopback device served. */
struct vtb_loop_stats {
	uint64_t reads, writes, bytes_read, bytes_written;	/* blk */
	uint64_t frames_tx, frames_rx, sink_errors;		/* net */
	uint64_t calls, notifs;					/* scmi */
};
void vtb_loop_corrupt(struct vtb_gen *g, unsigned n);
const struct vtb_loop_stats *vtb_loop_stats(struct vtb_gen *g);

/* Shared by the virtqueue engines (vq_engine.c). */
uint64_t vtb_vq_features(struct vtb_gen *g);
void vtb_vq_config(struct vtb_gen *g, uint32_t off, void *buf, uint32_t len);
void vtb_vq_commit(struct vtb_gen *g, int stream);
bool vtb_vq_broken(struct vtb_gen *g);
void vtb_vq_wait(struct vtb_gen *g);

#endif
