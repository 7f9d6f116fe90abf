#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhu_server.h"

#define VHU_BUDGET 64
#define VHU_MAX_MAPS (2 * VTB_VHU_MAX_REGIONS)	/* old and new table, briefly */

/* Single writer (the ring's worker), any reader: plain stores, untorn. */
#define STAT_ADD(x, n) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define STAT_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct vhu_map {
	void *base;		/* what mmap returned */
	size_t len;
	void *va;		/* what the device was given */
};

struct vhu_group {
	struct vtb_vhu_server *s;
	unsigned g, first;	/* rings [first, first + model->rings) */
	uint32_t mask;		/* rings running (local bits), set while stopped */
	uint32_t broken;	/* rings given up on, until set up afresh */
	uint32_t pushed;	/* worker's: rings with completions not yet signalled */
	bool reinit;		/* the model's requests are void: start it afresh */
	bool thread_on;
	volatile bool stop;
	int stopfd;
	pthread_t thread;
	struct vtb_dev_io io;
	void *model;
};

struct vtb_vhu_server {
	struct vtb_vhu_model m;
	struct vtb_vhu_server_opts o;
	int lfd, cfd;
	unsigned rings;
	unsigned conns;
	uint64_t refused;	/* messages given up on before vtb_vhu_dev saw them */
	struct vhu_map maps[VHU_MAX_MAPS];
	struct vhu_group *grp;
	struct vtb_vhu_qstats *qs;
	struct vtb_vhu_hooks hooks;
	struct vtb_vhu_dev *dev;
	void *dev_mem;
};

/* ------------------------------------------------------------ workers */
static struct vtb_vqdev *g_vq(struct vhu_group *g, unsigned lq)
{
	if (lq >= g->s->m.rings || !(g->mask & ~g->broken & (1u << lq)))
		return NULL;
	return vtb_vhu_dev_vq(g->s->dev, g->first + lq);
}

/* A ring the front-end broke: said once, on stderr and its err fd. */
static void g_break(struct vhu_group *g, unsigned lq, const char *why)
{
	unsigned ring = g->first + lq;
	if (g->broken & (1u << lq))
		return;
	g->broken |= 1u << lq;
	STAT_ADD(g->s->qs[ring].errors, 1);
	if (!g->s->o.quiet)
		fprintf(stderr, "vtbench serve: ring %u broken: %s\n", ring, why);
	int fd = vtb_vhu_dev_errfd(g->s->dev, ring);
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* the front-end closed it: the log line stands */
	}
}

static int g_pop(void *ctx, unsigned lq, struct vtb_req *req)
{
	struct vhu_group *g = ctx;
	struct vtb_vqdev *vq = g_vq(g, lq);
	struct vtb_seg seg[VTB_REQ_MAX_SEG];
	struct vtb_chain c = { .seg = seg, .max_seg = VTB_REQ_MAX_SEG };
	if (!vq)
		return 0;
	int r = vtb_vqdev_pop(vq, &c);
	if (r <= 0) {
		if (r < 0)
			g_break(g, lq, "bad ring or descriptor chain");
		return 0;
	}
	const struct vtb_memmap *map = vtb_vhu_dev_memmap(g->s->dev);
	for (unsigned i = 0; i < c.nseg; i++) {
		req->iov[i].base = vtb_memmap_xlate(map, seg[i].addr, seg[i].len, seg[i].write);
		req->iov[i].len = seg[i].len;
		if (!req->iov[i].base) {
			g_break(g, lq, "a buffer lies outside every region");
			return 0;
		}
	}
	req->nout = c.nout;
	req->nin = (uint16_t)(c.nseg - c.nout);
	req->out_bytes = c.out_bytes;
	req->in_bytes = c.in_bytes;
	req->q = (uint16_t)lq;
	req->head = c.head;
	req->priv = NULL;
	struct vtb_vhu_qstats *st = &g->s->qs[g->first + lq];
	STAT_ADD(st->ops, 1);
	STAT_ADD(st->bytes, c.out_bytes);
	return 1;
}

static int g_push(void *ctx, struct vtb_req *req, uint32_t written)
{
	struct vhu_group *g = ctx;
	struct vtb_vqdev *vq = g_vq(g, req->q);
	if (!vq)
		return 0;	/* the ring broke under the request: dropped */
	if (vtb_vqdev_push(vq, req->head, written)) {
		g_break(g, req->q, "completion refused");
		return 0;
	}
	STAT_ADD(g->s->qs[g->first + req->q].bytes, written);
	g->pushed |= 1u << req->q;
	return 0;
}

static void g_signal(struct vhu_group *g)
{
	for (unsigned lq = 0; lq < g->s->m.rings; lq++) {
		if (!(g->pushed & (1u << lq)))
			continue;
		struct vtb_vqdev *vq = g_vq(g, lq);
		unsigned ring = g->first + lq;
		if (!vq)
			continue;
		if (vtb_vqdev_need_notify(vq)) {
			int fd = vtb_vhu_dev_callfd(g->s->dev, ring);
			uint64_t one = 1;
			if (fd >= 0 && write(fd, &one, sizeof(one)) == sizeof(one))
				STAT_ADD(g->s->qs[ring].notifies, 1);
		} else {
			STAT_ADD(g->s->qs[ring].notifies_suppressed, 1);
		}
	}
	g->pushed = 0;
}

static void g_set_notify(struct vhu_group *g, uint32_t lmask, bool on, bool *pending)
{
	for (unsigned lq = 0; lq < g->s->m.rings; lq++) {
		struct vtb_vqdev *vq = g_vq(g, lq);
		if (!vq || !(lmask & (1u << lq)))
			continue;
		if (on) {
			if (vtb_vqdev_enable_notify(vq))
				*pending = true;
		} else {
			vtb_vqdev_disable_notify(vq);
		}
	}
}

/* Sleeps until a kick on a ring of lmask or the stop. */
static void g_wait(struct vhu_group *g, uint32_t lmask)
{
	struct pollfd pfd[VTB_VHU_MAX_QUEUES + 1];
	unsigned ring[VTB_VHU_MAX_QUEUES + 1];
	unsigned n = 0;
	bool nofd = false;
	pfd[n++] = (struct pollfd){ .fd = g->stopfd, .events = POLLIN };
	for (unsigned lq = 0; lq < g->s->m.rings; lq++) {
		int fd = vtb_vhu_dev_kickfd(g->s->dev, g->first + lq);
		if (!(lmask & (1u << lq)) || !g_vq(g, lq))
			continue;
		if (fd < 0) {
			nofd = true;
			continue;
		}
		ring[n] = g->first + lq;
		pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		STAT_ADD(g->s->qs[g->first + lq].waits, 1);
	}
	/* A ring without a kick fd (NOFD: the front-end never kicks) is
	 * looked at again after a short sleep. */
	int r = poll(pfd, n, nofd || n == 1 ? 1 : -1);
	if (r <= 0)
		return;
	for (unsigned i = 1; i < n; i++) {
		uint64_t v;
		if ((pfd[i].revents & POLLIN) && read(pfd[i].fd, &v, sizeof(v)) == sizeof(v))
			STAT_ADD(g->s->qs[ring[i]].doorbells_in, v);
	}
}

static void *g_run(void *arg)
{
	struct vhu_group *g = arg;
	struct vtb_vhu_server *s = g->s;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);	/* signals are the main thread's */
	if (s->o.ncpus) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(s->o.cpus[g->g % s->o.ncpus], &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) && !s->o.quiet)
			fprintf(stderr, "vtbench serve: worker %u not pinned to cpu %d\n", g->g,
				s->o.cpus[g->g % s->o.ncpus]);
	}
	uint32_t all_rings = (1u << s->m.rings) - 1;
	if (s->o.poll) {
		bool p = false;
		g_set_notify(g, all_rings, false, &p);
	}
	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
		int n = s->m.process(g->model, VHU_BUDGET);
		g_signal(g);
		if (n > 0)
			continue;
		if (s->o.poll) {
			vtb_cpu_relax();
			continue;
		}
		uint32_t want = s->m.wake_mask(g->model) & all_rings;
		bool pending = false;
		g_set_notify(g, want, true, &pending);
		if (!pending)
			g_wait(g, want);
		g_set_notify(g, want, false, &pending);
	}
	return NULL;
}

static void g_stop(struct vhu_group *g)
{
	if (!g->thread_on)
		return;
	__atomic_store_n(&g->stop, true, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(g->stopfd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only at its maximum: the flag suffices */
	}
	pthread_join(g->thread, NULL);
	uint64_t v;
	if (read(g->stopfd, &v, sizeof(v)) < 0) {
		/* nothing was left in it */
	}
	g->thread_on = false;
}

static int g_start(struct vhu_group *g)
{
	struct vtb_vhu_server *s = g->s;
	if (!g->mask)
		return 0;
	if (g->reinit) {
		if (s->m.init(s->m.arg, g->model, g->g, &g->io, vtb_vhu_dev_features(s->dev)))
			return -EINVAL;
		g->reinit = false;
	}
	g->pushed = 0;
	g->stop = false;
	int e = pthread_create(&g->thread, NULL, g_run, g);
	if (e)
		return -e;
	g->thread_on = true;
	return 0;
}

/* ------------------------------------------------------------ hooks */
static int h_map(void *ctx, int fd, uint64_t offset, uint64_t size, void **va)
{
	struct vtb_vhu_server *s = ctx;
	struct stat st;
	struct vhu_map *slot = NULL;
	for (unsigned i = 0; i < VHU_MAX_MAPS && !slot; i++)
		if (!s->maps[i].base)
			slot = &s->maps[i];
	if (!slot)
		return -ENOSPC;
	if (fstat(fd, &st))
		return -errno;
	/* A file that has a size (memfd, hugetlbfs, tmpfs) must hold the region. */
	if (st.st_size > 0 && !vtb_range_ok(offset, size, (uint64_t)st.st_size))
		return -EINVAL;
	uint64_t align = st.st_blksize > 4096 ? (uint64_t)st.st_blksize : 4096;	/* hugetlbfs: the huge page */
	uint64_t off = offset & ~(align - 1);
	uint64_t len = VTB_ALIGN_UP(offset - off + size, align);
	if (len < size || len > SIZE_MAX)
		return -EINVAL;
	void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	slot->base = p;
	slot->len = (size_t)len;
	slot->va = (char *)p + (offset - off);
	*va = slot->va;
	return 0;
}

static void h_unmap(void *ctx, void *va, uint64_t size)
{
	struct vtb_vhu_server *s = ctx;
	(void)size;
	for (unsigned i = 0; i < VHU_MAX_MAPS; i++)
		if (s->maps[i].base && s->maps[i].va == va) {
			munmap(s->maps[i].base, s->maps[i].len);
			s->maps[i] = (struct vhu_map){ 0 };
			return;
		}
}

static void h_close_fd(void *ctx, int fd)
{
	(void)ctx;
	close(fd);
}

static struct vhu_group *group_of(struct vtb_vhu_server *s, unsigned ring, unsigned *lq)
{
	*lq = ring % s->m.rings;
	return &s->grp[ring / s->m.rings];
}

static int h_queue_start(void *ctx, unsigned ring, bool fresh)
{
	struct vtb_vhu_server *s = ctx;
	unsigned lq;
	struct vhu_group *g = group_of(s, ring, &lq);
	g_stop(g);
	g->mask |= 1u << lq;
	/* A broken ring stays broken until the front-end sets it up again. */
	if (fresh) {
		g->reinit = true;
		g->broken &= ~(1u << lq);
	}
	int e = g_start(g);
	if (e)
		g->mask &= ~(1u << lq);
	return e;
}

static void h_queue_stop(void *ctx, unsigned ring)
{
	struct vtb_vhu_server *s = ctx;
	unsigned lq;
	struct vhu_group *g = group_of(s, ring, &lq);
	g_stop(g);
	g->mask &= ~(1u << lq);
	if (g_start(g) && !s->o.quiet)
		fprintf(stderr, "vtbench serve: worker %u did not restart\n", g->g);
}

static int h_reply(void *ctx, const void *msg, uint32_t len)
{
	struct vtb_vhu_server *s = ctx;
	const char *p = msg;
	while (len) {
		ssize_t n = send(s->cfd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (uint32_t)n;
	}
	return 0;
}

static void h_log(void *ctx, uint32_t request, const char *why)
{
	struct vtb_vhu_server *s = ctx;
	if (!s->o.quiet)
		fprintf(stderr, "vtbench serve: refused %s (%u): %s\n", vtb_vhu_req_name(request), request, why);
}

static uint32_t h_config(void *ctx, void *buf, uint32_t cap)
{
	struct vtb_vhu_server *s = ctx;
	return s->m.config ? s->m.config(s->m.arg, buf, cap) : 0;
}

/* ------------------------------------------------------------ socket */
static int listen_on(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1)) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static bool want_quit(const struct vtb_vhu_server *s)
{
	return s->o.quit && *s->o.quit;
}

static void maybe_dump(struct vtb_vhu_server *s)
{
	if (s->o.dump && *s->o.dump) {
		*s->o.dump = 0;
		vtb_vhu_server_stats(s, s->o.stats ? s->o.stats : stderr);
	}
}

/* Waits for fd to be readable, serving signals; false: quit. */
static bool wait_readable(struct vtb_vhu_server *s, int fd)
{
	for (;;) {
		maybe_dump(s);
		if (want_quit(s))
			return false;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 200);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
	}
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/* Reads exactly len bytes; false on EOF, error or quit. */
static bool read_full(struct vtb_vhu_server *s, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		if (!wait_readable(s, s->cfd))
			return false;
		ssize_t n = recv(s->cfd, p, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* One message: header with its fds, then the payload.  false: the
 * connection is over (EOF, error, or a message it cannot survive). */
static bool serve_one(struct vtb_vhu_server *s, uint8_t *buf)
{
	int fds[VTB_VHU_MAX_FDS];
	unsigned nfds = 0;
	union {
		char b[CMSG_SPACE(sizeof(int) * VTB_VHU_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(struct vtb_vhu_hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof(cb.b) };
	ssize_t n;
	if (!wait_readable(s, s->cfd))
		return false;
	do
		n = recvmsg(s->cfd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds < VTB_VHU_MAX_FDS)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		close_fds(fds, nfds);
		s->refused++;
		if (!s->o.quiet)
			fprintf(stderr, "vtbench serve: more fds than any message carries: connection closed\n");
		return false;
	}
	struct vtb_vhu_hdr h;
	if ((size_t)n < sizeof(h) && !read_full(s, buf + n, sizeof(h) - (size_t)n)) {
		close_fds(fds, nfds);
		return false;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.size > VTB_VHU_MAX_PAYLOAD) {
		close_fds(fds, nfds);
		s->refused++;
		if (!s->o.quiet)
			fprintf(stderr, "vtbench serve: refused %s (%u): payload of %u bytes: connection closed\n",
				vtb_vhu_req_name(h.request), h.request, h.size);
		return false;
	}
	if (h.size && !read_full(s, buf + sizeof(h), h.size)) {
		close_fds(fds, nfds);
		return false;
	}
	if (s->o.trace)
		fprintf(stderr, "vtbench serve: < %s (%u) flags %#x size %u fds %u\n", vtb_vhu_req_name(h.request),
			h.request, h.flags, h.size, nfds);
	bool close_conn;
	vtb_vhu_dev_handle(s->dev, buf, (uint32_t)sizeof(h) + h.size, fds, nfds, &close_conn);
	return !close_conn;
}

struct vtb_vhu_server *vtb_vhu_server_open(const struct vtb_vhu_model *m, const struct vtb_vhu_server_opts *o)
{
	struct vtb_vhu_server *s = calloc(1, sizeof(*s));
	int e = -ENOMEM;
	if (!s)
		goto fail;
	s->m = *m;
	s->o = *o;
	s->cfd = -1;
	s->rings = m->groups * m->rings;
	if (!m->groups || !m->rings || m->rings > 8 || s->rings > VTB_VHU_MAX_QUEUES) {
		e = -EINVAL;
		goto free_s;
	}
	uint16_t max_num = o->max_num ? o->max_num : 1024;
	s->grp = calloc(m->groups, sizeof(*s->grp));
	s->qs = calloc(s->rings, sizeof(*s->qs));
	s->dev_mem = aligned_alloc(16, VTB_ALIGN_UP(vtb_vhu_dev_memsize(s->rings, max_num), 16));
	if (!s->grp || !s->qs || !s->dev_mem)
		goto free_parts;
	for (unsigned g = 0; g < m->groups; g++) {
		struct vhu_group *gr = &s->grp[g];
		gr->s = s;
		gr->g = g;
		gr->first = g * m->rings;
		gr->io = (struct vtb_dev_io){ .ctx = gr, .pop = g_pop, .push = g_push };
		gr->stopfd = eventfd(0, EFD_CLOEXEC);
		gr->model = aligned_alloc(64, VTB_ALIGN_UP(m->memsize, 64));
		if (gr->stopfd < 0 || !gr->model)
			goto free_groups;
		/* The stats read a model before a front-end starts it. */
		memset(gr->model, 0, m->memsize);
	}
	s->hooks = (struct vtb_vhu_hooks){
		.ctx = s, .map = h_map, .unmap = h_unmap, .close_fd = h_close_fd,
		.queue_start = h_queue_start, .queue_stop = h_queue_stop, .reply = h_reply,
		.log = h_log, .get_config = h_config,
	};
	uint64_t pf = VTB_BIT(VTB_VHU_PF_MQ) | VTB_BIT(VTB_VHU_PF_REPLY_ACK) | VTB_BIT(VTB_VHU_PF_RESET_DEVICE);
	if (m->config)
		pf |= VTB_BIT(VTB_VHU_PF_CONFIG);
	struct vtb_vhu_params p = {
		.queues = s->rings, .max_num = max_num,
		.features = m->features | VTB_BIT(VTB_F_VERSION_1) | VTB_BIT(VTB_F_RING_PACKED) |
			    VTB_BIT(VTB_F_EVENT_IDX) | VTB_BIT(VTB_F_INDIRECT_DESC) |
			    VTB_BIT(VTB_VHU_F_PROTOCOL_FEATURES),
		.protocol_features = pf, .hooks = &s->hooks,
	};
	s->dev = vtb_vhu_dev_init(s->dev_mem, &p);
	if (!s->dev) {
		e = -EINVAL;
		goto free_groups;
	}
	s->lfd = listen_on(o->socket);
	if (s->lfd < 0) {
		e = s->lfd;
		goto free_groups;
	}
	return s;
free_groups:
	for (unsigned g = 0; g < m->groups; g++) {
		if (s->grp[g].stopfd > 0)
			close(s->grp[g].stopfd);
		free(s->grp[g].model);
	}
free_parts:
	free(s->dev_mem);
	free(s->qs);
	free(s->grp);
free_s:
	free(s);
fail:
	errno = -e;
	return NULL;
}

int vtb_vhu_server_run(struct vtb_vhu_server *s)
{
	uint8_t *buf = malloc(sizeof(struct vtb_vhu_hdr) + VTB_VHU_MAX_PAYLOAD);
	if (!buf)
		return -ENOMEM;
	int e = 0;
	while (!s->o.conns || s->conns < s->o.conns) {
		if (!wait_readable(s, s->lfd))
			break;
		s->cfd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s->cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			e = -errno;
			break;
		}
		s->conns++;
		while (serve_one(s, buf))
			;
		vtb_vhu_dev_disconnect(s->dev);
		for (unsigned g = 0; g < s->m.groups; g++) {
			s->grp[g].mask = 0;
			s->grp[g].broken = 0;
			s->grp[g].reinit = true;
		}
		close(s->cfd);
		s->cfd = -1;
	}
	free(buf);
	return e;
}

void vtb_vhu_server_qstats(struct vtb_vhu_server *s, unsigned ring, struct vtb_vhu_qstats *o)
{
	memset(o, 0, sizeof(*o));
	if (ring >= s->rings)
		return;
	const struct vtb_vhu_qstats *q = &s->qs[ring];
	o->ops = STAT_GET(q->ops);
	o->bytes = STAT_GET(q->bytes);
	o->doorbells_in = STAT_GET(q->doorbells_in);
	o->notifies = STAT_GET(q->notifies);
	o->notifies_suppressed = STAT_GET(q->notifies_suppressed);
	o->waits = STAT_GET(q->waits);
	o->errors = STAT_GET(q->errors);
}

static void qstats_json(FILE *f, const struct vtb_vhu_qstats *q)
{
	fprintf(f, "\"ops\":%llu,\"bytes\":%llu,\"doorbells_in\":%llu,\"notifies\":%llu,"
		   "\"notifies_suppressed\":%llu,\"waits\":%llu,\"errors\":%llu",
		(unsigned long long)q->ops, (unsigned long long)q->bytes, (unsigned long long)q->doorbells_in,
		(unsigned long long)q->notifies, (unsigned long long)q->notifies_suppressed,
		(unsigned long long)q->waits, (unsigned long long)q->errors);
}

void vtb_vhu_server_stats(struct vtb_vhu_server *s, FILE *f)
{
	struct vtb_vhu_qstats t = { 0 }, q;
	fprintf(f, "{\"device\":\"%s\",\"connections\":%u,\"refused\":%llu,\"notify\":\"%s\",\"queues\":[",
		s->m.name, s->conns, (unsigned long long)vtb_vhu_server_refused(s), s->o.poll ? "poll" : "event");
	for (unsigned r = 0; r < s->rings; r++) {
		vtb_vhu_server_qstats(s, r, &q);
		fprintf(f, "%s{\"q\":%u,", r ? "," : "", r);
		qstats_json(f, &q);
		fputc('}', f);
		t.ops += q.ops;
		t.bytes += q.bytes;
		t.doorbells_in += q.doorbells_in;
		t.notifies += q.notifies;
		t.notifies_suppressed += q.notifies_suppressed;
		t.waits += q.waits;
		t.errors += q.errors;
	}
	fputs("],\"total\":{", f);
	qstats_json(f, &t);
	fputc('}', f);
	for (unsigned g = 0; s->m.stats_json && g < s->m.groups; g++)
		s->m.stats_json(s->grp[g].model, f);
	fputs("}\n", f);
	fflush(f);
}

uint64_t vtb_vhu_server_refused(const struct vtb_vhu_server *s)
{
	return vtb_vhu_dev_refused(s->dev) + s->refused;
}

unsigned vtb_vhu_server_connections(const struct vtb_vhu_server *s)
{
	return s->conns;
}

void vtb_vhu_server_close(struct vtb_vhu_server *s)
{
	if (!s)
		return;
	vtb_vhu_dev_disconnect(s->dev);
	for (unsigned g = 0; g < s->m.groups; g++) {
		g_stop(&s->grp[g]);
		close(s->grp[g].stopfd);
		free(s->grp[g].model);
	}
	close(s->lfd);
	unlink(s->o.socket);
	free(s->dev_mem);
	free(s->qs);
	free(s->grp);
	free(s);
}
