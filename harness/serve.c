/* `vtbench serve device=blk|net|scmi socket=PATH ...`: the device models of
 * workloads/ behind transports/vhost_user's server, for QEMU, DPDK's
 * virtio-user or any vhost-user front-end. */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve.h"
#include "../transports/vhost_user/vhu_server.h"
#include "../workloads/blk/vtb_blk.h"
#include "../workloads/net/vtb_net.h"
#include "../workloads/scmi/vtb_scmi.h"

#define VTB_BLK_F_MQ 12

struct serve_cfg {
	const char *device, *socket, *backing, *stats, *mode;
	unsigned queues;
	bool poll;
	bool trace;
	int cpus[64];
	unsigned ncpus;
	unsigned conns;
	unsigned ring;
	int size;
	uint64_t seed;
};

/* ------------------------------------------------------------ blk */
struct serve_blk {
	int fd;
	uint64_t capacity;
	unsigned queues;
	struct vtb_blk_storage st;
};

static int st_read(void *ctx, uint64_t off, void *buf, uint32_t len)
{
	struct serve_blk *b = ctx;
	while (len) {
		ssize_t n = pread(b->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {	/* past a file that shrank: reads as zeroes */
			memset(buf, 0, len);
			return 0;
		}
		buf = (char *)buf + n;
		off += (uint64_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int st_write(void *ctx, uint64_t off, const void *buf, uint32_t len)
{
	struct serve_blk *b = ctx;
	while (len) {
		ssize_t n = pwrite(b->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (const char *)buf + n;
		off += (uint64_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int st_flush(void *ctx)
{
	struct serve_blk *b = ctx;
	return fdatasync(b->fd) ? -errno : 0;
}

static int st_discard(void *ctx, uint64_t off, uint64_t len)
{
	struct serve_blk *b = ctx;
	return fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ? -errno : 0;
}

static int st_write_zeroes(void *ctx, uint64_t off, uint64_t len)
{
	struct serve_blk *b = ctx;
	if (!fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	/* A file system without ZERO_RANGE: a hole reads as zeroes too. */
	return st_discard(ctx, off, len);
}

static int blk_init(void *arg, void *mem, unsigned g, const struct vtb_dev_io *io, uint64_t acked)
{
	struct serve_blk *b = arg;
	char id[VTB_BLK_ID_BYTES + 1];
	(void)acked;
	snprintf(id, sizeof(id), "vtbench-serve-%u", g);
	return vtb_blk_init(mem, b->capacity, &b->st, io, id) ? 0 : -EINVAL;
}

static int blk_process(void *mem, unsigned budget)
{
	return vtb_blk_process(mem, budget);
}

static uint32_t blk_wake(const void *mem)
{
	(void)mem;
	return 1;
}

static uint32_t blk_config(void *arg, void *buf, uint32_t cap)
{
	struct serve_blk *b = arg;
	struct vtb_blk_config c;
	/* The model's config from an instance that serves nothing. */
	_Alignas(16) static unsigned char mem[1024];
	_Static_assert(sizeof(mem) >= sizeof(struct vtb_blk_config), "config scratch");
	struct vtb_dev_io none = { 0 };
	struct vtb_blk *m = vtb_blk_memsize() <= sizeof(mem) ? vtb_blk_init(mem, b->capacity, &b->st, &none, NULL) : NULL;
	if (!m)
		return 0;
	vtb_blk_config(m, &c);
	c.num_queues = vtb_le16((uint16_t)b->queues);
	uint32_t n = sizeof(c) < cap ? (uint32_t)sizeof(c) : cap;
	memcpy(buf, &c, n);
	return n;
}

static int blk_open(const struct serve_cfg *c, struct serve_blk *b, struct vtb_vhu_model *m)
{
	struct stat st;
	if (!c->backing) {
		fprintf(stderr, "vtbench serve: device=blk needs backing=FILE\n");
		return -EINVAL;
	}
	b->fd = open(c->backing, O_RDWR | O_CLOEXEC);
	if (b->fd < 0 || fstat(b->fd, &st)) {
		fprintf(stderr, "vtbench serve: backing=%s: %s\n", c->backing, strerror(errno));
		return -errno;
	}
	if (st.st_size <= 0 || st.st_size % VTB_BLK_SECTOR) {
		fprintf(stderr, "vtbench serve: backing=%s: size %lld is not a positive multiple of 512\n",
			c->backing, (long long)st.st_size);
		close(b->fd);
		return -EINVAL;
	}
	b->capacity = (uint64_t)st.st_size;
	b->queues = c->queues;
	b->st = (struct vtb_blk_storage){ .ctx = b, .read = st_read, .write = st_write, .flush = st_flush,
					  .discard = st_discard, .write_zeroes = st_write_zeroes };
	*m = (struct vtb_vhu_model){
		.name = "blk", .groups = c->queues, .rings = 1,
		.features = VTB_BLK_FEATURES | (c->queues > 1 ? VTB_BIT(VTB_BLK_F_MQ) : 0),
		.memsize = vtb_blk_memsize(), .init = blk_init, .process = blk_process,
		.wake_mask = blk_wake, .config = blk_config, .arg = b,
	};
	return 0;
}

/* ------------------------------------------------------------ net */
struct serve_net {
	enum vtb_net_mode mode;
	int size;
	uint64_t seed;
};

static int net_init(void *arg, void *mem, unsigned g, const struct vtb_dev_io *io, uint64_t acked)
{
	struct serve_net *n = arg;
	(void)g;
	(void)acked;
	return vtb_net_init(mem, n->mode, n->size, n->seed, false, io) ? 0 : -EINVAL;
}

static int net_process(void *mem, unsigned budget)
{
	return vtb_net_process(mem, budget);
}

static uint32_t net_wake(const void *mem)
{
	return vtb_net_wake_mask(mem);
}

static uint32_t net_config(void *arg, void *buf, uint32_t cap)
{
	struct serve_net *n = arg;
	struct vtb_net_config c;
	_Alignas(64) static unsigned char mem[sizeof(void *) * 4096];
	struct vtb_dev_io none = { 0 };
	struct vtb_net *m = vtb_net_memsize() <= sizeof(mem) ? vtb_net_init(mem, n->mode, n->size, n->seed, false, &none) : NULL;
	if (!m)
		return 0;
	vtb_net_config(m, &c);
	uint32_t k = sizeof(c) < cap ? (uint32_t)sizeof(c) : cap;
	memcpy(buf, &c, k);
	return k;
}

/* mode=guest: what the qemu platform's peer counts, for its cross-check. */
static void net_stats_json(const void *mem, FILE *f)
{
	const struct vtb_net_stats *s = vtb_net_stats(mem);
	fprintf(f, ",\"peer\":{\"frames\":%llu,\"bytes\":%llu,\"bad\":%llu,\"gaps\":%llu,\"other\":%llu,"
		"\"pulls\":%llu,\"sent\":%llu,\"sent_bytes\":%llu,\"drops\":%llu}",
		(unsigned long long)s->peer_frames, (unsigned long long)s->peer_bytes, (unsigned long long)s->peer_bad,
		(unsigned long long)s->peer_gaps, (unsigned long long)s->peer_other, (unsigned long long)s->peer_pulls,
		(unsigned long long)s->peer_sent, (unsigned long long)s->peer_sent_bytes, (unsigned long long)s->drops);
}

static int net_open(const struct serve_cfg *c, struct serve_net *n, struct vtb_vhu_model *m)
{
	if (c->queues != 1) {
		fprintf(stderr, "vtbench serve: device=net serves one queue pair (queues=1)\n");
		return -EINVAL;
	}
	if (!c->mode || !strcmp(c->mode, "echo"))
		n->mode = VTB_NET_ECHO;
	else if (!strcmp(c->mode, "sink"))
		n->mode = VTB_NET_SINK;
	else if (!strcmp(c->mode, "source"))
		n->mode = VTB_NET_SOURCE;
	else if (!strcmp(c->mode, "guest"))
		n->mode = VTB_NET_GUEST;
	else {
		fprintf(stderr, "vtbench serve: mode=%s: echo, sink, source or guest\n", c->mode);
		return -EINVAL;
	}
	n->size = c->size;
	n->seed = c->seed;
	*m = (struct vtb_vhu_model){
		.name = "net", .groups = 1, .rings = 2, .features = VTB_NET_FEATURES,
		.memsize = vtb_net_memsize(), .init = net_init, .process = net_process,
		.wake_mask = net_wake, .config = net_config, .arg = n,
		.stats_json = n->mode == VTB_NET_GUEST ? net_stats_json : NULL,
	};
	return 0;
}

/* ------------------------------------------------------------ scmi */
static int scmi_init(void *arg, void *mem, unsigned g, const struct vtb_dev_io *io, uint64_t acked)
{
	const uint64_t *seed = arg;
	(void)g;
	struct vtb_scmi *s = vtb_scmi_init(mem, *seed, io);
	if (!s)
		return -EINVAL;
	vtb_scmi_set_events(s, acked & VTB_BIT(VTB_SCMI_F_P2A_CHANNELS));
	return 0;
}

static int scmi_process(void *mem, unsigned budget)
{
	return vtb_scmi_process(mem, budget);
}

static uint32_t scmi_wake(const void *mem)
{
	return vtb_scmi_wake_mask(mem);
}

/* Each sensor's readings so far and the last value given, so a run can
 * check what a guest read against what the server sent. */
static void scmi_stats_json(const void *mem, FILE *f)
{
	fputs(",\"sensors\":[", f);
	for (unsigned i = 0; i < VTB_SCMI_NUM_SENSORS; i++)
		fprintf(f, "%s{\"reads\":%llu,\"last\":%llu}", i ? "," : "",
			(unsigned long long)vtb_scmi_sensor_reads(mem, i),
			(unsigned long long)vtb_scmi_sensor_last(mem, i));
	fputc(']', f);
}

static int scmi_open(const struct serve_cfg *c, uint64_t *seed, struct vtb_vhu_model *m)
{
	if (c->queues != 1) {
		fprintf(stderr, "vtbench serve: device=scmi serves one command and one event queue (queues=1)\n");
		return -EINVAL;
	}
	*seed = c->seed;
	*m = (struct vtb_vhu_model){
		.name = "scmi", .groups = 1, .rings = 2, .features = VTB_BIT(VTB_SCMI_F_P2A_CHANNELS),
		.memsize = vtb_scmi_memsize(), .init = scmi_init, .process = scmi_process,
		.wake_mask = scmi_wake, .stats_json = scmi_stats_json, .arg = seed,
	};
	return 0;
}

/* ------------------------------------------------------------ CLI */
static volatile sig_atomic_t serve_quit, serve_dump;

static void on_quit(int sig)
{
	(void)sig;
	serve_quit = 1;
}

static void on_dump(int sig)
{
	(void)sig;
	serve_dump = 1;
}

static int parse_cpus(const char *v, struct serve_cfg *c)
{
	char *end;
	c->ncpus = 0;
	while (*v) {
		long a = strtol(v, &end, 10), b;
		if (end == v || a < 0 || a >= CPU_SETSIZE)
			return -1;
		b = a;
		if (*end == '-') {
			v = end + 1;
			b = strtol(v, &end, 10);
			if (end == v || b < a || b >= CPU_SETSIZE)
				return -1;
		}
		for (long i = a; i <= b; i++) {
			if (c->ncpus >= VTB_ARRAY_SIZE(c->cpus))
				return -1;
			c->cpus[c->ncpus++] = (int)i;
		}
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		v = end;
	}
	return c->ncpus ? 0 : -1;
}

static bool parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long x = strtoul(v, &end, 0);
	if (!*v || *end || x < lo || x > hi)
		return false;
	*out = (unsigned)x;
	return true;
}

static void serve_usage(FILE *f)
{
	fputs("usage: vtbench serve device=blk|net|scmi socket=PATH [backing=FILE] [queues=N]\n"
	      "                     [notify=event|poll] [cpus=LIST] [mode=echo|sink|source|guest] [size=BYTES]\n"
	      "                     [ring=MAX] [seed=N] [stats=FILE] [trace=0|1] [conns=N | --once]\n"
	      "  a vhost-user backend: listens on PATH, serves one front-end at a time and\n"
	      "  waits for the next after a disconnect (conns=N: exit after N, --once: after 1).\n"
	      "  Counters as one JSON line on SIGUSR1 and at exit, to stats=FILE (appended)\n"
	      "  or stdout; log lines (refused messages with the request name) on stderr.\n", f);
}

static int parse(int argc, char **argv, struct serve_cfg *c)
{
	*c = (struct serve_cfg){ .queues = 1, .size = 64, .seed = 1, .ring = 1024 };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = strchr(a, '=');
		if (!strcmp(a, "--once")) {
			c->conns = 1;
			continue;
		}
		if (!eq)
			goto bad;
		size_t k = (size_t)(eq - a);
		const char *v = eq + 1;
#define KEY(s) (k == sizeof(s) - 1 && !strncmp(a, s, k))
		if (KEY("device"))
			c->device = v;
		else if (KEY("socket"))
			c->socket = v;
		else if (KEY("backing"))
			c->backing = v;
		else if (KEY("stats"))
			c->stats = v;
		else if (KEY("mode"))
			c->mode = v;
		else if (KEY("notify") && (!strcmp(v, "event") || !strcmp(v, "poll")))
			c->poll = !strcmp(v, "poll");
		else if (KEY("trace") && (!strcmp(v, "0") || !strcmp(v, "1")))
			c->trace = !strcmp(v, "1");
		else if (KEY("queues") && parse_uint(v, 1, VTB_VHU_MAX_QUEUES, &c->queues))
			;
		else if (KEY("conns") && parse_uint(v, 0, 1u << 30, &c->conns))
			;
		else if (KEY("ring") && parse_uint(v, 1, VTB_VQ_MAX_SIZE, &c->ring) && vtb_vq_num_ok(c->ring))
			;
		else if (KEY("size")) {
			unsigned s;
			if (!parse_uint(v, VTB_NET_MIN_FRAME, VTB_NET_MAX_FRAME, &s))
				goto bad;
			c->size = (int)s;
		} else if (KEY("seed")) {
			char *end;
			errno = 0;
			c->seed = strtoull(v, &end, 0);
			if (errno || end == v || *end || *v == '-')
				goto bad;
		} else if (KEY("cpus")) {
			if (parse_cpus(v, c))
				goto bad;
		} else
			goto bad;
#undef KEY
		continue;
bad:
		fprintf(stderr, "vtbench serve: bad argument '%s'\n", a);
		serve_usage(stderr);
		return -1;
	}
	if (!c->device || !c->socket) {
		serve_usage(stderr);
		return -1;
	}
	return 0;
}

int vtb_cmd_serve(int argc, char **argv)
{
	struct serve_cfg c;
	struct vtb_vhu_model m;
	struct serve_blk blk = { .fd = -1 };
	struct serve_net net;
	uint64_t scmi_seed;
	int rc = 2;
	if (argc == 1 && (!strcmp(argv[0], "help") || !strcmp(argv[0], "--help"))) {
		serve_usage(stdout);
		return 0;
	}
	if (parse(argc, argv, &c))
		return 2;
	if (!strcmp(c.device, "blk")) {
		if (blk_open(&c, &blk, &m))
			return 2;
	} else if (!strcmp(c.device, "net")) {
		if (net_open(&c, &net, &m))
			return 2;
	} else if (!strcmp(c.device, "scmi")) {
		if (scmi_open(&c, &scmi_seed, &m))
			return 2;
	} else {
		fprintf(stderr, "vtbench serve: device=%s: blk, net or scmi\n", c.device);
		return 2;
	}
	FILE *stats = stdout;
	if (c.stats && !(stats = fopen(c.stats, "a"))) {
		fprintf(stderr, "vtbench serve: stats=%s: %s\n", c.stats, strerror(errno));
		goto close_blk;
	}
	struct sigaction sa = { .sa_handler = on_quit };	/* no SA_RESTART: poll returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_dump;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct vtb_vhu_server_opts o = {
		.socket = c.socket, .poll = c.poll, .cpus = c.cpus, .ncpus = c.ncpus, .conns = c.conns,
		.max_num = (uint16_t)c.ring, .trace = c.trace, .quit = &serve_quit, .dump = &serve_dump, .stats = stats,
	};
	struct vtb_vhu_server *s = vtb_vhu_server_open(&m, &o);
	if (!s) {
		fprintf(stderr, "vtbench serve: socket=%s: %s\n", c.socket, strerror(errno));
		rc = 3;
		goto close_stats;
	}
	fprintf(stderr, "vtbench serve: device=%s notify=%s listening on %s\n", c.device,
		c.poll ? "poll" : "event", c.socket);
	int e = vtb_vhu_server_run(s);
	vtb_vhu_server_stats(s, stats);
	vtb_vhu_server_close(s);
	rc = e ? 3 : 0;
	if (e)
		fprintf(stderr, "vtbench serve: %s\n", strerror(-e));
close_stats:
	if (stats != stdout)
		fclose(stats);
close_blk:
	if (blk.fd >= 0)
		close(blk.fd);
	return rc;
}
