/* Each device model's request parsing (virtio-blk header, virtio-net
 * header and frames, SCMI messages) against requests a hostile driver
 * shapes freely: any number and size of readable and writable segments,
 * any bytes.  Each segment is its own heap block of exactly its length, so
 * ASan sees a byte read or written past it.  What must hold: no memory
 * error, a used length within the writable part, blk storage reached only
 * inside the capacity, and a model that keeps serving (or says its queue
 * broke) after any request. */
#include <stdlib.h>

#include "../../transports/fuzz/fuzz_common.h"

#include "../blk/vtb_blk.h"
#include "../net/vtb_net.h"
#include "../scmi/vtb_scmi.h"

#define NQ 3

struct fio {
	struct fz *f;
	struct vtb_req req[4];
	void *bufs[4][VTB_REQ_MAX_SEG];
	unsigned pending;	/* requests made and not yet pushed */
	unsigned made;
	unsigned pops_left;
};

static void free_req(struct fio *io, unsigned k)
{
	for (unsigned i = 0; i < VTB_REQ_MAX_SEG; i++) {
		free(io->bufs[k][i]);
		io->bufs[k][i] = NULL;
	}
}

static int fz_pop(void *ctx, unsigned q, struct vtb_req *out)
{
	struct fio *io = ctx;
	if (!io->f->n || !io->pops_left || io->pending == 4)
		return 0;
	io->pops_left--;
	/* The driver decides whether this queue has something. */
	if (fz_u8(io->f) % NQ != q % NQ)
		return 0;
	unsigned k = 0;
	while (io->req[k].priv)
		k++;
	struct vtb_req *r = &io->req[k];
	memset(r, 0, sizeof(*r));
	unsigned nseg = 1 + fz_u8(io->f) % 6;
	r->nout = (uint16_t)(fz_u8(io->f) % (nseg + 1));
	r->nin = (uint16_t)(nseg - r->nout);
	for (unsigned i = 0; i < nseg; i++) {
		uint32_t len = fz_u16(io->f) % 2100;
		void *b = malloc(len ? len : 1);
		memset(b, 0xa5, len);
		if (i < r->nout)
			fz_bytes(io->f, b, len);
		r->iov[i] = (struct vtb_iov){ b, len };
		io->bufs[k][i] = b;
		*(i < r->nout ? &r->out_bytes : &r->in_bytes) += len;
	}
	r->q = (uint16_t)q;
	r->head = (uint16_t)k;
	r->priv = io;
	io->pending++;
	io->made++;
	*out = *r;
	return 1;
}

static int fz_push(void *ctx, struct vtb_req *r, uint32_t written)
{
	struct fio *io = ctx;
	FZ_CHECK(r->head < 4 && io->req[r->head].priv == io, "push of a request never popped (head %u)", r->head);
	FZ_CHECK(written <= io->req[r->head].in_bytes, "used length %u past the writable part %u", written,
		 io->req[r->head].in_bytes);
	io->req[r->head].priv = NULL;
	free_req(io, r->head);
	io->pending--;
	return 0;
}

#ifdef FUZZ_MODEL_blk
#define CAP (1u << 20)
static uint8_t disk[CAP];
static int st_rw(uint64_t off, uint32_t len)
{
	FZ_CHECK(off <= CAP && len <= CAP - off, "storage reached outside the capacity: %llu+%u",
		 (unsigned long long)off, len);
	return 0;
}
static int st_read(void *c, uint64_t off, void *buf, uint32_t len) { (void)c; st_rw(off, len); memcpy(buf, disk + off, len); return 0; }
static int st_write(void *c, uint64_t off, const void *buf, uint32_t len) { (void)c; st_rw(off, len); memcpy(disk + off, buf, len); return 0; }
static int st_flush(void *c) { (void)c; return 0; }
static int st_range(void *c, uint64_t off, uint64_t len)
{
	(void)c;
	FZ_CHECK(off <= CAP && len <= CAP - off, "discard outside the capacity");
	return 0;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(64) uint8_t mem[1 << 20];
	struct fz f = { data, size };
	struct fio io = { .f = &f, .pops_left = 64 };
	struct vtb_dev_io dio = { &io, fz_pop, fz_push };
	int r = 0;
#if defined(FUZZ_MODEL_blk)
	static const struct vtb_blk_storage st = { NULL, st_read, st_write, st_flush, st_range, st_range };
	FZ_CHECK(vtb_blk_memsize() <= sizeof(mem), "memsize");
	struct vtb_blk *m = vtb_blk_init(mem, CAP, &st, &dio, "fuzz");
	FZ_CHECK(m, "init");
	while (f.n && io.pops_left && r >= 0)
		r = vtb_blk_process(m, 1 + fz_u8(&f) % 4);
#elif defined(FUZZ_MODEL_net)
	FZ_CHECK(vtb_net_memsize() <= sizeof(mem), "memsize");
	uint8_t mode = fz_u8(&f) % 4;	/* sink, source, echo, guest */
	struct vtb_net *m = vtb_net_init(mem, (enum vtb_net_mode)mode, 64 + fz_u8(&f) * 6, 1, mode == VTB_NET_SINK, &dio);
	FZ_CHECK(m, "init");
	while (f.n && io.pops_left && r >= 0)
		r = vtb_net_process(m, 1 + fz_u8(&f) % 4);
#elif defined(FUZZ_MODEL_scmi)
	FZ_CHECK(vtb_scmi_memsize() <= sizeof(mem), "memsize");
	struct vtb_scmi *m = vtb_scmi_init(mem, 1, &dio);
	FZ_CHECK(m, "init");
	vtb_scmi_set_events(m, fz_u8(&f) & 1);
	while (f.n && io.pops_left && r >= 0)
		r = vtb_scmi_process(m, 1 + fz_u8(&f) % 4);
#else
#error "FUZZ_MODEL_blk, _net or _scmi"
#endif
	/* A model may hold requests (net RX buffers, SCMI event buffers);
	 * whatever it holds is freed here, not pushed. */
	for (unsigned k = 0; k < 4; k++)
		free_req(&io, k);
	return 0;
}
