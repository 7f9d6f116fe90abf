/* `vtbench serve` from the other end: a vhost-user front-end written here
 * (guest RAM in a memfd, its own region table, the core's driver-side
 * rings) against the server in a forked child running the CLI as a user
 * would.  Devices: blk verified against the backing file, net echo frames,
 * scmi's base protocol; split and packed, event idx on and off, indirect;
 * GET_VRING_BASE and a restart at the base; reconnects; and hostile
 * messages, each refused while the server lives on for the next. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../ci/vtb_test.h"
#include "../../harness/serve.h"
#include "../core/vtb_virtq.h"
#include "../vhost_user/vhu_proto.h"
#include "../../workloads/blk/vtb_blk.h"
#include "../../workloads/net/vtb_net.h"
#include "../../workloads/scmi/vtb_scmi.h"

#define RAM (4u << 20)
#define GPA_BASE 0x40000000ull	/* guest-physical: where RAM starts */
#define UVA_BASE 0x7e0000000000ull	/* the front-end's "user" address of RAM: never ours */
#define NUM 64
#define MAXQ 3
#define TMO 10000	/* ms: a hung server fails the test instead of hanging it */

static char dir[64], sock_path[96], stats_path[96], backing[96];

struct ring {
	struct vtb_vqd *vq;
	unsigned char *mem;	/* driver state */
	unsigned char *area;	/* in RAM */
	int kick, call, err;
};

struct fe {
	int sock;
	int memfd;
	unsigned char *ram;
	size_t brk;
	unsigned nq;
	bool packed, event_idx, indirect;
	bool nokick;		/* SET_VRING_KICK without an fd: the device polls */
	struct ring r[MAXQ];
};

static uint64_t gpa(const struct fe *f, const void *p) { return GPA_BASE + (uint64_t)((const unsigned char *)p - f->ram); }
static uint64_t uva(const struct fe *f, const void *p) { return UVA_BASE + (uint64_t)((const unsigned char *)p - f->ram); }

static void *ram_alloc(struct fe *f, size_t len, size_t align)
{
	f->brk = (f->brk + align - 1) & ~(align - 1);
	if (f->brk + len > RAM)
		return NULL;
	void *p = f->ram + f->brk;
	f->brk += len;
	memset(p, 0, len);
	return p;
}

/* ------------------------------------------------------------ the server */
static pid_t serve(const char *device, const char *extra1, const char *extra2, unsigned conns)
{
	char dev[32], so[128], st[128], cn[32], bk[128];
	snprintf(dev, sizeof(dev), "device=%s", device);
	snprintf(so, sizeof(so), "socket=%s", sock_path);
	snprintf(st, sizeof(st), "stats=%s", stats_path);
	snprintf(cn, sizeof(cn), "conns=%u", conns);
	snprintf(bk, sizeof(bk), "backing=%s", backing);
	unlink(sock_path);
	unlink(stats_path);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		char *av[8] = { dev, so, st, cn };
		int ac = 4;
		if (!strcmp(device, "blk"))
			av[ac++] = bk;
		if (extra1)
			av[ac++] = (char *)extra1;
		if (extra2)
			av[ac++] = (char *)extra2;
		alarm(120);	/* never outlive a failed test */
		_exit(vtb_cmd_serve(ac, av));
	}
	return pid;
}

/* The server exited by itself (its conns done) with status 0. */
static void reap(pid_t pid)
{
	int st = 0;
	for (int i = 0; i < TMO / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			CHECK(WIFEXITED(st));
			CHECK_EQ(WEXITSTATUS(st), 0);
			return;
		}
		usleep(10000);
	}
	CHECK(!"server did not exit after its connections");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static bool alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

static unsigned open_fds(pid_t pid)
{
	char p[64];
	unsigned n = 0;
	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(p);
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A counter from the last stats line: in "total" or in queue q's object. */
static long long stat_of(const char *key, int q)
{
	char line[8192] = "", buf[8192];
	FILE *f = fopen(stats_path, "r");
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		strcpy(line, buf);
	fclose(f);
	char at[32], k[64];
	const char *p = line;
	if (q == -2) {
		p = line;	/* top level */
	} else if (q < 0) {
		p = strstr(line, "\"total\":{");
	} else {
		snprintf(at, sizeof(at), "{\"q\":%d,", q);
		p = strstr(line, at);
	}
	snprintf(k, sizeof(k), "\"%s\":", key);
	p = p ? strstr(p, k) : NULL;
	return p ? atoll(p + strlen(k)) : -1;
}

/* ------------------------------------------------------------ messages */
static int fe_send(struct fe *f, uint32_t req, uint32_t flags, const void *pl, uint32_t size,
		   const int *fds, unsigned nfds)
{
	unsigned char buf[sizeof(struct vtb_vhu_hdr) + 1024];
	struct vtb_vhu_hdr h = { .request = req, .flags = VTB_VHU_VERSION | flags, .size = size };
	size_t len = sizeof(h) + (size > 1024 ? 0 : size);
	memcpy(buf, &h, sizeof(h));
	if (size <= 1024 && size)
		memcpy(buf + sizeof(h), pl, size);
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr a;
	} cb;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		mh.msg_control = cb.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(f->sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* A reply's payload; -1 on EOF or timeout (the server closed on us). */
static int fe_recv(struct fe *f, uint32_t req, void *pl, uint32_t cap)
{
	struct vtb_vhu_hdr h;
	struct pollfd p = { .fd = f->sock, .events = POLLIN };
	if (poll(&p, 1, TMO) != 1 || recv(f->sock, &h, sizeof(h), MSG_WAITALL) != sizeof(h))
		return -1;
	if (h.request != req || !(h.flags & VTB_VHU_FLAG_REPLY) || h.size > cap)
		return -1;
	if (h.size && recv(f->sock, pl, h.size, MSG_WAITALL) != (ssize_t)h.size)
		return -1;
	return (int)h.size;
}

/* With need_reply: 0 accepted, 1 refused, -1 connection gone. */
static int fe_ack(struct fe *f, uint32_t req, const void *pl, uint32_t size, const int *fds, unsigned nfds)
{
	uint64_t v;
	if (fe_send(f, req, VTB_VHU_FLAG_NEED_REPLY, pl, size, fds, nfds) ||
	    fe_recv(f, req, &v, sizeof(v)) != 8)
		return -1;
	return v ? 1 : 0;
}

static uint64_t fe_get_u64(struct fe *f, uint32_t req)
{
	uint64_t v = 0;
	if (fe_send(f, req, 0, NULL, 0, NULL, 0) || fe_recv(f, req, &v, 8) != 8)
		return ~0ull;
	return v;
}

static int fe_state(struct fe *f, uint32_t req, uint32_t idx, uint32_t num)
{
	struct vtb_vhu_vring_state s = { idx, num };
	return fe_ack(f, req, &s, sizeof(s), NULL, 0);
}

static int fe_vring_fd(struct fe *f, uint32_t req, uint32_t idx, int fd)
{
	uint64_t v = idx | (fd < 0 ? VTB_VHU_VRING_NOFD : 0);
	return fe_ack(f, req, &v, 8, &fd, fd < 0 ? 0 : 1);
}

static int fe_connect(struct fe *f)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, sock_path);
	for (int i = 0; i < TMO / 10; i++) {
		f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (!connect(f->sock, (struct sockaddr *)&a, sizeof(a)))
			return 0;
		close(f->sock);
		usleep(10000);
	}
	return -1;
}

static void fe_ram(struct fe *f)
{
	f->memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	CHECK(f->memfd >= 0 && !ftruncate(f->memfd, RAM));
	f->ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	CHECK(f->ram != MAP_FAILED);
	f->brk = 0;
}

static int fe_mem_table(struct fe *f)
{
	struct vtb_vhu_memory m = { .nregions = 1 };
	m.regions[0] = (struct vtb_vhu_region){ .gpa = GPA_BASE, .size = RAM, .uva = UVA_BASE, .mmap_offset = 0 };
	return fe_ack(f, VTB_VHU_SET_MEM_TABLE, &m, 8 + 32, &f->memfd, 1);
}

/* Ring i's driver side in RAM and its addresses to the server. */
static int fe_ring(struct fe *f, unsigned i, uint32_t base)
{
	struct ring *r = &f->r[i];
	struct vtb_vqd_params p = { .num = NUM, .event_idx = f->event_idx, .packed = f->packed };
	r->area = ram_alloc(f, vtb_ring_bytes(NUM, f->packed), 4096);
	p.ring = r->area;
	if (f->indirect) {
		p.indirect = ram_alloc(f, (size_t)NUM * 8 * 16, 16);
		p.indirect_addr = gpa(f, p.indirect);
		p.indirect_max = 8;
	}
	r->mem = aligned_alloc(64, (vtb_vqd_memsize(NUM) + 63) & ~(size_t)63);
	r->vq = vtb_vqd_init(r->mem, &p);
	if (!r->vq)
		return -1;
	struct vtb_vhu_vring_addr a = { .index = i, .desc = uva(f, r->area),
					.avail = uva(f, r->area + vtb_ring_driver_off(NUM, f->packed)),
					.used = uva(f, r->area + vtb_ring_device_off(NUM, f->packed)) };
	r->kick = f->nokick ? -1 : eventfd(0, EFD_CLOEXEC);
	r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fe_state(f, VTB_VHU_SET_VRING_NUM, i, NUM) || fe_ack(f, VTB_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) ||
	    fe_state(f, VTB_VHU_SET_VRING_BASE, i, base) || fe_vring_fd(f, VTB_VHU_SET_VRING_CALL, i, r->call) ||
	    fe_vring_fd(f, VTB_VHU_SET_VRING_ERR, i, r->err) || fe_vring_fd(f, VTB_VHU_SET_VRING_KICK, i, r->kick) ||
	    fe_state(f, VTB_VHU_SET_VRING_ENABLE, i, 1))
		return -1;
	return 0;
}

static uint64_t want_features(const struct fe *f, uint64_t offered, uint64_t dev)
{
	uint64_t w = VTB_BIT(VTB_F_VERSION_1) | VTB_BIT(VTB_VHU_F_PROTOCOL_FEATURES) | dev;
	if (f->packed)
		w |= VTB_BIT(VTB_F_RING_PACKED);
	if (f->event_idx)
		w |= VTB_BIT(VTB_F_EVENT_IDX);
	if (f->indirect)
		w |= VTB_BIT(VTB_F_INDIRECT_DESC);
	return w & offered;
}

/* Everything QEMU does at vhost start, in its order; 0 or -1. */
static int fe_open(struct fe *f, unsigned nq, uint64_t dev_features)
{
	f->nq = nq;
	fe_ram(f);
	if (fe_connect(f))
		return -1;
	uint64_t offered = fe_get_u64(f, VTB_VHU_GET_FEATURES);
	uint64_t w = want_features(f, offered, dev_features);
	CHECK(offered & VTB_BIT(VTB_VHU_F_PROTOCOL_FEATURES));
	CHECK(!(offered & VTB_BIT(VTB_F_ACCESS_PLATFORM)));	/* no IOTLB here */
	uint64_t pf = fe_get_u64(f, VTB_VHU_GET_PROTOCOL_FEATURES);
	CHECK(pf & VTB_BIT(VTB_VHU_PF_MQ));
	CHECK(pf & VTB_BIT(VTB_VHU_PF_REPLY_ACK));
	pf &= VTB_BIT(VTB_VHU_PF_MQ) | VTB_BIT(VTB_VHU_PF_REPLY_ACK) | VTB_BIT(VTB_VHU_PF_CONFIG) |
	      VTB_BIT(VTB_VHU_PF_RESET_DEVICE);
	if (fe_send(f, VTB_VHU_SET_PROTOCOL_FEATURES, 0, &pf, 8, NULL, 0))
		return -1;
	if (fe_get_u64(f, VTB_VHU_GET_QUEUE_NUM) < nq)
		return -1;
	if (fe_send(f, VTB_VHU_SET_OWNER, 0, NULL, 0, NULL, 0) || fe_ack(f, VTB_VHU_SET_FEATURES, &w, 8, NULL, 0) ||
	    fe_mem_table(f))
		return -1;
	uint32_t base = f->packed ? 0x80008000u : 0;	/* packed: both wrap counters start at 1 */
	for (unsigned i = 0; i < nq; i++)
		if (fe_ring(f, i, base))
			return -1;
	return 0;
}

static void fe_close(struct fe *f)
{
	close(f->sock);
	for (unsigned i = 0; i < f->nq; i++) {
		if (f->r[i].kick >= 0)
			close(f->r[i].kick);
		close(f->r[i].call);
		close(f->r[i].err);
		free(f->r[i].mem);
	}
	munmap(f->ram, RAM);
	close(f->memfd);
	memset(f, 0, sizeof(*f));
}

/* ------------------------------------------------------------ requests */
static int fe_add(struct fe *f, unsigned q, const struct vtb_sg *sg, unsigned nout, unsigned nin, void *tok)
{
	struct ring *r = &f->r[q];
	int e = vtb_vqd_add(r->vq, sg, nout, nin, tok, f->indirect && nout + nin > 1);
	if (e)
		return e;
	if (vtb_vqd_kick_prepare(r->vq) && r->kick >= 0) {
		uint64_t one = 1;
		if (write(r->kick, &one, 8) != 8)
			return -1;
	}
	return 0;
}

/* The next completion on ring q (its token), or NULL after the timeout. */
static void *fe_wait(struct fe *f, unsigned q, uint32_t *len)
{
	struct ring *r = &f->r[q];
	for (int spins = 0; spins < 1000; spins++) {
		void *t = vtb_vqd_get_used(r->vq, len);
		if (t)
			return t;
		if (vtb_vqd_enable_cb(r->vq))
			continue;
		struct pollfd p = { .fd = r->call, .events = POLLIN };
		if (poll(&p, 1, TMO) != 1)
			return NULL;
		uint64_t v;
		if (read(r->call, &v, 8) != 8)
			return NULL;
		vtb_vqd_disable_cb(r->vq);
	}
	return NULL;
}

static unsigned blk_ring;	/* the request queue blk_req uses */

/* One blk request; its status byte, or -1 when it never completed. */
static int blk_req(struct fe *f, uint32_t type, uint64_t sector, void *data, uint32_t len, bool in)
{
	struct vtb_blk_outhdr *h = ram_alloc(f, sizeof(*h), 16);
	uint8_t *status = ram_alloc(f, 1, 1);
	*h = (struct vtb_blk_outhdr){ .type = type, .sector = sector };
	*status = 0xee;
	struct vtb_sg sg[3] = { { gpa(f, h), sizeof(*h) } };
	unsigned n = 1, nout = 1;
	if (len) {
		sg[n++] = (struct vtb_sg){ gpa(f, data), len };
		if (!in)
			nout++;
	}
	sg[n++] = (struct vtb_sg){ gpa(f, status), 1 };
	if (fe_add(f, blk_ring, sg, nout, n - nout, status))
		return -1;
	uint32_t used;
	if (fe_wait(f, blk_ring, &used) != status)
		return -1;
	return *status;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

/* Writes, reads back, and finds the bytes in the backing file. */
static void blk_io(struct fe *f, uint64_t sector, uint32_t len, unsigned seed)
{
	unsigned char *w = ram_alloc(f, len, 512), *r = ram_alloc(f, len, 512);
	fill(w, len, seed);
	CHECK_EQ(blk_req(f, VTB_BLK_T_OUT, sector, w, len, false), VTB_BLK_S_OK);
	memset(r, 0, len);
	CHECK_EQ(blk_req(f, VTB_BLK_T_IN, sector, r, len, true), VTB_BLK_S_OK);
	CHECK(!memcmp(w, r, len));
	unsigned char *disk = malloc(len);
	int fd = open(backing, O_RDONLY);
	CHECK(pread(fd, disk, len, (off_t)(sector * 512)) == (ssize_t)len);
	CHECK(!memcmp(disk, w, len));
	close(fd);
	free(disk);
}

static bool file_zero(uint64_t off, size_t len)
{
	unsigned char *b = malloc(len);
	int fd = open(backing, O_RDONLY);
	bool z = pread(fd, b, len, (off_t)off) == (ssize_t)len;
	for (size_t i = 0; z && i < len; i++)
		z = !b[i];
	close(fd);
	free(b);
	return z;
}

static void blk_dwz(struct fe *f, uint32_t type, uint64_t sector, uint32_t n)
{
	struct vtb_blk_dwz *d = ram_alloc(f, sizeof(*d), 16);
	*d = (struct vtb_blk_dwz){ .sector = sector, .num_sectors = n };
	struct vtb_blk_outhdr *h = ram_alloc(f, sizeof(*h), 16);
	uint8_t *status = ram_alloc(f, 1, 1);
	*h = (struct vtb_blk_outhdr){ .type = type };
	*status = 0xee;
	struct vtb_sg sg[3] = { { gpa(f, h), sizeof(*h) }, { gpa(f, d), sizeof(*d) }, { gpa(f, status), 1 } };
	uint32_t used;
	CHECK_EQ(fe_add(f, 0, sg, 2, 1, status), 0);
	CHECK(fe_wait(f, 0, &used) == status);
	CHECK_EQ(*status, VTB_BLK_S_OK);
}

static void make_backing(void)
{
	int fd = open(backing, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && !ftruncate(fd, 8 << 20));
	close(fd);
}

/* ------------------------------------------------------------ tests */
static void test_blk(void)
{
	static const struct { bool packed, eidx, ind; } mode[4] = {
		{ false, true, false }, { false, false, true }, { true, true, true }, { true, false, false },
	};
	make_backing();
	pid_t pid = serve("blk", NULL, NULL, 4);
	for (unsigned m = 0; m < 4; m++) {
		struct fe f = { .packed = mode[m].packed, .event_idx = mode[m].eidx, .indirect = mode[m].ind };
		CHECK_EQ(fe_open(&f, 1, VTB_BLK_FEATURES), 0);
		/* Config space through GET_CONFIG: the file's capacity. */
		struct vtb_vhu_config c = { .offset = 0, .size = sizeof(struct vtb_blk_config) };
		struct vtb_vhu_config back;
		CHECK_EQ(fe_send(&f, VTB_VHU_GET_CONFIG, 0, &c, VTB_VHU_CONFIG_HDR + c.size, NULL, 0), 0);
		CHECK_EQ(fe_recv(&f, VTB_VHU_GET_CONFIG, &back, sizeof(back)), (int)(VTB_VHU_CONFIG_HDR + c.size));
		struct vtb_blk_config bc;
		memcpy(&bc, back.payload, sizeof(bc));
		CHECK_EQ(bc.capacity, (8 << 20) / 512);
		for (unsigned k = 0; k < 20; k++)	/* past the ring's size in descriptors */
			blk_io(&f, 8 + 8 * k + m * 200, 512 * (1 + k % 8), m * 100 + k);
		CHECK_EQ(blk_req(&f, VTB_BLK_T_FLUSH, 0, NULL, 0, false), VTB_BLK_S_OK);
		unsigned char *id = ram_alloc(&f, VTB_BLK_ID_BYTES, 16);
		CHECK_EQ(blk_req(&f, VTB_BLK_T_GET_ID, 0, id, VTB_BLK_ID_BYTES, true), VTB_BLK_S_OK);
		CHECK(!memcmp(id, "vtbench-serve-0", 15));
		/* Discard and write-zeroes leave zeroes in the file. */
		uint64_t s = 4096 + 64 * m;
		blk_io(&f, s, 4096 * 4, 7);
		blk_dwz(&f, VTB_BLK_T_DISCARD, s, 8);
		CHECK(file_zero(s * 512, 4096));
		blk_dwz(&f, VTB_BLK_T_WRITE_ZEROES, s + 8, 8);
		CHECK(file_zero((s + 8) * 512, 4096));
		CHECK(!file_zero((s + 16) * 512, 4096));	/* the rest is still written */
		fe_close(&f);
	}
	reap(pid);
	/* 4 connections of 20 write+read, flush, id, 1 write+read, 2 dwz: 46 each */
	CHECK_EQ(stat_of("connections", -2), 4);
	CHECK_EQ(stat_of("ops", 0), 4 * 46);
	CHECK_EQ(stat_of("errors", -1), 0);
	CHECK_EQ(stat_of("refused", -2), 0);
	CHECK(stat_of("notifies", 0) > 0);
}

/* queues=3: three request queues, a worker and a model each, all on the
 * one backing file; each answers GET_ID with its own index. */
static void test_blk_mq(void)
{
	make_backing();
	pid_t pid = serve("blk", "queues=3", "cpus=0-1", 1);
	struct fe f = { .event_idx = true };
	CHECK_EQ(fe_open(&f, 3, VTB_BLK_FEATURES | VTB_BIT(12)), 0);
	for (unsigned q = 0; q < 3; q++) {
		blk_ring = q;
		for (unsigned k = 0; k < 5; k++)
			blk_io(&f, 1000 * q + 8 * k, 4096, q * 10 + k);
		unsigned char *id = ram_alloc(&f, VTB_BLK_ID_BYTES, 16);
		CHECK_EQ(blk_req(&f, VTB_BLK_T_GET_ID, 0, id, VTB_BLK_ID_BYTES, true), VTB_BLK_S_OK);
		char want[20];
		snprintf(want, sizeof(want), "vtbench-serve-%u", q);
		CHECK(!memcmp(id, want, strlen(want)));
	}
	blk_ring = 0;
	fe_close(&f);
	reap(pid);
	for (int q = 0; q < 3; q++)
		CHECK_EQ(stat_of("ops", q), 11);
}

/* GET_VRING_BASE stops the ring at its base; a restart there goes on, and
 * a reconnect starts afresh (split in event mode, packed in poll mode). */
static void test_restart(void)
{
	make_backing();
	for (int packed = 0; packed < 2; packed++) {
		pid_t pid = serve("blk", packed ? "notify=poll" : "notify=event", NULL, 2);
		struct fe f = { .packed = packed, .event_idx = true };
		CHECK_EQ(fe_open(&f, 1, VTB_BLK_FEATURES), 0);
		for (unsigned k = 0; k < 3; k++)
			blk_io(&f, 16 * k, 1024, k);
		struct vtb_vhu_vring_state s = { 0, 0 }, got = { 9, 9 };
		CHECK_EQ(fe_send(&f, VTB_VHU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0), 0);
		CHECK_EQ(fe_recv(&f, VTB_VHU_GET_VRING_BASE, &got, sizeof(got)), 8);
		CHECK_EQ(got.index, 0);
		/* 6 requests of 3 descriptors (indirect off): packed's position
		 * is in descriptors, with both wrap counters still 1. */
		uint32_t want = packed ? (18u | 0x8000u) | ((18u | 0x8000u) << 16) : 6u;
		CHECK_EQ(got.num, want);
		/* Stopped: a request now is not served ... */
		unsigned char *w = ram_alloc(&f, 512, 512);
		fill(w, 512, 99);
		/* ... until the ring restarts at the base with a new kick fd. */
		CHECK_EQ(fe_state(&f, VTB_VHU_SET_VRING_BASE, 0, got.num), 0);
		close(f.r[0].kick);
		f.r[0].kick = eventfd(0, EFD_CLOEXEC);
		CHECK_EQ(fe_vring_fd(&f, VTB_VHU_SET_VRING_KICK, 0, f.r[0].kick), 0);
		for (unsigned k = 0; k < 3; k++)
			blk_io(&f, 64 + 16 * k, 2048, 10 + k);
		fe_close(&f);
		/* Reconnect: a new front-end, a new ring from 0, this one never
		 * kicking (NOFD): the server looks at the ring by itself. */
		struct fe g = { .packed = packed, .nokick = true };
		CHECK_EQ(fe_open(&g, 1, VTB_BLK_FEATURES), 0);
		blk_io(&g, 200, 4096, 42);
		fe_close(&g);
		reap(pid);
		CHECK_EQ(stat_of("ops", 0), 12 + 2);
		CHECK_EQ(stat_of("connections", -2), 2);
	}
}

static void test_net_echo(void)
{
	pid_t pid = serve("net", "mode=echo", NULL, 2);
	for (int packed = 0; packed < 2; packed++) {
		struct fe f = { .packed = packed, .event_idx = !packed, .indirect = packed, .nokick = packed };
		CHECK_EQ(fe_open(&f, 2, VTB_NET_FEATURES), 0);
		static const uint32_t sizes[] = { 42, 60, 64, 590, 1514, 14 };
		for (unsigned i = 0; i < VTB_ARRAY_SIZE(sizes); i++) {
			uint32_t n = sizes[i];
			unsigned char *rx = ram_alloc(&f, 12 + 1514, 64);
			unsigned char *tx = ram_alloc(&f, 12 + n, 64);
			memset(tx, 0, 12);
			fill(tx + 12, n, i + 3);	/* not vtbench's ethertype: any frame */
			struct vtb_sg r = { gpa(&f, rx), 12 + 1514 }, t = { gpa(&f, tx), 12 + n };
			CHECK_EQ(fe_add(&f, VTB_NET_Q_RX, &r, 0, 1, rx), 0);
			CHECK_EQ(fe_add(&f, VTB_NET_Q_TX, &t, 1, 0, tx), 0);
			uint32_t len = 0;
			CHECK(fe_wait(&f, VTB_NET_Q_TX, &len) == tx);
			CHECK(fe_wait(&f, VTB_NET_Q_RX, &len) == rx);
			CHECK_EQ(len, 12 + n);
			CHECK(!memcmp(rx + 12, tx + 12, n));
			struct vtb_net_hdr_v1 h;
			memcpy(&h, rx, sizeof(h));
			CHECK_EQ(h.num_buffers, 1);
		}
		fe_close(&f);
	}
	reap(pid);
	CHECK_EQ(stat_of("ops", VTB_NET_Q_TX), 12);
	CHECK_EQ(stat_of("ops", VTB_NET_Q_RX), 12);
	CHECK_EQ(stat_of("errors", -1), 0);
}

static uint32_t scmi_cmd(struct fe *f, uint32_t id, const uint32_t *pa, unsigned np, uint32_t *resp, uint32_t cap)
{
	uint32_t *m = ram_alloc(f, 4 * (np + 1), 4);
	uint32_t *r = ram_alloc(f, cap, 4);
	m[0] = VTB_SCMI_HDR(id, 0, VTB_SCMI_PROTO_BASE, 7);
	if (np)
		memcpy(m + 1, pa, 4 * np);
	struct vtb_sg sg[2] = { { gpa(f, m), 4 * (np + 1) }, { gpa(f, r), cap } };
	uint32_t len = 0;
	if (fe_add(f, VTB_SCMI_Q_CMD, sg, 1, 1, r) || fe_wait(f, VTB_SCMI_Q_CMD, &len) != r)
		return 0;
	memcpy(resp, r, len < cap ? len : cap);
	return len;
}

static void test_scmi(void)
{
	pid_t pid = serve("scmi", NULL, NULL, 1);
	struct fe f = { .event_idx = true };
	CHECK_EQ(fe_open(&f, 2, VTB_BIT(VTB_SCMI_F_P2A_CHANNELS)), 0);
	uint32_t r[32];
	uint32_t n = scmi_cmd(&f, VTB_SCMI_BASE_DISCOVER_VENDOR, NULL, 0, r, sizeof(r));
	/* header, status, a 16-byte NUL-terminated vendor name */
	CHECK_EQ(n, 4 + 4 + 16);
	CHECK_EQ(r[0], VTB_SCMI_HDR(VTB_SCMI_BASE_DISCOVER_VENDOR, 0, VTB_SCMI_PROTO_BASE, 7));
	CHECK_EQ((int32_t)r[1], VTB_SCMI_SUCCESS);
	CHECK(memchr(&r[2], 0, 16) != NULL && ((char *)&r[2])[0]);
	uint32_t skip = 0;
	n = scmi_cmd(&f, VTB_SCMI_BASE_DISCOVER_LIST_PROTOCOLS, &skip, 1, r, sizeof(r));
	CHECK(n >= 12);
	CHECK_EQ((int32_t)r[1], VTB_SCMI_SUCCESS);
	CHECK_EQ(r[2], 3);	/* PERF, CLOCK, SENSOR: BASE is not listed */
	const uint8_t *p = (const uint8_t *)&r[3];
	CHECK(p[0] == VTB_SCMI_PROTO_PERF && p[1] == VTB_SCMI_PROTO_CLOCK && p[2] == VTB_SCMI_PROTO_SENSOR);
	fe_close(&f);
	reap(pid);
	CHECK_EQ(stat_of("ops", VTB_SCMI_Q_CMD), 2);
}

/* Hostile messages: each refused (an ack of failure, or the connection
 * closed with a log line), fds never leaked, and the server serves a good
 * front-end afterwards. */
static void test_hostile(void)
{
	make_backing();
	pid_t pid = serve("blk", NULL, NULL, 6);
	struct fe f = { .event_idx = true };
	CHECK_EQ(fe_open(&f, 1, VTB_BLK_FEATURES), 0);
	unsigned fds0 = open_fds(pid);
	uint64_t v = 0;
	/* wrong sizes */
	unsigned char junk[64] = { 0 };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_FEATURES, junk, 4, NULL, 0), 1);
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_NUM, junk, 8 + 4, NULL, 0), 1);
	struct vtb_vhu_vring_addr a = { 0 };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_ADDR, &a, sizeof(a) - 8, NULL, 0), 1);
	/* region tables */
	struct vtb_vhu_memory m = { .nregions = 9 };
	unsigned char big[8 + 32 * 9] = { 0 };
	memcpy(big, &m, 8);
	int nine[9];
	for (int i = 0; i < 9; i++)
		nine[i] = f.memfd;
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_MEM_TABLE, big, sizeof(big), nine, 8), 1);
	m.nregions = 2;	/* overlapping guest ranges */
	m.regions[0] = (struct vtb_vhu_region){ GPA_BASE, RAM, UVA_BASE, 0 };
	m.regions[1] = (struct vtb_vhu_region){ GPA_BASE + 4096, 8192, UVA_BASE + RAM, 0 };
	int two[2] = { f.memfd, f.memfd };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_MEM_TABLE, &m, 8 + 64, two, 2), 1);
	m.nregions = 1;	/* wrapping */
	m.regions[0] = (struct vtb_vhu_region){ ~0ull - 4095, 8192, UVA_BASE, 0 };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_MEM_TABLE, &m, 8 + 32, two, 1), 1);
	m.regions[0] = (struct vtb_vhu_region){ GPA_BASE, 0, UVA_BASE, 0 };	/* empty */
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_MEM_TABLE, &m, 8 + 32, two, 1), 1);
	m.regions[0] = (struct vtb_vhu_region){ GPA_BASE, RAM, UVA_BASE, RAM };	/* past the fd */
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_MEM_TABLE, &m, 8 + 32, two, 1), 1);
	m.regions[0] = (struct vtb_vhu_region){ GPA_BASE, RAM, UVA_BASE, 0 };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_MEM_TABLE, &m, 8 + 32, NULL, 0), 1);	/* missing fd */
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_MEM_TABLE, &m, 8 + 32, two, 2), 1);	/* one fd too many */
	/* extra fds on requests that carry none, or one */
	struct vtb_vhu_vring_state st = { 0, NUM };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_NUM, &st, sizeof(st), two, 2), 1);
	uint64_t kick = 0;
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_CALL, &kick, 8, two, 2), 1);
	kick = VTB_VHU_VRING_NOFD;
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_CALL, &kick, 8, two, 1), 1);
	kick = 0;
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_CALL, &kick, 8, NULL, 0), 1);	/* fd missing */
	/* ring index out of range, bad sizes */
	st = (struct vtb_vhu_vring_state){ 1, NUM };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	st = (struct vtb_vhu_vring_state){ 200, 1 };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0), 1);
	kick = 5;
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_KICK, &kick, 8, two, 1), 1);
	/* unknown and unoffered requests: refused, not fatal */
	CHECK_EQ(fe_ack(&f, 99, NULL, 0, NULL, 0), 1);
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_LOG_BASE, &v, 8, NULL, 0), 1);
	CHECK_EQ(fe_ack(&f, VTB_VHU_IOTLB_MSG, &v, 8, NULL, 0), 1);
	/* the rings still run: a request is served on the same connection */
	blk_io(&f, 0, 512, 1);
	/* no fd kept from any refused message */
	CHECK_EQ(open_fds(pid), fds0);
	/* ring addresses outside every region (a stopped ring) */
	struct vtb_vhu_vring_state s0 = { 0, 0 };
	CHECK_EQ(fe_send(&f, VTB_VHU_GET_VRING_BASE, 0, &s0, sizeof(s0), NULL, 0), 0);
	CHECK_EQ(fe_recv(&f, VTB_VHU_GET_VRING_BASE, &s0, sizeof(s0)), 8);
	a = (struct vtb_vhu_vring_addr){ .index = 0, .desc = UVA_BASE + RAM, .avail = UVA_BASE + 8192,
					 .used = UVA_BASE + 12288 };
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
	a.desc = UVA_BASE - 4096;
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
	st = (struct vtb_vhu_vring_state){ 0, 3 };	/* not a power of two */
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	st.num = 65536;
	CHECK_EQ(fe_ack(&f, VTB_VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0), 1);
	/* a request with a reply it cannot get: the connection closes */
	struct vtb_vhu_vring_state bad = { 7, 0 };
	CHECK_EQ(fe_send(&f, VTB_VHU_GET_VRING_BASE, 0, &bad, sizeof(bad), NULL, 0), 0);
	CHECK_EQ(fe_recv(&f, VTB_VHU_GET_VRING_BASE, &bad, sizeof(bad)), -1);
	fe_close(&f);
	CHECK(alive(pid));

	/* A descriptor outside every region breaks its ring (err fd), the
	 * server lives. */
	struct fe g = { .event_idx = true };
	CHECK_EQ(fe_open(&g, 1, VTB_BLK_FEATURES), 0);
	struct vtb_blk_outhdr *h = ram_alloc(&g, sizeof(*h), 16);
	uint8_t *status = ram_alloc(&g, 1, 1);
	*h = (struct vtb_blk_outhdr){ .type = VTB_BLK_T_IN };
	struct vtb_sg sg[3] = { { gpa(&g, h), 16 }, { GPA_BASE + RAM, 512 }, { gpa(&g, status), 1 } };
	CHECK_EQ(fe_add(&g, 0, sg, 1, 2, status), 0);
	struct pollfd p = { .fd = g.r[0].err, .events = POLLIN };
	CHECK_EQ(poll(&p, 1, TMO), 1);
	uint32_t len;
	CHECK(vtb_vqd_get_used(g.r[0].vq, &len) == NULL);
	/* It stays broken when the worker restarts for another reason (a new
	 * call fd): a good request is not served... */
	close(g.r[0].call);
	g.r[0].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK_EQ(fe_vring_fd(&g, VTB_VHU_SET_VRING_CALL, 0, g.r[0].call), 0);
	unsigned char *w = ram_alloc(&g, 512, 512);
	uint8_t *st2 = ram_alloc(&g, 1, 1);
	struct vtb_blk_outhdr *h2 = ram_alloc(&g, sizeof(*h2), 16);
	*h2 = (struct vtb_blk_outhdr){ .type = VTB_BLK_T_OUT, .sector = 1 };
	struct vtb_sg sg2[3] = { { gpa(&g, h2), 16 }, { gpa(&g, w), 512 }, { gpa(&g, st2), 1 } };
	CHECK_EQ(fe_add(&g, 0, sg2, 2, 1, st2), 0);
	usleep(200000);
	CHECK(vtb_vqd_get_used(g.r[0].vq, &len) == NULL);
	/* ... and its base, when the front-end stops it, counts the bad
	 * chain as consumed and not the good one, never popped. */
	struct vtb_vhu_vring_state s1 = { 0, 0 };
	CHECK_EQ(fe_send(&g, VTB_VHU_GET_VRING_BASE, 0, &s1, sizeof(s1), NULL, 0), 0);
	CHECK_EQ(fe_recv(&g, VTB_VHU_GET_VRING_BASE, &s1, sizeof(s1)), 8);
	CHECK_EQ(s1.num, 1);	/* the bad chain popped; the good one never was */
	fe_close(&g);
	CHECK(alive(pid));

	/* Headers the stream cannot survive: each closes its connection. */
	struct fe x = { 0 };
	CHECK_EQ(fe_connect(&x), 0);
	struct vtb_vhu_hdr hh = { VTB_VHU_GET_FEATURES, VTB_VHU_VERSION, 100000 };
	CHECK(send(x.sock, &hh, sizeof(hh), MSG_NOSIGNAL) == sizeof(hh));
	CHECK_EQ(fe_recv(&x, VTB_VHU_GET_FEATURES, &v, 8), -1);
	close(x.sock);
	CHECK_EQ(fe_connect(&x), 0);
	hh = (struct vtb_vhu_hdr){ VTB_VHU_GET_FEATURES, 2, 0 };	/* version 2 */
	CHECK(send(x.sock, &hh, sizeof(hh), MSG_NOSIGNAL) == sizeof(hh));
	CHECK_EQ(fe_recv(&x, VTB_VHU_GET_FEATURES, &v, 8), -1);
	close(x.sock);
	CHECK_EQ(fe_connect(&x), 0);	/* more fds than any message carries */
	int many[12];
	for (int i = 0; i < 12; i++)
		many[i] = x.sock;
	CHECK_EQ(fe_send(&x, VTB_VHU_GET_FEATURES, 0, NULL, 0, many, 12), 0);
	CHECK_EQ(fe_recv(&x, VTB_VHU_GET_FEATURES, &v, 8), -1);
	close(x.sock);
	CHECK(alive(pid));

	/* And a good front-end is served after all of it. */
	struct fe ok = { .event_idx = true };
	CHECK_EQ(fe_open(&ok, 1, VTB_BLK_FEATURES), 0);
	blk_io(&ok, 100, 4096, 5);
	fe_close(&ok);
	reap(pid);
	CHECK_EQ(stat_of("refused", -2), 28);
	CHECK_EQ(stat_of("errors", 0), 1);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vtb-vhu-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(sock_path, sizeof(sock_path), "%s/s.sock", dir);
	snprintf(stats_path, sizeof(stats_path), "%s/stats.jsonl", dir);
	snprintf(backing, sizeof(backing), "%s/disk.img", dir);
	signal(SIGPIPE, SIG_IGN);
	test_blk();
	test_blk_mq();
	test_restart();
	test_net_echo();
	test_scmi();
	test_hostile();
	unlink(sock_path);
	unlink(stats_path);
	unlink(backing);
	rmdir(dir);
	return vtb_test_end("test_vhost_user");
}
