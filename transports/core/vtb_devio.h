/* A device model's whole view of its queues: requests as local buffers,
 * popped and pushed through hooks the transport provides.  A model never
 * sees guest addresses, rings or the platform. */
#ifndef VTB_DEVIO_H
#define VTB_DEVIO_H

#include "vtb_compiler.h"

#define VTB_REQ_MAX_SEG 32

struct vtb_iov {
	void *base;
	uint32_t len;
};

struct vtb_req {
	struct vtb_iov iov[VTB_REQ_MAX_SEG];	/* [0,nout) readable, then writable */
	uint16_t nout;
	uint16_t nin;
	uint32_t out_bytes;
	uint32_t in_bytes;
	uint16_t q;
	uint16_t head;		/* transport's handle */
	void *priv;		/* transport's handle */
};

struct vtb_dev_io {
	void *ctx;
	/* 1: *req filled; 0: queue empty; <0: transport broken. */
	int (*pop)(void *ctx, unsigned q, struct vtb_req *req);
	/* Completes req with written bytes in its writable part. */
	int (*push)(void *ctx, struct vtb_req *req, uint32_t written);
};

/* Gather/scatter between a request's iovs and flat memory; these are the
 * only way models touch payloads, so bounds are checked in one place. */
static inline uint32_t vtb_req_read(const struct vtb_req *r, uint32_t off, void *dst, uint32_t len)
{
	uint32_t done = 0;
	for (unsigned i = 0; i < r->nout && done < len; i++) {
		uint32_t l = r->iov[i].len;
		if (off >= l) {
			off -= l;
			continue;
		}
		uint32_t n = l - off < len - done ? l - off : len - done;
		vtb_memcpy((char *)dst + done, (const char *)r->iov[i].base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

static inline uint32_t vtb_req_write(const struct vtb_req *r, uint32_t off, const void *src, uint32_t len)
{
	uint32_t done = 0;
	for (unsigned i = r->nout; i < (unsigned)r->nout + r->nin && done < len; i++) {
		uint32_t l = r->iov[i].len;
		if (off >= l) {
			off -= l;
			continue;
		}
		uint32_t n = l - off < len - done ? l - off : len - done;
		vtb_memcpy((char *)r->iov[i].base + off, (const char *)src + done, n);
		done += n;
		off = 0;
	}
	return done;
}

#endif
