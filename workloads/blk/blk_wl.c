/* blk workload: BE storage (RAM disk or a file through io_uring) around the
 * freestanding model, and a fio-like FE generator that verifies contents
 * through any engine (engine.h; the virtqueue one is blk_vq.c). */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../vtb_pattern.h"
#include "../workload.h"
#include "vtb_blk.h"

/* Sector contents are pattern(seed, sector << 32 | generation); the two
 * special generations mean "zeroed" and "undefined" (after a discard). */
#define GEN_ZERO  0xffffffffu
#define GEN_UNDEF 0xfffffffeu

static void sector_fill(uint64_t seed, uint64_t s, uint32_t gen, void *buf)
{
	if (gen == GEN_ZERO)
		memset(buf, 0, VTB_BLK_SECTOR);
	else
		vtb_pattern_fill(seed, s << 32 | gen, buf, VTB_BLK_SECTOR);
}

/* ------------------------------------------------------------ BE storage */
struct blk_be {
	struct vtb_blk *model;
	uint64_t capacity;
	char *ram;		/* RAM disk, or NULL with a backing file */
	int fd;
	struct io_uring ring;
	bool uring;
	uint64_t io_errors;
};

static int ram_read(void *c, uint64_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct blk_be *)c)->ram + off, len);
	return 0;
}

static int ram_write(void *c, uint64_t off, const void *buf, uint32_t len)
{
	memcpy(((struct blk_be *)c)->ram + off, buf, len);
	return 0;
}

static int ram_flush(void *c)
{
	(void)c;
	return 0;
}

static int ram_zero(void *c, uint64_t off, uint64_t len)
{
	memset(((struct blk_be *)c)->ram + off, 0, len);
	return 0;
}

/* io_uring: one SQE per piece, waited for at once (the model is synchronous). */
static int uring_rw(struct blk_be *b, int op, uint64_t off, void *buf, uint32_t len, uint32_t extra)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	struct io_uring_cqe *cqe;
	if (!sqe)
		return -EBUSY;
	switch (op) {
	case 0:
		io_uring_prep_read(sqe, b->fd, buf, len, off);
		break;
	case 1:
		io_uring_prep_write(sqe, b->fd, buf, len, off);
		break;
	case 2:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		io_uring_prep_fallocate(sqe, b->fd, (int)extra, off, len);
		break;
	}
	int e = io_uring_submit_and_wait(&b->ring, 1);
	if (e < 0)
		return e;
	e = io_uring_wait_cqe(&b->ring, &cqe);
	if (e < 0)
		return e;
	int res = cqe->res;
	io_uring_cqe_seen(&b->ring, cqe);
	if (res < 0 || (op < 2 && (uint32_t)res != len)) {
		b->io_errors++;
		return res < 0 ? res : -EIO;
	}
	return 0;
}

static int file_read(void *c, uint64_t off, void *buf, uint32_t len) { return uring_rw(c, 0, off, buf, len, 0); }
static int file_write(void *c, uint64_t off, const void *buf, uint32_t len) { return uring_rw(c, 1, off, (void *)buf, len, 0); }
static int file_flush(void *c) { return uring_rw(c, 2, 0, NULL, 0, 0); }
static int file_zero(void *c, uint64_t off, uint64_t len)
{
	return uring_rw(c, 3, off, NULL, (uint32_t)len, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

/* Read patterns without verification never need to write the file. */
static bool blk_reads_only(const struct vtb_cellp *cp)
{
	return !cp->verify && (!strcmp(cp->pattern, "randread") || !strcmp(cp->pattern, "read"));
}

static int blk_be_init(const struct vtb_cellp *cp, struct vtb_xenv *env, const struct vtb_dev_io *io, void **out)
{
	struct blk_be *b = calloc(1, sizeof(*b) + vtb_blk_memsize() + sizeof(struct vtb_blk_config));
	struct vtb_blk_storage st;
	int err;
	if (!b)
		return -ENOMEM;
	b->capacity = cp->disk;
	b->fd = -1;
	if (cp->backing[0]) {
		/* Created only when asked, sized only when new; read patterns
		 * cannot write the user's file at all. */
		int mode = blk_reads_only(cp) ? O_RDONLY : O_RDWR;
		bool created = false;
		b->fd = -1;
		if (cp->backing_create) {
			b->fd = open(cp->backing, mode | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			created = b->fd >= 0;
		}
		if (b->fd < 0)
			b->fd = open(cp->backing, mode | O_CLOEXEC);
		if (b->fd < 0) {
			err = -errno;
			goto free_b;
		}
		if (created && ftruncate(b->fd, (off_t)b->capacity) < 0) {
			err = -errno;
			goto close_fd;
		}
		off_t end = lseek(b->fd, 0, SEEK_END);
		if (end < 0 || (uint64_t)end < b->capacity) {
			err = end < 0 ? -errno : -ENOSPC;	/* shrunk since the suite was built */
			goto close_fd;
		}
		err = io_uring_queue_init(64, &b->ring, 0);
		if (err)
			goto close_fd;
		b->uring = true;
		st = (struct vtb_blk_storage){ b, file_read, file_write, file_flush, file_zero, file_zero };
	} else {
		/* Populated: a first-touch fault (~10 us here) per page would
		 * otherwise be measured as device time (the probes saw it). */
		b->ram = mmap(NULL, b->capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (b->ram == MAP_FAILED) {
			err = -errno;
			goto free_b;
		}
		st = (struct vtb_blk_storage){ b, ram_read, ram_write, ram_flush, ram_zero, ram_zero };
	}
	if (cp->verify) {	/* generation 0 of every sector, as the FE expects */
		char sec[VTB_BLK_SECTOR];
		for (uint64_t s = 0; s < b->capacity / VTB_BLK_SECTOR; s++) {
			sector_fill(cp->seed, s, 0, sec);
			st.write(b, s * VTB_BLK_SECTOR, sec, VTB_BLK_SECTOR);
		}
	}
	b->model = vtb_blk_init(b + 1, b->capacity, &st, io, "vtbench-blk");
	if (!b->model) {
		err = -EINVAL;
		goto unmap;
	}
	struct vtb_blk_config *cfg = (void *)((char *)(b + 1) + vtb_blk_memsize());
	vtb_blk_config(b->model, cfg);
	env->device_id = VTB_ID_BLOCK;
	env->device_features = VTB_BLK_FEATURES;
	env->config = cfg;
	env->config_len = sizeof(*cfg);
	*out = b;
	return 0;

unmap:
	if (b->ram)
		munmap(b->ram, b->capacity);
	if (b->uring)
		io_uring_queue_exit(&b->ring);
close_fd:
	if (b->fd >= 0)
		close(b->fd);
free_b:
	free(b);
	return err;
}

static void blk_be_start(void *dev, uint64_t features) { (void)dev; (void)features; }

static int blk_be_process(void *dev, unsigned budget)
{
	return vtb_blk_process(((struct blk_be *)dev)->model, budget);
}

static uint32_t blk_be_wake(void *dev) { (void)dev; return 1; }

static unsigned blk_be_stats(void *dev, const char **names, uint64_t *vals)
{
	struct blk_be *b = dev;
	const struct vtb_blk_stats *s = vtb_blk_stats(b->model);
	names[0] = "ioerr"; vals[0] = s->ioerr;
	names[1] = "unsupp"; vals[1] = s->unsupp;
	names[2] = "bytes_read"; vals[2] = s->bytes_read;
	names[3] = "bytes_written"; vals[3] = s->bytes_written;
	names[4] = "backing_io_errors"; vals[4] = b->io_errors;
	return 5;
}

static void blk_be_fini(void *dev)
{
	struct blk_be *b = dev;
	if (b->ram)
		munmap(b->ram, b->capacity);
	if (b->uring)
		io_uring_queue_exit(&b->ring);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

/* ------------------------------------------------------------ FE generator */
/* What it submits and how it checks the answers; the engine (blk_vq.c by
 * default) turns each io into a device request. */
struct blk_slot {
	struct vtb_io io;	/* first: the engine hands it back */
	uint64_t t_submit;
	uint64_t sector;
	uint32_t nsect;
	bool write, busy;
};

struct blk_gen {
	uint64_t sectors;
	uint64_t next_seq;	/* sequential patterns: next sector */
	uint64_t rng;
	uint32_t *gen;		/* verify: generation per sector */
	unsigned nslot;
	struct blk_slot slot[];
};

#define BLK_DEFAULT_DISK (64ull << 20)

/* Bytes a backing file or block device holds now; -errno. */
static int64_t backing_size(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	off_t end = lseek(fd, 0, SEEK_END);
	int e = errno;
	close(fd);
	return end < 0 ? -e : (int64_t)end;
}

/* A user's file is used as it is: its size is the capacity unless disk=
 * asks for less, it is never resized, and only a file vtbench was told it
 * owns (backing_create=1) is created or overwritten by verify=1. */
static int blk_resolve(struct vtb_cellp *cp, char *err, size_t n)
{
	if (!cp->backing[0]) {
		if (cp->backing_create)
			return snprintf(err, n, "backing_create=1 needs backing=PATH"), -1;
		if (!cp->disk)
			cp->disk = BLK_DEFAULT_DISK;
		return 0;
	}
	int64_t have = backing_size(cp->backing);
	if (have == -ENOENT && cp->backing_create) {
		if (!cp->disk)
			cp->disk = BLK_DEFAULT_DISK;
		return 0;
	}
	if (have < 0)
		return snprintf(err, n, "backing=%s: %s%s", cp->backing, strerror((int)-have),
				have == -ENOENT ? " (backing_create=1 creates it)" : ""), -1;
	uint64_t whole = (uint64_t)have / VTB_BLK_SECTOR * VTB_BLK_SECTOR;
	if (!cp->disk)
		cp->disk = whole;
	else if (cp->disk > whole)
		return snprintf(err, n, "disk=%llu: backing=%s holds only %llu bytes, and vtbench never resizes a file",
				(unsigned long long)cp->disk, cp->backing, (unsigned long long)whole), -1;
	if (cp->verify && !cp->backing_create)
		return snprintf(err, n, "verify=1 first writes every sector of backing=%s: set backing_create=1 if vtbench may "
				"overwrite that file", cp->backing), -1;
	return 0;
}

static int blk_check(const struct vtb_cellp *cp, char *err, size_t n)
{
	static const char *const pats[] = { "randread", "randwrite", "read", "write", "randrw", NULL };
	bool ok = false;
	for (int i = 0; pats[i]; i++)
		ok |= !strcmp(cp->pattern, pats[i]);
	if (!ok)
		return snprintf(err, n, "pattern=%s: expected randread, randwrite, read, write or randrw", cp->pattern), -1;
	if (cp->size <= 0 || cp->size % VTB_BLK_SECTOR || cp->size > (1 << 20))
		return snprintf(err, n, "size=%d: blk needs a multiple of 512 bytes up to 1M", cp->size), -1;
	if (cp->disk < (uint64_t)cp->size * 2 || cp->disk % VTB_BLK_SECTOR)
		return snprintf(err, n, "disk=%llu: must be a multiple of 512 and hold two blocks%s", (unsigned long long)cp->disk,
				cp->backing[0] ? " (with backing=, the file's size unless disk= asks for less)" : ""), -1;
	if (cp->rwmix > 100)
		return snprintf(err, n, "rwmix=%u: a percentage of reads, 0..100", cp->rwmix), -1;
	return 0;
}

/* One setup request through slot 0, waited for; its status. */
static int blk_sync(struct vtb_gen *g, struct blk_slot *s, uint8_t op, uint64_t offset, uint32_t len)
{
	s->io.op = op;
	s->io.offset = offset;
	s->io.len = len;
	if (vtb_io_sync(g, &s->io))
		return -1;
	return s->io.status;
}

static int blk_fe_init(struct vtb_gen *g)
{
	const struct vtb_cellp *cp = g->cp;
	struct blk_gen *b = calloc(1, sizeof(*b) + cp->qd * sizeof(struct blk_slot));
	uint64_t cap;
	int e;
	if (!b)
		return -ENOMEM;
	g->priv = b;
	if (!g->eng)
		g->eng = &vtb_engine_vq_blk;
	if (g->eng->open && (e = g->eng->open(g)))
		return e;
	g->eng->config(g, offsetof(struct vtb_blk_config, capacity), &cap, sizeof(cap));
	b->sectors = vtb_le64(cap);
	if (b->sectors * VTB_BLK_SECTOR < (uint64_t)cp->size * 2)
		return -ENOSPC;
	b->rng = cp->seed | 1;
	b->nslot = cp->qd;
	for (unsigned i = 0; i < b->nslot; i++)
		if ((e = g->eng->io_init(g, &b->slot[i].io, 0, (uint32_t)cp->size, 0)))
			return e;
	if (!cp->verify)
		return 0;
	b->gen = calloc(b->sectors, sizeof(*b->gen));
	if (!b->gen)
		return -ENOMEM;
	/* Exercise the other request types once, checking each answer. */
	struct blk_slot *s = &b->slot[0];
	int st;
	if ((st = blk_sync(g, s, VTB_IO_GET_ID, 0, VTB_BLK_ID_BYTES)) != VTB_IO_OK ||
	    strncmp(s->io.buf, "vtbench-blk", VTB_BLK_ID_BYTES))
		vtb_gen_fail(g, "GET_ID: status %d (%u), id '%.20s'", st, s->io.raw, (char *)s->io.buf);
	if ((st = blk_sync(g, s, VTB_IO_FLUSH, 0, 0)) != VTB_IO_OK)
		vtb_gen_fail(g, "FLUSH: status %d (%u)", st, s->io.raw);
	/* WRITE_ZEROES over the first 8 sectors, DISCARD over the next 8. */
	for (int k = 0; k < 2; k++) {
		if ((st = blk_sync(g, s, k ? VTB_IO_DISCARD : VTB_IO_WRITE_ZEROES, 8ull * k * VTB_BLK_SECTOR,
				   8 * VTB_BLK_SECTOR)) != VTB_IO_OK)
			vtb_gen_fail(g, "%s: status %d (%u)", k ? "DISCARD" : "WRITE_ZEROES", st, s->io.raw);
		for (unsigned i = 0; i < 8; i++)
			b->gen[8 * k + i] = k ? GEN_UNDEF : GEN_ZERO;
	}
	/* An out-of-range read must fail with IOERR, not touch anything. */
	if ((st = blk_sync(g, s, VTB_IO_READ, b->sectors * VTB_BLK_SECTOR, VTB_BLK_SECTOR)) != VTB_IO_EIO)
		vtb_gen_fail(g, "read past capacity: status %d (%u), want IOERR", st, s->io.raw);
	return 0;
}

static uint32_t gen_after(uint32_t gen)
{
	return gen + 1 >= GEN_UNDEF ? 1 : gen + 1;
}

static bool blk_overlaps(const struct blk_gen *b, uint64_t sector, uint32_t n)
{
	for (unsigned i = 0; i < b->nslot; i++) {
		const struct blk_slot *s = &b->slot[i];
		if (s->busy && sector < s->sector + s->nsect && s->sector < sector + n)
			return true;
	}
	return false;
}

static int blk_fe_submit(struct vtb_gen *g, uint64_t now)
{
	struct blk_gen *b = g->priv;
	const struct vtb_cellp *cp = g->cp;
	struct blk_slot *s = NULL;
	for (unsigned i = 0; i < b->nslot && !s; i++)
		if (!b->slot[i].busy)
			s = &b->slot[i];
	if (!s)
		return 0;
	uint32_t nsect = (uint32_t)cp->size / VTB_BLK_SECTOR;
	uint64_t blocks = b->sectors / nsect;
	bool rnd = cp->pattern[0] == 'r' && cp->pattern[1] == 'a';
	bool write = !strcmp(cp->pattern, "randwrite") || !strcmp(cp->pattern, "write") ||
		     (!strcmp(cp->pattern, "randrw") && vtb_rand(&b->rng) % 100 >= cp->rwmix);
	uint64_t sector = 0;
	/* Verification needs a single writer or readers per sector at a time. */
	for (int tries = 0;; tries++) {
		if (rnd) {
			sector = (vtb_rand(&b->rng) % blocks) * nsect;
		} else {
			sector = b->next_seq;
			b->next_seq = b->next_seq + nsect + nsect > b->sectors ? 0 : b->next_seq + nsect;
		}
		if (!cp->verify || !blk_overlaps(b, sector, nsect))
			break;
		if (tries == 8)
			return 0;
	}
	s->sector = sector;
	s->nsect = nsect;
	s->write = write;
	s->io.op = write ? VTB_IO_WRITE : VTB_IO_READ;
	s->io.offset = sector * VTB_BLK_SECTOR;
	s->io.len = (uint32_t)cp->size;
	/* The generations move only once the request is queued: an engine
	 * that says "no room, try later" must not leave them ahead of the disk. */
	if (write && cp->verify)
		for (uint32_t i = 0; i < nsect; i++)
			sector_fill(cp->seed, sector + i, gen_after(b->gen[sector + i]),
				    (char *)s->io.buf + (size_t)i * VTB_BLK_SECTOR);
	s->t_submit = now;
	int e = g->eng->queue(g, &s->io);
	if (e)
		return e == -VTB_ENOSPC ? 0 : e;
	if (write && cp->verify)
		for (uint32_t i = 0; i < nsect; i++)
			b->gen[sector + i] = gen_after(b->gen[sector + i]);
	s->busy = true;
	g->inflight++;
	return 1;
}

static void blk_verify_read(struct vtb_gen *g, struct blk_gen *b, struct blk_slot *s)
{
	char want[VTB_BLK_SECTOR];
	for (uint32_t i = 0; i < s->nsect; i++) {
		uint32_t gen = b->gen[s->sector + i];
		if (gen == GEN_UNDEF)
			continue;
		sector_fill(g->cp->seed, s->sector + i, gen, want);
		if (memcmp(want, (char *)s->io.buf + (size_t)i * VTB_BLK_SECTOR, VTB_BLK_SECTOR)) {
			vtb_gen_fail(g, "read of sector %llu (generation %u) returned other data",
				     (unsigned long long)(s->sector + i), gen);
			return;
		}
	}
}

static int blk_fe_reap(struct vtb_gen *g)
{
	struct blk_gen *b = g->priv;
	struct blk_slot *s;
	int n = 0;
	while ((s = (struct blk_slot *)g->eng->getevent(g, 0))) {
		if (s->io.status != VTB_IO_OK)
			vtb_gen_fail(g, "%s of sector %llu: status %d (%u)", s->write ? "write" : "read",
				     (unsigned long long)s->sector, s->io.status, s->io.raw);
		else if (s->io.res != (s->write ? 0u : (uint32_t)g->cp->size))
			vtb_gen_fail(g, "%u bytes returned for a %s of %d bytes", s->io.res, s->write ? "write" : "read",
				     g->cp->size);
		else if (!s->write && g->cp->verify)
			blk_verify_read(g, b, s);
		s->busy = false;
		g->inflight--;
		g->done(g, s->t_submit, (uint64_t)g->cp->size);
		n++;
	}
	return g->eng->broken(g) ? -EPROTO : n;
}

static void blk_fe_fini(struct vtb_gen *g)
{
	struct blk_gen *b = g->priv;
	if (g->eng && g->eng->close)
		g->eng->close(g);
	if (b)
		free(b->gen);
	free(b);
}

const struct vtb_workload_ops vtb_workload_blk = {
	.name = "blk",
	.desc = "virtio-blk: IN/OUT/FLUSH/GET_ID/DISCARD/WRITE_ZEROES on a RAM disk or backing=PATH (io_uring)",
	.virtio_id = VTB_ID_BLOCK,
	.nqueues = 1,
	.resolve = blk_resolve,
	.check = blk_check,
	.be_init = blk_be_init,
	.be_start = blk_be_start,
	.be_process = blk_be_process,
	.be_wake_mask = blk_be_wake,
	.be_stats = blk_be_stats,
	.be_fini = blk_be_fini,
	.fe_features = VTB_BLK_FEATURES,
	.fe_init = blk_fe_init,
	.fe_submit = blk_fe_submit,
	.fe_reap = blk_fe_reap,
	.fe_fini = blk_fe_fini,
};
