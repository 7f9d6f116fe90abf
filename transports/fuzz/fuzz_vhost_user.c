/* libFuzzer target: vtb_vhu_dev, the vhost-user message state machine, fed
 * a front-end's messages (any bytes, any fd count) interleaved with writes
 * into "guest RAM" (one fixed buffer every region maps to), with a worker
 * that pops and completes what the rings hold after each message.
 * Invariants: no crash; every fd handed over is closed exactly once by
 * the time the front-end is gone; every map unmapped; a ring's worker is
 * started and stopped in pairs and only while its queue state exists. */
#include "fuzz_common.h"
#include "../vhost_user/vhu_dev.h"

#define RAM_BYTES 65536
#define NQ 3
#define MAX_FDS_TRACKED 4096

static _Alignas(4096) uint8_t ram[RAM_BYTES];
static _Alignas(16) uint8_t devmem[1 << 17];
static uint8_t fd_state[MAX_FDS_TRACKED];	/* 1 given to the device, 2 closed */
static int next_fd;
static int maps;
static bool running[NQ];
static struct vtb_vhu_dev *dev;

#define INVARIANT(c) do { if (!(c)) { fprintf(stderr, "invariant: %s\n", #c); abort(); } } while (0)

static int h_map(void *ctx, int fd, uint64_t off, uint64_t size, void **va)
{
	(void)ctx;
	INVARIANT(fd >= 0 && fd < MAX_FDS_TRACKED && fd_state[fd] == 1);
	if (!vtb_range_ok(off, size, RAM_BYTES))
		return -VTB_EINVAL;
	*va = ram + off;
	maps++;
	return 0;
}

static void h_unmap(void *ctx, void *va, uint64_t size)
{
	(void)ctx;
	(void)size;
	INVARIANT((uint8_t *)va >= ram && (uint8_t *)va <= ram + RAM_BYTES);
	maps--;
}

static void h_close(void *ctx, int fd)
{
	(void)ctx;
	INVARIANT(fd >= 0 && fd < MAX_FDS_TRACKED && fd_state[fd] == 1);
	fd_state[fd] = 2;
}

static int h_start(void *ctx, unsigned q, bool fresh)
{
	(void)ctx;
	(void)fresh;
	INVARIANT(q < NQ && !running[q]);
	running[q] = true;
	return 0;
}

static void h_stop(void *ctx, unsigned q)
{
	(void)ctx;
	INVARIANT(q < NQ && running[q]);
	running[q] = false;
}

static int h_reply(void *ctx, const void *msg, uint32_t len)
{
	struct vtb_vhu_hdr h;
	(void)ctx;
	INVARIANT(len >= sizeof(h));
	memcpy(&h, msg, sizeof(h));
	INVARIANT(h.size == len - sizeof(h) && (h.flags & VTB_VHU_FLAG_REPLY));
	return 0;
}

static void h_log(void *ctx, uint32_t req, const char *why)
{
	(void)ctx;
	(void)req;
	INVARIANT(why && *why);
}

static uint32_t h_config(void *ctx, void *buf, uint32_t cap)
{
	(void)ctx;
	uint32_t n = cap < 60 ? cap : 60;
	memset(buf, 0x5a, n);
	return n;
}

static const struct vtb_vhu_hooks hooks = {
	.map = h_map, .unmap = h_unmap, .close_fd = h_close, .queue_start = h_start,
	.queue_stop = h_stop, .reply = h_reply, .log = h_log, .get_config = h_config,
};

/* What a worker does between messages: pop, touch every byte, complete. */
static void serve_rings(void)
{
	struct vtb_seg seg[32];
	for (unsigned q = 0; q < NQ; q++) {
		if (!running[q])
			continue;
		struct vtb_vqdev *vq = vtb_vhu_dev_vq(dev, q);
		INVARIANT(vq);
		for (int k = 0; k < 4; k++) {
			struct vtb_chain c = { .seg = seg, .max_seg = 32 };
			if (vtb_vqdev_pop(vq, &c) != 1)
				break;
			for (unsigned i = 0; i < c.nseg; i++) {
				uint8_t *p = vtb_memmap_xlate(vtb_vhu_dev_memmap(dev), seg[i].addr, seg[i].len, seg[i].write);
				if (p && seg[i].len && seg[i].write)
					p[seg[i].len - 1] = 0xa5;
				else if (p && seg[i].len)
					INVARIANT(p[0] == p[0]);
			}
			vtb_vqdev_push(vq, c.head, c.in_bytes);
		}
		vtb_vqdev_need_notify(vq);
		vtb_vqdev_enable_notify(vq);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	static uint8_t msg[sizeof(struct vtb_vhu_hdr) + VTB_VHU_MAX_PAYLOAD];
	struct vtb_vhu_params p = { .queues = NQ, .max_num = 256,
				    .features = VTB_BIT(VTB_F_VERSION_1) | VTB_BIT(VTB_F_RING_PACKED) |
						VTB_BIT(VTB_F_EVENT_IDX) | VTB_BIT(VTB_F_INDIRECT_DESC) |
						VTB_BIT(VTB_VHU_F_PROTOCOL_FEATURES),
				    .protocol_features = VTB_BIT(VTB_VHU_PF_MQ) | VTB_BIT(VTB_VHU_PF_REPLY_ACK) |
						     VTB_BIT(VTB_VHU_PF_CONFIG) | VTB_BIT(VTB_VHU_PF_RESET_DEVICE), .hooks = &hooks };
	INVARIANT(vtb_vhu_dev_memsize(NQ, 256) <= sizeof(devmem));
	memset(ram, 0, sizeof(ram));
	memset(fd_state, 0, sizeof(fd_state));
	memset(running, 0, sizeof(running));
	next_fd = 3;
	maps = 0;
	dev = vtb_vhu_dev_init(devmem, &p);
	INVARIANT(dev);
	while (f.n) {
		uint8_t op = fz_u8(&f);
		if ((op & 3) == 3) {	/* the guest writes its RAM */
			uint16_t off = fz_u16(&f);
			fz_write(&f, ram, sizeof(ram), off, 64);
			serve_rings();
			continue;
		}
		unsigned nfds = fz_u8(&f) % (VTB_VHU_MAX_FDS + 2);
		uint16_t len = fz_u16(&f) % sizeof(msg);
		len = (uint16_t)fz_bytes(&f, msg, len);
		int fds[VTB_VHU_MAX_FDS + 2];
		for (unsigned i = 0; i < nfds; i++) {
			if (next_fd >= MAX_FDS_TRACKED)
				break;
			fds[i] = next_fd;
			fd_state[next_fd++] = 1;
		}
		if (next_fd >= MAX_FDS_TRACKED)
			break;
		bool close;
		vtb_vhu_dev_handle(dev, msg, len, fds, nfds, &close);
		if (close)
			vtb_vhu_dev_disconnect(dev);
		serve_rings();
	}
	vtb_vhu_dev_disconnect(dev);
	for (int fd = 0; fd < next_fd && fd < MAX_FDS_TRACKED; fd++)
		INVARIANT(fd_state[fd] != 1);
	INVARIANT(maps == 0);
	for (unsigned q = 0; q < NQ; q++)
		INVARIANT(!running[q]);
	return 0;
}
