/* vtb_guest: the checks vtbench runs INSIDE a Linux guest, against whatever
 * device the host gives it (QEMU's own or `vtbench serve`).  One static
 * binary, one subcommand per device:
 *
 *   vtb_guest blk DEV [key=value...]     O_DIRECT pattern I/O, capacity, serial,
 *                                        flush, discard, write-zeroes
 *   vtb_guest net IFACE [key=value...]   link, MAC, MTU, an AF_PACKET echo sweep
 *   vtb_guest scmi [key=value...]        base protocol and hwmon sensors as
 *                                        Linux shows them
 *   vtb_guest blkbench DEV [qd= bs= ms=]   random O_DIRECT reads at a queue depth:
 *                                        IOPS, interrupts, disk reads, swiotlb
 *                                        bounces and IOMMU maps/unmaps
 *   vtb_guest cells JOB DEV [seed=N]     vtbench's blk and net cells as the qemu
 *                                        platform runs them: VTB-MARK / VTB-ROW lines
 *   vtb_guest counts                     the boot's swiotlb bounces and IOMMU
 *                                        maps/unmaps: one VTB-COUNTS {json} line
 *   vtb_guest pattern OFF LEN SEED       (on the host) blk's pattern bytes for
 *                                        a region, on stdout
 *
 * Each check prints one line `VTB-RESULT {json}` on stdout ("ok" true or
 * false); blk also prints `VTB-WRITE {json}` for every region it leaves on
 * the device, so the host can check the backing file byte for byte.
 * Exit code: 0 all checks passed, 1 some failed, 2 the device is absent,
 * 3 bad usage. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define VTB_RC_OK 0
#define VTB_RC_FAIL 1
#define VTB_RC_ABSENT 2
#define VTB_RC_USAGE 3

static int vtb_failed;
static int vtb_usage(void);

/* ---- output: one JSON object per line, built field by field ---- */

struct vtb_json {
	char buf[8192];
	size_t len;
	bool first;
};

static void vtb_json_raw(struct vtb_json *j, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof(j->buf) - j->len;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		j->len += (size_t)n < room ? (size_t)n : room - 1;
}

static void vtb_json_key(struct vtb_json *j, const char *key)
{
	vtb_json_raw(j, "%s\"%s\":", j->first ? "" : ",", key);
	j->first = false;
}

static void vtb_json_str(struct vtb_json *j, const char *key, const char *val)
{
	vtb_json_key(j, key);
	vtb_json_raw(j, "\"");
	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		if (*p == '"' || *p == '\\')
			vtb_json_raw(j, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			vtb_json_raw(j, "\\u%04x", *p);
		else
			vtb_json_raw(j, "%c", *p);
	}
	vtb_json_raw(j, "\"");
}

static void vtb_json_u64(struct vtb_json *j, const char *key, uint64_t v)
{
	vtb_json_key(j, key);
	vtb_json_raw(j, "%" PRIu64, v);
}

static void vtb_json_i64(struct vtb_json *j, const char *key, int64_t v)
{
	vtb_json_key(j, key);
	vtb_json_raw(j, "%" PRId64, v);
}

static void vtb_json_bool(struct vtb_json *j, const char *key, bool v)
{
	vtb_json_key(j, key);
	vtb_json_raw(j, v ? "true" : "false");
}

static void vtb_result_begin(struct vtb_json *j, const char *test, const char *check)
{
	j->len = 0;
	j->first = true;
	vtb_json_raw(j, "{");
	vtb_json_str(j, "test", test);
	vtb_json_str(j, "check", check);
}

/* Ends the line; a failed check makes the whole run exit 1. */
static void vtb_result_end(struct vtb_json *j, bool ok)
{
	vtb_json_bool(j, "ok", ok);
	vtb_json_raw(j, "}");
	printf("VTB-RESULT %s\n", j->buf);
	fflush(stdout);
	if (!ok)
		vtb_failed = 1;
}

/* ---- key=value arguments ---- */

struct vtb_args {
	int n;
	char **kv;
};

static const char *vtb_arg(const struct vtb_args *a, const char *key, const char *dflt)
{
	size_t kl = strlen(key);

	for (int i = 0; i < a->n; i++)
		if (!strncmp(a->kv[i], key, kl) && a->kv[i][kl] == '=')
			return a->kv[i] + kl + 1;
	return dflt;
}

static uint64_t vtb_arg_u64(const struct vtb_args *a, const char *key, uint64_t dflt)
{
	const char *v = vtb_arg(a, key, NULL);

	return v ? strtoull(v, NULL, 0) : dflt;
}

/* ---- small sysfs readers ---- */

/* Reads a sysfs file's first line without its newline; -errno on failure. */
static int vtb_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	int err = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		err = ferror(f) ? -EIO : -ENODATA;
	fclose(f);
	if (err)
		return err;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int vtb_read_u64(const char *path, uint64_t *v)
{
	char buf[64];
	int err = vtb_read_line(path, buf, sizeof(buf));

	if (err)
		return err;
	*v = strtoull(buf, NULL, 0);
	return 0;
}

static void vtb_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- blk ----
 * The pattern is a function of the seed and the absolute device offset, so
 * the host recomputes it for any region: each 8-byte word at offset o holds
 * splitmix64(seed ^ (o / 8)), little-endian.  ci/guest.py has the same. */

static uint64_t vtb_splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* off and len are multiples of 8 (every size here is a sector multiple). */
static void vtb_pattern_fill(uint8_t *buf, uint64_t off, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = vtb_splitmix64(seed ^ ((off + i) / 8));

		for (int b = 0; b < 8; b++)
			buf[i + b] = (uint8_t)(w >> (8 * b));
	}
}

/* Offset of the first byte that differs from the pattern, or -1. */
static int64_t vtb_pattern_check(const uint8_t *buf, uint64_t off, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = vtb_splitmix64(seed ^ ((off + i) / 8));

		for (int b = 0; b < 8; b++)
			if (buf[i + b] != (uint8_t)(w >> (8 * b)))
				return (int64_t)(off + i + b);
	}
	return -1;
}

/* Every region starts on this boundary, so a device with 4 KiB logical
 * blocks or a coarse discard granularity still takes each request whole. */
#define VTB_BLK_ALIGN 65536u

struct vtb_blk_job {
	int fd;
	uint64_t base, size, seed;
	unsigned qd, idx, ops;
	bool write;
	int64_t bad_at;	/* first mismatching device offset, -1 if none */
	int err;	/* first -errno, 0 if none */
	uint8_t *buf;
};

/* One of qd workers: ops requests at base + (op * qd + idx) * size, so the
 * workers together keep qd requests in flight over one contiguous region. */
static void *vtb_blk_worker(void *arg)
{
	struct vtb_blk_job *j = arg;

	for (unsigned op = 0; op < j->ops && !j->err; op++) {
		uint64_t off = j->base + ((uint64_t)op * j->qd + j->idx) * j->size;
		ssize_t n;

		if (j->write) {
			vtb_pattern_fill(j->buf, off, j->size, j->seed);
			n = pwrite(j->fd, j->buf, j->size, (off_t)off);
		} else {
			memset(j->buf, 0, j->size);
			n = pread(j->fd, j->buf, j->size, (off_t)off);
		}
		if (n < 0)
			j->err = -errno;
		else if ((uint64_t)n != j->size)
			j->err = -EIO;
		else if (!j->write && j->bad_at < 0)
			j->bad_at = vtb_pattern_check(j->buf, off, j->size, j->seed);
	}
	return NULL;
}

/* Runs one direction of a (size, qd) pass on qd threads; 0 or -errno. */
static int vtb_blk_pass(struct vtb_blk_job *jobs, unsigned qd, bool write, int64_t *bad_at)
{
	pthread_t tid[16];
	int err = 0;
	unsigned started = 0;

	for (unsigned i = 0; i < qd; i++) {
		jobs[i].write = write;
		jobs[i].err = 0;
		jobs[i].bad_at = -1;
		if (pthread_create(&tid[i], NULL, vtb_blk_worker, &jobs[i])) {
			err = -EAGAIN;
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		if (!err && jobs[i].err)
			err = jobs[i].err;
		if (jobs[i].bad_at >= 0 && (*bad_at < 0 || jobs[i].bad_at < *bad_at))
			*bad_at = jobs[i].bad_at;
	}
	return err;
}

static void vtb_blk_write_record(uint64_t off, uint64_t len, const char *kind, uint64_t seed)
{
	printf("VTB-WRITE {\"off\":%" PRIu64 ",\"len\":%" PRIu64 ",\"kind\":\"%s\",\"seed\":%" PRIu64 "}\n",
	       off, len, kind, seed);
	fflush(stdout);
}

/* Writes, reads back and verifies one region of qd * ops requests of size
 * bytes at base (a multiple of VTB_BLK_ALIGN); returns the bytes it covers,
 * rounded up to the next region's alignment. */
static uint64_t vtb_blk_io(int fd, const char *what, uint64_t base, uint64_t size, unsigned qd, unsigned ops,
			   uint64_t seed)
{
	struct vtb_blk_job jobs[16];
	struct vtb_json j;
	int64_t bad_at = -1;
	int err = 0;
	unsigned made = 0;
	char name[32];

	memset(jobs, 0, sizeof(jobs));
	for (; made < qd; made++) {
		jobs[made] = (struct vtb_blk_job){ .fd = fd, .base = base, .size = size, .seed = seed,
						   .qd = qd, .idx = made, .ops = ops };
		if (posix_memalign((void **)&jobs[made].buf, 4096, size)) {
			err = -ENOMEM;
			goto free_bufs;
		}
	}
	err = vtb_blk_pass(jobs, qd, true, &bad_at);
	if (!err)
		err = vtb_blk_pass(jobs, qd, false, &bad_at);
free_bufs:
	for (unsigned i = 0; i < made; i++)
		free(jobs[i].buf);
	snprintf(name, sizeof(name), "%s_%" PRIu64 "_qd%u", what, size, qd);
	vtb_result_begin(&j, "blk", name);
	vtb_json_u64(&j, "off", base);
	vtb_json_u64(&j, "len", size * qd * ops);
	vtb_json_u64(&j, "size", size);
	vtb_json_u64(&j, "qd", qd);
	vtb_json_u64(&j, "requests", (uint64_t)qd * ops * 2);
	vtb_json_u64(&j, "seed", seed);
	vtb_json_i64(&j, "errno", -err);
	vtb_json_i64(&j, "bad_at", bad_at);
	vtb_result_end(&j, !err && bad_at < 0);
	if (!err)
		vtb_blk_write_record(base, size * qd * ops, "pattern", seed);
	return (size * qd * ops + VTB_BLK_ALIGN - 1) / VTB_BLK_ALIGN * VTB_BLK_ALIGN;
}

static const char *vtb_basename(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* Reads len bytes at off with O_DIRECT and reports whether all are zero. */
static int vtb_blk_read_zero(int fd, uint64_t off, uint64_t len, int64_t *nonzero_at)
{
	uint8_t *buf;
	int err = 0;

	*nonzero_at = -1;
	if (posix_memalign((void **)&buf, 4096, 65536))
		return -ENOMEM;
	for (uint64_t done = 0; done < len && !err && *nonzero_at < 0;) {
		size_t n = len - done < 65536 ? (size_t)(len - done) : 65536;
		ssize_t r = pread(fd, buf, n, (off_t)(off + done));

		if (r != (ssize_t)n) {
			err = r < 0 ? -errno : -EIO;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (buf[i]) {
				*nonzero_at = (int64_t)(off + done + i);
				break;
			}
		done += n;
	}
	free(buf);
	return err;
}

static const uint64_t vtb_blk_sizes[] = { 512, 4096, 65536, 1 << 20 };
static const unsigned vtb_blk_qds[] = { 1, 4, 16 };
#define VTB_BLK_SPECIAL_LEN (1u << 20)	/* each of the write-zeroes and discard regions */

/* The value of /sys/block/NAME/ATTR as a number, 0 if unreadable. */
static uint64_t vtb_blk_attr(const char *name, const char *attr)
{
	char path[256];
	uint64_t v = 0;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", name, attr);
	vtb_read_u64(path, &v);
	return v;
}

/* capacity: the ioctl, the sysfs sector count, and what the host set;
 * returns the capacity in bytes (0 when unknown). */
static uint64_t vtb_blk_capacity(int fd, const char *name, uint64_t want)
{
	uint64_t cap = 0, sectors = 0;
	char path[256];
	struct vtb_json j;
	int err, sys_err;

	err = ioctl(fd, BLKGETSIZE64, &cap) ? -errno : 0;
	snprintf(path, sizeof(path), "/sys/block/%s/size", name);
	sys_err = vtb_read_u64(path, &sectors);
	vtb_result_begin(&j, "blk", "capacity");
	vtb_json_u64(&j, "bytes", cap);
	vtb_json_u64(&j, "sysfs_sectors", sectors);
	vtb_json_u64(&j, "expected", want);
	vtb_json_i64(&j, "errno", -err);
	vtb_result_end(&j, !err && !sys_err && cap == sectors * 512 && (!want || cap == want));
	return err ? 0 : cap;
}

/* GET_ID: virtio_blk asks the device on each read of this attribute. */
static void vtb_blk_serial(const char *name, const char *want)
{
	char path[256], serial[128] = "";
	struct vtb_json j;
	int err;

	snprintf(path, sizeof(path), "/sys/block/%s/serial", name);
	err = vtb_read_line(path, serial, sizeof(serial));
	vtb_result_begin(&j, "blk", "serial");
	vtb_json_str(&j, "serial", serial);
	vtb_json_str(&j, "expected", want ? want : "");
	vtb_json_i64(&j, "errno", -err);
	vtb_result_end(&j, !err && (!want || !strcmp(serial, want)));
}

/* The bytes the whole blk check covers, so a small device fails up front. */
static uint64_t vtb_blk_need(unsigned ops)
{
	uint64_t need = 2 * VTB_BLK_SPECIAL_LEN;

	for (size_t s = 0; s < sizeof(vtb_blk_sizes) / sizeof(vtb_blk_sizes[0]); s++)
		for (size_t q = 0; q < sizeof(vtb_blk_qds) / sizeof(vtb_blk_qds[0]); q++)
			need += (vtb_blk_sizes[s] * vtb_blk_qds[q] * ops + VTB_BLK_ALIGN - 1) / VTB_BLK_ALIGN *
				VTB_BLK_ALIGN;
	return need;
}

/* Every size at every queue depth, regions back to back from offset 0,
 * one seed per region; returns the offset after the last. */
static uint64_t vtb_blk_sweep(int fd, unsigned ops, uint64_t *seed)
{
	uint64_t off = 0;

	for (size_t s = 0; s < sizeof(vtb_blk_sizes) / sizeof(vtb_blk_sizes[0]); s++)
		for (size_t q = 0; q < sizeof(vtb_blk_qds) / sizeof(vtb_blk_qds[0]); q++)
			off += vtb_blk_io(fd, "io", off, vtb_blk_sizes[s], vtb_blk_qds[q], ops, (*seed)++);
	return off;
}

/* fsync on a block device sends VIRTIO_BLK_T_FLUSH when the device has a
 * volatile write cache (write_cache "write back"). */
static void vtb_blk_flush(int fd, const char *name, const char *check)
{
	char path[256], wcache[64] = "";
	struct vtb_json j;
	int err;

	snprintf(path, sizeof(path), "/sys/block/%s/queue/write_cache", name);
	vtb_read_line(path, wcache, sizeof(wcache));
	err = fsync(fd) ? -errno : 0;
	vtb_result_begin(&j, "blk", check);
	vtb_json_str(&j, "write_cache", wcache);
	vtb_json_i64(&j, "errno", -err);
	vtb_result_end(&j, !err);
}

/* A pattern region, then BLKZEROOUT over it, then all of it must read zero.
 * The kernel falls back to writing zero pages when the device has no
 * WRITE_ZEROES; write_zeroes_max_bytes says which one ran.  Returns the
 * bytes the region covers. */
static uint64_t vtb_blk_zeroes(int fd, const char *name, uint64_t off, uint64_t seed)
{
	uint64_t len = VTB_BLK_SPECIAL_LEN, range[2] = { off, len }, covered;
	uint64_t wzmax = vtb_blk_attr(name, "queue/write_zeroes_max_bytes");
	int64_t nonzero_at = -1;
	struct vtb_json j;
	int err;

	covered = vtb_blk_io(fd, "zero_prep", off, 65536, 1, (unsigned)(len / 65536), seed);
	err = ioctl(fd, BLKZEROOUT, range) ? -errno : 0;
	if (!err)
		err = vtb_blk_read_zero(fd, off, len, &nonzero_at);
	vtb_result_begin(&j, "blk", "write_zeroes");
	vtb_json_u64(&j, "off", off);
	vtb_json_u64(&j, "len", len);
	vtb_json_u64(&j, "write_zeroes_max_bytes", wzmax);
	vtb_json_i64(&j, "errno", -err);
	vtb_json_i64(&j, "nonzero_at", nonzero_at);
	vtb_result_end(&j, !err && nonzero_at < 0);
	if (!err)
		vtb_blk_write_record(off, len, "zero", 0);
	return covered;
}

/* A pattern region, then BLKDISCARD over it.  A device without DISCARD has
 * discard_max_bytes 0 and the ioctl fails with EOPNOTSUPP: reported, not
 * failed, unless the host said it must be there.  What a discarded range
 * reads back as is the device's choice; the host does not check it.
 * Returns the bytes the region covers. */
static uint64_t vtb_blk_discard(int fd, const char *name, uint64_t off, uint64_t seed, bool want)
{
	uint64_t len = VTB_BLK_SPECIAL_LEN, range[2] = { off, len }, covered;
	uint64_t gran = vtb_blk_attr(name, "queue/discard_granularity");
	uint64_t dmax = vtb_blk_attr(name, "queue/discard_max_bytes");
	struct vtb_json j;
	int err;

	covered = vtb_blk_io(fd, "discard_prep", off, 65536, 1, (unsigned)(len / 65536), seed);
	err = ioctl(fd, BLKDISCARD, range) ? -errno : 0;
	vtb_result_begin(&j, "blk", "discard");
	vtb_json_u64(&j, "off", off);
	vtb_json_u64(&j, "len", len);
	vtb_json_u64(&j, "discard_granularity", gran);
	vtb_json_u64(&j, "discard_max_bytes", dmax);
	vtb_json_bool(&j, "supported", dmax > 0);
	vtb_json_i64(&j, "errno", -err);
	vtb_result_end(&j, dmax ? !err : (!want && err == -EOPNOTSUPP));
	if (!err)
		vtb_blk_write_record(off, len, "discard", 0);
	return covered;
}

static int vtb_blk(const char *dev, const struct vtb_args *a)
{
	const char *name = vtb_basename(dev);
	unsigned ops = (unsigned)vtb_arg_u64(a, "ops", 2);
	uint64_t seed = vtb_arg_u64(a, "seed", 1), cap, off;
	struct vtb_json j;
	int fd;

	if (ops < 1 || ops > 64)
		ops = 2;
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		vtb_result_begin(&j, "blk", "open");
		vtb_json_str(&j, "dev", dev);
		vtb_json_i64(&j, "errno", errno);
		vtb_json_bool(&j, "present", false);
		vtb_result_end(&j, false);
		return VTB_RC_ABSENT;
	}
	cap = vtb_blk_capacity(fd, name, vtb_arg_u64(a, "capacity", 0));
	vtb_blk_serial(name, vtb_arg(a, "serial", NULL));
	if (cap < vtb_blk_need(ops)) {
		vtb_result_begin(&j, "blk", "room");
		vtb_json_u64(&j, "need", vtb_blk_need(ops));
		vtb_json_u64(&j, "bytes", cap);
		vtb_result_end(&j, false);
		goto close_fd;
	}
	off = vtb_blk_sweep(fd, ops, &seed);
	vtb_blk_flush(fd, name, "flush");
	off += vtb_blk_zeroes(fd, name, off, seed++);
	vtb_blk_discard(fd, name, off, seed++, vtb_arg_u64(a, "discard", 0) != 0);
	vtb_blk_flush(fd, name, "final_flush");
close_fd:
	close(fd);
	return vtb_failed ? VTB_RC_FAIL : VTB_RC_OK;
}

/* ---- net ---- */

#define VTB_ETHERTYPE 0x88b5	/* IEEE 802 local experimental */
#define VTB_NET_MAGIC 0x76746221u

static int vtb_net_first_iface(char *buf, size_t len)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	int err = -ENODEV;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && strcmp(e->d_name, "lo") &&
		    snprintf(buf, len, "%s", e->d_name) < (int)len) {
			err = 0;
			break;
		}
	closedir(d);
	return err;
}

static void vtb_net_frame(uint8_t *f, size_t len, const uint8_t *mac, uint32_t seq)
{
	uint32_t hdr[3] = { htonl(VTB_NET_MAGIC), htonl(seq), htonl((uint32_t)len) };

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = VTB_ETHERTYPE >> 8;
	f[13] = VTB_ETHERTYPE & 0xff;
	memcpy(f + 14, hdr, sizeof(hdr));
	for (size_t i = 14 + sizeof(hdr); i < len; i++)
		f[i] = (uint8_t)(vtb_splitmix64(((uint64_t)seq << 16) | i) & 0xff);
}

/* Waits up to ms for the echo of frame seq; 1 came back equal, 0 timed out,
 * -1 came back different (counted bad), -errno on a socket error.  Frames of
 * other sequences (late echoes) are skipped; the MAC addresses may be
 * swapped by the echoing side, everything from the ethertype on must match. */
static int vtb_net_await(int fd, const uint8_t *want, size_t len, uint32_t seq, int ms, bool *swapped)
{
	uint8_t got[2048];
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		uint32_t rseq;
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return 0;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recvfrom(fd, got, sizeof(got), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		if (from.sll_pkttype == PACKET_OUTGOING || n < 26)
			continue;
		memcpy(&rseq, got + 18, 4);
		if ((uint32_t)ntohl(rseq) != seq)
			continue;
		if ((size_t)n != len || memcmp(got + 12, want + 12, len - 12))
			return -1;
		if (!memcmp(got, want, 12))
			*swapped = false;
		else if (!memcmp(got, want + 6, 6) && !memcmp(got + 6, want, 6))
			*swapped = true;
		else
			return -1;
		return 1;
	}
}

/* Link up, then what the guest sees of the device's config space: the MAC
 * (into hw) and the MTU.  VTB_RC_OK, or VTB_RC_ABSENT / VTB_RC_FAIL when the
 * interface cannot be brought up. */
static int vtb_net_config(const char *ifname, const char *want_mac, uint64_t want_mtu, uint8_t *hw)
{
	char mac[32];
	struct ifreq ifr;
	struct vtb_json j;
	int s, err;

	/* any socket takes the device ioctls; AF_PACKET needs no IP stack */
	s = socket(AF_PACKET, SOCK_DGRAM, 0);
	err = s < 0 ? -errno : 0;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (!err)
		err = ioctl(s, SIOCGIFFLAGS, &ifr) ? -errno : 0;
	if (!err) {
		ifr.ifr_flags |= IFF_UP;
		err = ioctl(s, SIOCSIFFLAGS, &ifr) ? -errno : 0;
	}
	vtb_result_begin(&j, "net", "up");
	vtb_json_str(&j, "iface", ifname);
	vtb_json_i64(&j, "errno", -err);
	vtb_result_end(&j, !err);
	if (err)
		goto close_s;

	err = ioctl(s, SIOCGIFHWADDR, &ifr) ? -errno : 0;
	memcpy(hw, ifr.ifr_hwaddr.sa_data, 6);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", hw[0], hw[1], hw[2], hw[3], hw[4], hw[5]);
	vtb_result_begin(&j, "net", "mac");
	vtb_json_str(&j, "mac", mac);
	vtb_json_str(&j, "expected", want_mac ? want_mac : "");
	vtb_json_i64(&j, "errno", -err);
	vtb_result_end(&j, !err && (!want_mac || !strcasecmp(mac, want_mac)));

	err = ioctl(s, SIOCGIFMTU, &ifr) ? -errno : 0;
	vtb_result_begin(&j, "net", "mtu");
	vtb_json_u64(&j, "mtu", err ? 0 : (uint64_t)ifr.ifr_mtu);
	vtb_json_u64(&j, "expected", want_mtu);
	vtb_json_i64(&j, "errno", -err);
	vtb_result_end(&j, !err && (!want_mtu || (uint64_t)ifr.ifr_mtu == want_mtu));
	err = 0;
close_s:
	if (s >= 0)
		close(s);
	return !err ? VTB_RC_OK : err == -ENODEV ? VTB_RC_ABSENT : VTB_RC_FAIL;
}

/* carrier follows VIRTIO_NET_S_LINK_UP once the interface is up; waits up
 * to wait_s seconds for it. */
static void vtb_net_link(const char *ifname, unsigned wait_s)
{
	char path[256], carrier[16] = "", oper[32] = "";
	struct vtb_json j;

	snprintf(path, sizeof(path), "/sys/class/net/%s/carrier", ifname);
	for (unsigned i = 0; i <= wait_s * 10; i++) {
		if (!vtb_read_line(path, carrier, sizeof(carrier)) && !strcmp(carrier, "1"))
			break;
		vtb_sleep_ms(100);
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/operstate", ifname);
	vtb_read_line(path, oper, sizeof(oper));
	vtb_result_begin(&j, "net", "link");
	vtb_json_str(&j, "carrier", carrier);
	vtb_json_str(&j, "operstate", oper);
	vtb_result_end(&j, !strcmp(carrier, "1"));
}

/* Frames of lo..hi bytes (every step-th, and hi) through an AF_PACKET
 * socket, each awaited back.  Stop and wait, one frame at a time: a lost
 * echo costs one timeout and cannot be confused with a later frame's. */
static void vtb_net_echo(const char *ifname, const uint8_t *hw, unsigned lo, unsigned hi, unsigned step,
			 int wait_ms)
{
	uint64_t sent = 0, received = 0, bad = 0, lost = 0, swapped_n = 0;
	struct sockaddr_ll sll;
	struct vtb_json j;
	uint8_t frame[2048];
	int ps, err;

	ps = socket(AF_PACKET, SOCK_RAW, htons(VTB_ETHERTYPE));
	err = ps < 0 ? -errno : 0;
	if (!err) {
		memset(&sll, 0, sizeof(sll));
		sll.sll_family = AF_PACKET;
		sll.sll_protocol = htons(VTB_ETHERTYPE);
		sll.sll_ifindex = (int)if_nametoindex(ifname);
		err = bind(ps, (struct sockaddr *)&sll, sizeof(sll)) ? -errno : 0;
	}
	for (unsigned len = lo; !err && len <= hi; len = len + step > hi && len != hi ? hi : len + step) {
		bool swapped = false;
		uint32_t seq = (uint32_t)sent;
		int r;

		vtb_net_frame(frame, len, hw, seq);
		if (send(ps, frame, len, 0) != (ssize_t)len) {
			err = -errno;
			break;
		}
		sent++;
		r = vtb_net_await(ps, frame, len, seq, wait_ms, &swapped);
		if (r == 1) {
			received++;
			swapped_n += swapped;
		} else if (r == 0) {
			lost++;
		} else if (r == -1) {
			bad++;
		} else {
			err = r;
		}
		if (len == hi)
			break;
	}
	vtb_result_begin(&j, "net", "echo");
	vtb_json_u64(&j, "min", lo);
	vtb_json_u64(&j, "max", hi);
	vtb_json_u64(&j, "step", step);
	vtb_json_u64(&j, "sent", sent);
	vtb_json_u64(&j, "received", received);
	vtb_json_u64(&j, "bad", bad);
	vtb_json_u64(&j, "lost", lost);
	vtb_json_u64(&j, "mac_swapped", swapped_n);
	vtb_json_i64(&j, "errno", -err);
	vtb_result_end(&j, !err && sent > 0 && received == sent && !bad);
	if (ps >= 0)
		close(ps);
}

static int vtb_net(const char *ifarg, const struct vtb_args *a)
{
	unsigned lo = (unsigned)vtb_arg_u64(a, "min", 60), hi = (unsigned)vtb_arg_u64(a, "max", 1514);
	unsigned step = (unsigned)vtb_arg_u64(a, "step", 1);
	char ifname[IFNAMSIZ] = "";
	struct vtb_json j;
	uint8_t hw[6];
	int err, rc;

	if (lo < 60)
		lo = 60;
	if (hi > 1514)
		hi = 1514;
	if (hi < lo)
		hi = lo;
	if (!step)
		step = 1;
	if (!strcmp(ifarg, "auto"))
		err = vtb_net_first_iface(ifname, sizeof(ifname));
	else
		err = snprintf(ifname, sizeof(ifname), "%s", ifarg) >= (int)sizeof(ifname) ? -EINVAL : 0;
	if (err) {
		vtb_result_begin(&j, "net", "iface");
		vtb_json_str(&j, "iface", ifname);
		vtb_json_i64(&j, "errno", -err);
		vtb_json_bool(&j, "present", false);
		vtb_result_end(&j, false);
		return VTB_RC_ABSENT;
	}
	rc = vtb_net_config(ifname, vtb_arg(a, "mac", NULL), vtb_arg_u64(a, "mtu", 0), hw);
	if (rc != VTB_RC_OK)
		return rc;
	vtb_net_link(ifname, (unsigned)vtb_arg_u64(a, "link_wait", 10));
	vtb_net_echo(ifname, hw, lo, hi, step, (int)vtb_arg_u64(a, "timeout_ms", 2000));
	return vtb_failed ? VTB_RC_FAIL : VTB_RC_OK;
}

/* ---- scmi ---- */

/* The arm-scmi platform device's sysfs directory (its driver's link). */
static int vtb_scmi_find(char *buf, size_t len)
{
	static const char drv[] = "/sys/bus/platform/drivers/arm-scmi";
	DIR *d = opendir(drv);
	struct dirent *e;
	int err = -ENODEV;

	if (!d)
		return -ENODEV;
	while ((e = readdir(d))) {
		char p[512];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s/vendor_id", drv, e->d_name);
		if (!stat(p, &st)) {
			snprintf(buf, len, "%s/%s", drv, e->d_name);
			err = 0;
			break;
		}
	}
	closedir(d);
	return err;
}

/* BASE_DISCOVER_LIST_PROTOCOLS through the raw debugfs interface (SCMI
 * v3.2 4.2.2.8): header msg 6 of protocol 0x10, a skip count, then the
 * reply's status, count and packed protocol ids.  Present only with
 * CONFIG_ARM_SCMI_RAW_MODE_SUPPORT; returns the count or -errno. */
static int vtb_scmi_raw_protocols(uint8_t *ids, int max)
{
	static const char path[] = "/sys/kernel/debug/scmi/0/raw/message";
	int n = 0;

	while (n < max) {
		uint32_t req[2] = { 6u | (0x10u << 10) | ((uint32_t)(n + 1) << 18), (uint32_t)n };
		uint8_t rsp[128];
		uint32_t hdr, cnt;
		int32_t status;
		ssize_t r;
		int fd = open(path, O_RDWR);

		if (fd < 0)
			return -errno;
		if (write(fd, req, sizeof(req)) != sizeof(req)) {
			r = -errno;
			close(fd);
			return (int)r;
		}
		r = read(fd, rsp, sizeof(rsp));
		close(fd);
		if (r < 12)
			return r < 0 ? -errno : -EPROTO;
		memcpy(&hdr, rsp, 4);
		memcpy(&status, rsp + 4, 4);
		memcpy(&cnt, rsp + 8, 4);
		if (status != 0 || cnt == 0 || cnt > (uint32_t)(r - 12))
			return status ? -EREMOTEIO : n;
		for (uint32_t i = 0; i < cnt && n < max; i++)
			ids[n++] = rsp[12 + i];
	}
	return n;
}

/* The protocols Linux made devices for: each scmi_protocol bus device
 * points at its DT node protocol@ID.  Without raw mode this is what the
 * guest can see of the list; it omits the base protocol and those no
 * driver asked for. */
static int vtb_scmi_device_protocols(uint8_t *ids, int max)
{
	static const char bus[] = "/sys/bus/scmi_protocol/devices";
	DIR *d = opendir(bus);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) && n < max) {
		char p[512], target[512];
		const char *at;
		ssize_t l;
		unsigned long id;
		bool dup = false;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/of_node", bus, e->d_name);
		l = readlink(p, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = 0;
		at = strstr(vtb_basename(target), "protocol@");
		if (!at)
			continue;
		id = strtoul(at + strlen("protocol@"), NULL, 16);
		for (int i = 0; i < n; i++)
			dup |= ids[i] == id;
		if (id <= 0xff && !dup)
			ids[n++] = (uint8_t)id;
	}
	closedir(d);
	return n;
}

static void vtb_json_ids(struct vtb_json *j, const char *key, const uint8_t *ids, int n)
{
	vtb_json_key(j, key);
	vtb_json_raw(j, "[");
	for (int i = 0; i < n; i++)
		vtb_json_raw(j, "%s%u", i ? "," : "", ids[i]);
	vtb_json_raw(j, "]");
}

struct vtb_sensor {
	char file[300];	/* e.g. /sys/class/hwmon/hwmon0/temp1_input */
	char label[64];
	int64_t v[2];
	int err[2];
};

/* Every *_input of every hwmon device named scmi_sensors. */
static int vtb_scmi_sensors(struct vtb_sensor *s, int max)
{
	DIR *d = opendir("/sys/class/hwmon");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char p[300], name[64];
		DIR *hd;
		struct dirent *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/class/hwmon/%s/name", e->d_name);
		if (vtb_read_line(p, name, sizeof(name)) || strcmp(name, "scmi_sensors"))
			continue;
		snprintf(p, sizeof(p), "/sys/class/hwmon/%s", e->d_name);
		hd = opendir(p);
		if (!hd)
			continue;
		while ((f = readdir(hd)) && n < max) {
			size_t l = strlen(f->d_name);
			char lp[400];

			if (l < 7 || strcmp(f->d_name + l - 6, "_input"))
				continue;
			if (snprintf(s[n].file, sizeof(s[n].file), "%s/%s", p, f->d_name) >= (int)sizeof(s[n].file))
				continue;
			snprintf(lp, sizeof(lp), "%s/%.*slabel", p, (int)(l - 5), f->d_name);
			if (vtb_read_line(lp, s[n].label, sizeof(s[n].label)))
				s[n].label[0] = 0;
			n++;
		}
		closedir(hd);
	}
	closedir(d);
	return n;
}

static int vtb_scmi(const struct vtb_args *a)
{
	unsigned wait_s = (unsigned)vtb_arg_u64(a, "wait", 2);
	unsigned probe_s = (unsigned)vtb_arg_u64(a, "probe_wait", 5);
	const char *want_vendor = vtb_arg(a, "vendor", NULL);
	uint64_t want_sensors = vtb_arg_u64(a, "sensors", 0);
	char dir[300] = "", path[400], vendor[64] = "", sub[64] = "", fw[32] = "", pv[32] = "";
	static struct vtb_sensor sensors[64];
	uint8_t ids[256], dev_ids[64];
	struct vtb_json j;
	int err = -ENODEV, n, dn;

	/* The driver binds once the virtio device is there; it may come late. */
	for (unsigned i = 0; i <= probe_s * 10 && err; i++) {
		err = vtb_scmi_find(dir, sizeof(dir));
		if (err)
			vtb_sleep_ms(100);
	}
	vtb_result_begin(&j, "scmi", "present");
	vtb_json_bool(&j, "present", !err);
	vtb_json_bool(&j, "dt_node", access("/proc/device-tree/firmware/scmi", F_OK) == 0);
	vtb_json_str(&j, "device", dir);
	vtb_result_end(&j, !err);
	if (err)
		return VTB_RC_ABSENT;

	snprintf(path, sizeof(path), "%s/vendor_id", dir);
	vtb_read_line(path, vendor, sizeof(vendor));
	snprintf(path, sizeof(path), "%s/sub_vendor_id", dir);
	vtb_read_line(path, sub, sizeof(sub));
	snprintf(path, sizeof(path), "%s/firmware_version", dir);
	vtb_read_line(path, fw, sizeof(fw));
	snprintf(path, sizeof(path), "%s/protocol_version", dir);
	vtb_read_line(path, pv, sizeof(pv));
	vtb_result_begin(&j, "scmi", "base");
	vtb_json_str(&j, "vendor_id", vendor);
	vtb_json_str(&j, "sub_vendor_id", sub);
	vtb_json_str(&j, "firmware_version", fw);
	vtb_json_str(&j, "protocol_version", pv);
	vtb_json_str(&j, "expected_vendor", want_vendor ? want_vendor : "");
	vtb_result_end(&j, vendor[0] && (!want_vendor || !strcmp(vendor, want_vendor)));

	n = vtb_scmi_raw_protocols(ids, (int)sizeof(ids));
	dn = vtb_scmi_device_protocols(dev_ids, (int)sizeof(dev_ids));
	vtb_result_begin(&j, "scmi", "protocols");
	vtb_json_ids(&j, "ids", ids, n);	/* what the platform lists (raw mode) */
	vtb_json_ids(&j, "device_ids", dev_ids, dn);	/* what Linux bound */
	vtb_json_i64(&j, "raw_errno", n < 0 ? -n : 0);
	vtb_result_end(&j, n > 0 || dn > 0);

	n = vtb_scmi_sensors(sensors, 64);
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			vtb_sleep_ms(wait_s * 1000);
		for (int i = 0; i < n; i++) {
			char v[64];

			sensors[i].err[pass] = vtb_read_line(sensors[i].file, v, sizeof(v));
			sensors[i].v[pass] = sensors[i].err[pass] ? 0 : strtoll(v, NULL, 10);
		}
	}
	for (int i = 0; i < n; i++) {
		vtb_result_begin(&j, "scmi", "sensor");
		vtb_json_str(&j, "file", vtb_basename(sensors[i].file));
		vtb_json_str(&j, "label", sensors[i].label);
		vtb_json_i64(&j, "value1", sensors[i].v[0]);
		vtb_json_i64(&j, "value2", sensors[i].v[1]);
		vtb_json_bool(&j, "changed", sensors[i].v[0] != sensors[i].v[1]);
		vtb_json_i64(&j, "errno", -(sensors[i].err[0] ? sensors[i].err[0] : sensors[i].err[1]));
		vtb_result_end(&j, !sensors[i].err[0] && !sensors[i].err[1]);
	}
	vtb_result_begin(&j, "scmi", "sensors");
	vtb_json_u64(&j, "count", (uint64_t)n);
	vtb_json_u64(&j, "expected", want_sensors);
	vtb_result_end(&j, want_sensors ? (uint64_t)n == want_sensors : n > 0);
	return vtb_failed ? VTB_RC_FAIL : VTB_RC_OK;
}

/* The host's half of the blk check: the bytes a region should hold. */
static int vtb_pattern_out(const char *offs, const char *lens, const char *seeds)
{
	uint64_t off = strtoull(offs, NULL, 0), len = strtoull(lens, NULL, 0), seed = strtoull(seeds, NULL, 0);
	static uint8_t buf[1 << 16];

	if (off % 8 || len % 8)
		return VTB_RC_USAGE;
	while (len) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);

		vtb_pattern_fill(buf, off, n, seed);
		if (fwrite(buf, 1, n, stdout) != n)
			return VTB_RC_FAIL;
		off += n;
		len -= n;
	}
	return fflush(stdout) ? VTB_RC_FAIL : VTB_RC_OK;
}

/* ---- blkbench: random O_DIRECT reads at a fixed queue depth ---- */

/* Linux native AIO by raw syscalls (no libaio in a static build): one
 * thread keeps qd reads in flight, as fio's libaio engine does. */
static long vtb_io_setup(unsigned n, aio_context_t *ctx) { return syscall(SYS_io_setup, n, ctx); }
static long vtb_io_destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
static long vtb_io_submit(aio_context_t ctx, long n, struct iocb **v) { return syscall(SYS_io_submit, ctx, n, v); }
static long vtb_io_getevents(aio_context_t ctx, long min, long max, struct io_event *ev)
{
	return syscall(SYS_io_getevents, ctx, min, max, ev, NULL);
}

static double vtb_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The virtio interrupts the guest took so far: the sum of every
 * /proc/interrupts line naming a virtio queue. */
static uint64_t vtb_virtio_irqs(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[1024];
	uint64_t sum = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "virtio"))
			continue;
		char *p = strchr(line, ':');
		if (!p)
			continue;
		for (p++;;) {
			char *e;
			unsigned long long v = strtoull(p, &e, 10);
			if (e == p)
				break;
			sum += v;
			p = e;
		}
	}
	fclose(f);
	return sum;
}

/* Completed reads of a disk and reads merged into them (two adjacent
 * reads the block layer sent as one request), from /sys/block/NAME/stat
 * (fields 1 and 2). */
static uint64_t vtb_disk_reads(const char *name, uint64_t *merged)
{
	char path[256];
	unsigned long long r = 0, m = 0;
	snprintf(path, sizeof(path), "/sys/block/%s/stat", name);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu %llu", &r, &m) != 2)
			r = m = 0;
		fclose(f);
	}
	*merged = m;
	return r;
}

/* The guest kernel's own DMA counts: /init puts a hist trigger
 * (vals=hitcount,size) on swiotlb:swiotlb_bounced, iommu:map and iommu:unmap
 * before any driver loads; a hist file's entries summed give the events and
 * the bytes they covered since then.  A kernel without the event or tracefs
 * gives have=false. */
struct vtb_dma_event {
	const char *name;	/* JSON key */
	const char *path;	/* under events/ */
	bool have;
	uint64_t hits, bytes;
};

#define VTB_DMA_EVENTS 3
static const char *const vtb_dma_names[VTB_DMA_EVENTS][2] = {
	{ "swiotlb_bounced", "swiotlb/swiotlb_bounced" },
	{ "iommu_map", "iommu/map" },
	{ "iommu_unmap", "iommu/unmap" },
};

static uint64_t vtb_field_u64(const char *line, const char *field)
{
	const char *p = strstr(line, field);
	return p ? strtoull(p + strlen(field), NULL, 10) : 0;
}

static void vtb_dma_read(struct vtb_dma_event ev[VTB_DMA_EVENTS])
{
	for (int i = 0; i < VTB_DMA_EVENTS; i++) {
		char path[256], line[512];
		snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/hist", vtb_dma_names[i][1]);
		ev[i] = (struct vtb_dma_event){ .name = vtb_dma_names[i][0], .path = vtb_dma_names[i][1] };
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (line[0] != '{')
				continue;
			ev[i].have = true;
			ev[i].hits += vtb_field_u64(line, "hitcount:");
			ev[i].bytes += vtb_field_u64(line, " size:");
		}
		/* a trigger with no entry yet still counts as present */
		if (!ev[i].have) {
			rewind(f);
			while (fgets(line, sizeof(line), f))
				if (strstr(line, "Totals:"))
					ev[i].have = true;
		}
		fclose(f);
	}
}

/* ev1 - ev0 as "KEY":hits and "KEY_bytes":bytes; absent events are null. */
static void vtb_json_dma(struct vtb_json *j, const struct vtb_dma_event *ev0, const struct vtb_dma_event *ev1)
{
	for (int i = 0; i < VTB_DMA_EVENTS; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s_bytes", ev1[i].name);
		if (!ev1[i].have || !ev0[i].have) {
			vtb_json_key(j, ev1[i].name);
			vtb_json_raw(j, "null");
			vtb_json_key(j, key);
			vtb_json_raw(j, "null");
			continue;
		}
		vtb_json_u64(j, ev1[i].name, ev1[i].hits - ev0[i].hits);
		vtb_json_u64(j, key, ev1[i].bytes - ev0[i].bytes);
	}
}

/* `vtb_guest counts`: the whole boot's DMA counts (since /init's triggers),
 * one VTB-COUNTS line, for the host to set against QEMU's own count. */
static int vtb_counts(void)
{
	struct vtb_dma_event zero[VTB_DMA_EVENTS], now[VTB_DMA_EVENTS];
	struct vtb_json j = { .first = true };

	vtb_dma_read(now);
	for (int i = 0; i < VTB_DMA_EVENTS; i++)
		zero[i] = (struct vtb_dma_event){ .have = now[i].have };
	vtb_json_raw(&j, "VTB-COUNTS {");
	vtb_json_dma(&j, zero, now);
	vtb_json_raw(&j, "}");
	printf("%s\n", j.buf);
	fflush(stdout);
	return VTB_RC_OK;
}

#define VTB_BENCH_MAX_QD 64

static int vtb_blkbench(const char *dev, const struct vtb_args *a)
{
	unsigned qd = (unsigned)vtb_arg_u64(a, "qd", 1);
	uint32_t bs = (uint32_t)vtb_arg_u64(a, "bs", 4096);
	double secs = (double)vtb_arg_u64(a, "ms", 5000) / 1000.0;
	uint64_t seed = vtb_arg_u64(a, "seed", 1), cap = 0, done = 0, errs = 0;
	static struct iocb cb[VTB_BENCH_MAX_QD];
	struct iocb *cbp[VTB_BENCH_MAX_QD];
	struct io_event ev[VTB_BENCH_MAX_QD];
	aio_context_t ctx = 0;
	struct vtb_json j;
	uint8_t *buf = NULL;
	int fd, rc = VTB_RC_FAIL;

	if (qd < 1 || qd > VTB_BENCH_MAX_QD || bs < 512 || bs % 512 || bs > (1u << 20))
		return vtb_usage();
	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return VTB_RC_ABSENT;
	if (ioctl(fd, BLKGETSIZE64, &cap) || cap < (uint64_t)bs * 2)
		goto close_fd;
	if (posix_memalign((void **)&buf, 4096, (size_t)bs * qd))
		goto close_fd;
	if (vtb_io_setup(qd, &ctx))
		goto free_buf;
	uint64_t slots = cap / bs, x = seed;
	for (unsigned i = 0; i < qd; i++) {
		memset(&cb[i], 0, sizeof(cb[i]));
		cb[i].aio_fildes = (uint32_t)fd;
		cb[i].aio_lio_opcode = IOCB_CMD_PREAD;
		cb[i].aio_buf = (uint64_t)(uintptr_t)(buf + (size_t)i * bs);
		cb[i].aio_nbytes = bs;
		cb[i].aio_data = i;
		cb[i].aio_offset = (int64_t)((vtb_splitmix64(x++) % slots) * bs);
		cbp[i] = &cb[i];
	}
	struct vtb_dma_event dma0[VTB_DMA_EVENTS], dma1[VTB_DMA_EVENTS];
	vtb_dma_read(dma0);
	uint64_t mg0, mg1;
	uint64_t irq0 = vtb_virtio_irqs(), rd0 = vtb_disk_reads(vtb_basename(dev), &mg0);
	double t0 = vtb_now(), t1 = t0;
	if (vtb_io_submit(ctx, qd, cbp) != (long)qd)
		goto destroy;
	unsigned inflight = qd;
	while (inflight) {
		long n = vtb_io_getevents(ctx, 1, qd, ev);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		t1 = vtb_now();
		unsigned again = 0;
		for (long i = 0; i < n; i++) {
			struct iocb *c = &cb[ev[i].data];
			if (ev[i].res != (int64_t)bs)
				errs++;
			done++;
			inflight--;
			if (t1 - t0 < secs) {
				c->aio_offset = (int64_t)((vtb_splitmix64(x++) % slots) * bs);
				cbp[again++] = c;
			}
		}
		if (again && vtb_io_submit(ctx, again, cbp) == (long)again)
			inflight += again;
		else if (again)
			errs++;
	}
	uint64_t irqs = vtb_virtio_irqs() - irq0, reads = vtb_disk_reads(vtb_basename(dev), &mg1) - rd0;
	vtb_dma_read(dma1);
	double el = t1 - t0;
	vtb_result_begin(&j, "blkbench", "randread");
	vtb_json_u64(&j, "qd", qd);
	vtb_json_u64(&j, "bs", bs);
	vtb_json_u64(&j, "ops", done);
	vtb_json_u64(&j, "errors", errs);
	vtb_json_u64(&j, "usec", (uint64_t)(el * 1e6));
	vtb_json_u64(&j, "iops", el > 0 ? (uint64_t)((double)done / el) : 0);
	vtb_json_u64(&j, "disk_reads", reads);
	vtb_json_u64(&j, "disk_reads_merged", mg1 - mg0);
	vtb_json_u64(&j, "virtio_irqs", irqs);
	vtb_json_dma(&j, dma0, dma1);
	vtb_result_end(&j, errs == 0 && done > 0 && !inflight);
	rc = vtb_failed ? VTB_RC_FAIL : VTB_RC_OK;
destroy:
	vtb_io_destroy(ctx);
free_buf:
	free(buf);
close_fd:
	close(fd);
	return rc;
}

/* ---- cells: vtbench's own workloads, as the harness's qemu platform runs
 * them (harness/qemu.c writes the job, reads the rows) ----
 *
 * The job file has one line per repetition of a cell, in run order:
 *   cell=I rep=R device=blk pattern=P size=BYTES qd=N rwmix=PCT warm=NS dur=NS verify=0|1 seed=S [io=io_uring|aio]
 *   cell=I rep=R device=net mode=tx|rr|rx size=BYTES|imix qd=N warm=NS dur=NS verify=0|1 seed=S
 *   cell=I rep=R device=scmi mix=sensor_read qd=1 warm=NS dur=NS verify=0|1 seed=S
 * Each runs its warmup, then asks the host for a start mark (VTB-MARK I R
 * begin, answered by a line on the console), runs the measured phase to
 * the last completion, asks for the end mark, and prints
 *   VTB-ROW cell=I rep=R ops= bytes= ns= errors= verify_errors= irqs= ctxsw=
 *       bounced= bounced_bytes= maps= map_bytes= unmaps= unmap_bytes= buf_runs= hist=IDX:N,...
 * (a guest kernel without an event gives -1; buf_runs: the physically
 * contiguous runs of a blk cell's qd buffers, 0 for net or unknown;
 * tx_stalls: net sends that waited 2 s for a full TX queue; uring_cqes:
 * the completions the kernel posted on an io_uring cell's ring, -1 else).  Between the two marks the
 * guest does nothing but the cell, so the host cuts its own trace there. */

#include "guest_net.h"
#include "hist.h"

#define VTB_CELL_MAX_QD 256
#define VTB_SECTOR 512u

/* How a blk cell's requests reach the kernel. */
enum vtb_bio_kind { VTB_BIO_URING, VTB_BIO_AIO, VTB_BIO_KINDS };

struct vtb_cell {
	unsigned cell, rep, qd, rwmix;
	bool net, scmi;
	enum vtb_bio_kind io;
	char pattern[16];	/* blk: the pattern; net: tx | rr | rx */
	int size;		/* net: VTB_GN_IMIX for imix */
	uint64_t warm_ns, dur_ns, seed;
	bool verify;
};

struct vtb_phase {
	uint64_t ops, bytes, errors, verify_errors, ns;
	struct vtb_hist hist;
};

/* The disk as the guest has written it: each sector's pattern seed is the
 * run's seed mixed with its generation (0: as the host created the disk). */
struct vtb_disk {
	int fd;
	uint64_t sectors, seed;
	uint32_t *gen;
	uint8_t *busy;		/* sectors under a request in flight */
	uint64_t next_gen;
};

static uint64_t vtb_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t vtb_sector_seed(const struct vtb_disk *d, uint64_t s)
{
	return d->gen[s] ? vtb_splitmix64(d->seed ^ ((uint64_t)d->gen[s] << 40)) : d->seed;
}

static int vtb_cell_parse(char *line, struct vtb_cell *c)
{
	memset(c, 0, sizeof(*c));
	int have = 0;
	for (char *w = strtok(line, " \t\n"); w; w = strtok(NULL, " \t\n")) {
		char *v = strchr(w, '=');
		if (!v)
			return -EINVAL;
		*v++ = 0;
		uint64_t u = strtoull(v, NULL, 10);
		if (!strcmp(w, "cell"))
			c->cell = (unsigned)u, have |= 1;
		else if (!strcmp(w, "rep"))
			c->rep = (unsigned)u;
		else if (!strcmp(w, "device") && strcmp(v, "blk") && strcmp(v, "net") && strcmp(v, "scmi"))
			return -EINVAL;
		else if (!strcmp(w, "device"))
			c->net = !strcmp(v, "net"), c->scmi = !strcmp(v, "scmi");
		else if (!strcmp(w, "pattern") || !strcmp(w, "mode") || !strcmp(w, "mix"))
			snprintf(c->pattern, sizeof(c->pattern), "%s", v), have |= 2;
		else if (!strcmp(w, "size"))
			c->size = !strcmp(v, "imix") ? VTB_GN_IMIX : u > (1u << 20) ? 0 : (int)u, have |= 4;
		else if (!strcmp(w, "qd"))
			c->qd = (unsigned)u, have |= 8;
		else if (!strcmp(w, "rwmix"))
			c->rwmix = (unsigned)u;
		else if (!strcmp(w, "warm"))
			c->warm_ns = u;
		else if (!strcmp(w, "dur"))
			c->dur_ns = u, have |= 16;
		else if (!strcmp(w, "verify"))
			c->verify = u != 0;
		else if (!strcmp(w, "seed"))
			c->seed = u;
		else if (!strcmp(w, "io") && !strcmp(v, "aio"))
			c->io = VTB_BIO_AIO;
		else if (!strcmp(w, "io") && strcmp(v, "io_uring"))
			return -EINVAL;
	}
	if (c->scmi)	/* no size: hwmon reads are the sensor's */
		return (have | 4) != 31 || c->qd != 1 || strcmp(c->pattern, "sensor_read") ? -EINVAL : 0;
	if (have != 31 || !c->qd || c->qd > VTB_CELL_MAX_QD)
		return -EINVAL;
	if (c->net)
		return (strcmp(c->pattern, "tx") && strcmp(c->pattern, "rr") && strcmp(c->pattern, "rx")) ||
		       (c->size != VTB_GN_IMIX && (c->size < (int)VTB_GN_MIN || c->size > (int)VTB_GN_MAX)) ? -EINVAL : 0;
	if (c->size < (int)VTB_SECTOR || c->size % VTB_SECTOR || c->size > (1 << 20))
		return -EINVAL;
	return 0;
}

struct vtb_req {
	uint64_t t0, sector;
	bool write;
};

/* ---- the blk submission engines: io_uring and Linux native AIO, both by
 * raw syscalls (a static build links neither liburing nor libaio) ---- */

#define VTB_BIO_DEPTH VTB_CELL_MAX_QD

struct vtb_uring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	void *sq_map, *cq_map;
	size_t sq_len, cq_len, sqes_len;
	unsigned queued;	/* SQEs written since the last enter */
};

struct vtb_bio {
	enum vtb_bio_kind kind;
	bool open;
	aio_context_t aio;
	struct iocb cb[VTB_BIO_DEPTH];
	struct iocb *cbp[VTB_BIO_DEPTH];
	unsigned queued;	/* AIO: iocbs in cbp not yet submitted */
	struct vtb_uring u;
};

struct vtb_bio_done {
	uint64_t tag;
	int64_t res;
};

static void vtb_uring_close(struct vtb_uring *u)
{
	if (u->sqes)
		munmap(u->sqes, u->sqes_len);
	if (u->cq_map && u->cq_map != u->sq_map)
		munmap(u->cq_map, u->cq_len);
	if (u->sq_map)
		munmap(u->sq_map, u->sq_len);
	close(u->fd);
	memset(u, 0, sizeof(*u));
	u->fd = -1;
}

/* A ring of depth entries, mapped as io_uring_setup(2) lays it out. */
static int vtb_uring_open(struct vtb_uring *u, unsigned depth)
{
	struct io_uring_params p;
	int err;
	memset(u, 0, sizeof(*u));
	memset(&p, 0, sizeof(p));
	u->fd = (int)syscall(SYS_io_uring_setup, depth, &p);
	if (u->fd < 0)
		return -errno;
	u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	u->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP)
		u->sq_len = u->cq_len = u->sq_len > u->cq_len ? u->sq_len : u->cq_len;
	u->sq_map = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_SQ_RING);
	if (u->sq_map == MAP_FAILED) {
		u->sq_map = NULL;
		goto fail_map;
	}
	u->cq_map = u->sq_map;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		u->cq_map = mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
				 IORING_OFF_CQ_RING);
		if (u->cq_map == MAP_FAILED) {
			u->cq_map = NULL;
			goto fail_map;
		}
	}
	u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_SQES);
	if (u->sqes == MAP_FAILED) {
		u->sqes = NULL;
		goto fail_map;
	}
	u->sq_tail = (unsigned *)((char *)u->sq_map + p.sq_off.tail);
	u->sq_mask = (unsigned *)((char *)u->sq_map + p.sq_off.ring_mask);
	u->sq_array = (unsigned *)((char *)u->sq_map + p.sq_off.array);
	u->cq_head = (unsigned *)((char *)u->cq_map + p.cq_off.head);
	u->cq_tail = (unsigned *)((char *)u->cq_map + p.cq_off.tail);
	u->cq_mask = (unsigned *)((char *)u->cq_map + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)((char *)u->cq_map + p.cq_off.cqes);
	return 0;
fail_map:
	err = -errno;
	vtb_uring_close(u);
	return err;
}

/* The kernel's own count of completions posted on the ring (its fdinfo
 * CqTail), so a row shows the requests went through io_uring; -1 unread. */
static int64_t vtb_uring_cq_tail(const struct vtb_uring *u)
{
	char path[64], line[128];
	int64_t tail = -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", u->fd);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (tail < 0 && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CqTail:", 7))
			tail = (int64_t)strtoull(line + 7, NULL, 10);
	fclose(f);
	return tail;
}

static int vtb_bio_open(struct vtb_bio *b, enum vtb_bio_kind kind)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	int err = kind == VTB_BIO_URING ? vtb_uring_open(&b->u, VTB_BIO_DEPTH)
					: vtb_io_setup(VTB_BIO_DEPTH, &b->aio) ? -errno : 0;
	b->open = !err;
	return err;
}

static void vtb_bio_close(struct vtb_bio *b)
{
	if (!b->open)
		return;
	if (b->kind == VTB_BIO_URING)
		vtb_uring_close(&b->u);
	else
		vtb_io_destroy(b->aio);
	b->open = false;
}

/* Queues one request for the next vtb_bio_submit; tag comes back with its
 * completion.  The caller keeps at most VTB_BIO_DEPTH in flight. */
static void vtb_bio_queue(struct vtb_bio *b, int fd, bool write, void *buf, uint32_t len, uint64_t off, uint64_t tag)
{
	if (b->kind == VTB_BIO_AIO) {
		struct iocb *cb = &b->cb[tag % VTB_BIO_DEPTH];
		memset(cb, 0, sizeof(*cb));
		cb->aio_fildes = (uint32_t)fd;
		cb->aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
		cb->aio_buf = (uint64_t)(uintptr_t)buf;
		cb->aio_nbytes = len;
		cb->aio_offset = (int64_t)off;
		cb->aio_data = tag;
		b->cbp[b->queued++] = cb;
		return;
	}
	struct vtb_uring *u = &b->u;
	unsigned tail = *u->sq_tail, i = tail & *u->sq_mask;	/* the tail is ours alone */
	struct io_uring_sqe *e = &u->sqes[i];
	memset(e, 0, sizeof(*e));
	e->opcode = write ? IORING_OP_WRITE : IORING_OP_READ;
	e->fd = fd;
	e->addr = (uint64_t)(uintptr_t)buf;
	e->len = len;
	e->off = off;
	e->user_data = tag;
	u->sq_array[i] = i;
	__atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
	u->queued++;
}

/* Hands the queued requests to the kernel: how many it took, or -errno.
 * What it did not take stays queued, first in line for the next call (an
 * SQE the kernel did not consume is still on the ring). */
static long vtb_bio_submit(struct vtb_bio *b)
{
	long n;
	if (b->kind == VTB_BIO_AIO) {
		if (!b->queued)
			return 0;
		do
			n = vtb_io_submit(b->aio, b->queued, b->cbp);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		b->queued -= (unsigned)n;
		memmove(b->cbp, b->cbp + n, b->queued * sizeof(b->cbp[0]));
		return n;
	}
	unsigned want = b->u.queued;
	if (!want)
		return 0;
	do
		n = syscall(SYS_io_uring_enter, b->u.fd, want, 0, 0, NULL, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	b->u.queued -= (unsigned)n;
	return n;
}

/* At least one completion (blocking for it), at most max: how many, or -errno. */
static long vtb_bio_reap(struct vtb_bio *b, struct vtb_bio_done *d, unsigned max)
{
	if (b->kind == VTB_BIO_AIO) {
		struct io_event ev[VTB_BIO_DEPTH];
		long n;
		do
			n = vtb_io_getevents(b->aio, 1, max < VTB_BIO_DEPTH ? max : VTB_BIO_DEPTH, ev);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++)
			d[i] = (struct vtb_bio_done){ .tag = ev[i].data, .res = ev[i].res };
		return n;
	}
	struct vtb_uring *u = &b->u;
	for (;;) {
		unsigned head = *u->cq_head, tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
		unsigned n = 0;
		for (; head != tail && n < max; head++, n++) {
			const struct io_uring_cqe *e = &u->cqes[head & *u->cq_mask];
			d[n] = (struct vtb_bio_done){ .tag = e->user_data, .res = e->res };
		}
		__atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
		if (n)
			return n;
		if (syscall(SYS_io_uring_enter, u->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
			return -errno;
	}
}

/* The next request's place and direction: sequential patterns walk the
 * disk, random ones draw from the seed; a range under a request in flight
 * is skipped so verification never races a write. */
static void vtb_cell_next(const struct vtb_cell *c, struct vtb_disk *d, uint64_t *x, uint64_t *seq,
			  struct vtb_req *r)
{
	uint64_t spb = c->size / VTB_SECTOR, slots = d->sectors / spb;
	bool rnd = !strncmp(c->pattern, "rand", 4);
	for (unsigned tries = 0;; tries++) {
		uint64_t slot = rnd ? vtb_splitmix64((*x)++) % slots : (*seq)++ % slots;
		uint64_t s = slot * spb;
		bool busy = false;
		for (uint64_t k = 0; k < spb && !busy; k++)
			busy = d->busy[s + k];
		if (busy && tries < 64)
			continue;
		r->sector = s;
		break;
	}
	if (!strcmp(c->pattern, "randrw"))
		r->write = vtb_splitmix64((*x)++) % 100 >= c->rwmix;
	else
		r->write = strstr(c->pattern, "write") != NULL;
	for (uint64_t k = 0; k < spb; k++)
		d->busy[r->sector + k] = 1;
}

static void vtb_cell_prep(const struct vtb_cell *c, struct vtb_disk *d, struct vtb_req *r, uint8_t *buf)
{
	uint64_t spb = c->size / VTB_SECTOR;
	if (r->write) {
		uint32_t g = (uint32_t)++d->next_gen;
		for (uint64_t k = 0; k < spb; k++) {
			d->gen[r->sector + k] = g;
			if (c->verify)
				vtb_pattern_fill(buf + k * VTB_SECTOR, (r->sector + k) * VTB_SECTOR, VTB_SECTOR,
						 vtb_sector_seed(d, r->sector + k));
		}
	}
}

/* A completed request: checked against what the disk must hold. */
static void vtb_cell_done(const struct vtb_cell *c, struct vtb_disk *d, struct vtb_req *r, const uint8_t *buf,
			  int64_t res, struct vtb_phase *p, uint64_t now)
{
	uint64_t spb = c->size / VTB_SECTOR;
	if (res != (int64_t)c->size)
		p->errors++;
	else if (c->verify && !r->write)
		for (uint64_t k = 0; k < spb; k++)
			if (vtb_pattern_check(buf + k * VTB_SECTOR, (r->sector + k) * VTB_SECTOR, VTB_SECTOR,
					      vtb_sector_seed(d, r->sector + k)) >= 0) {
				p->verify_errors++;
				break;
			}
	for (uint64_t k = 0; k < spb; k++)
		d->busy[r->sector + k] = 0;
	p->ops++;
	p->bytes += c->size;
	vtb_hist_add(&p->hist, now - r->t0);
}

/* qd requests in flight for ns, then drained: p counts every completion. */
static int vtb_cell_phase(const struct vtb_cell *c, struct vtb_disk *d, struct vtb_bio *b, uint8_t *bufs, uint64_t ns,
			  uint64_t *x, uint64_t *seq, struct vtb_phase *p)
{
	static struct vtb_req req[VTB_CELL_MAX_QD];
	static struct vtb_bio_done done[VTB_CELL_MAX_QD];
	memset(p, 0, sizeof(*p));
	vtb_hist_reset(&p->hist);
	uint64_t t0 = vtb_now_ns(), last = t0;
	for (unsigned i = 0; i < c->qd; i++) {
		uint8_t *buf = bufs + (size_t)i * c->size;
		vtb_cell_next(c, d, x, seq, &req[i]);
		vtb_cell_prep(c, d, &req[i], buf);
		req[i].t0 = t0;
		vtb_bio_queue(b, d->fd, req[i].write, buf, (uint32_t)c->size, req[i].sector * VTB_SECTOR, i);
	}
	long took = vtb_bio_submit(b);
	unsigned inflight = took > 0 ? (unsigned)took : 0;
	if (inflight != c->qd)
		p->errors++;
	while (inflight) {
		long n = vtb_bio_reap(b, done, c->qd);
		if (n <= 0) {
			p->errors++;
			break;
		}
		uint64_t now = vtb_now_ns();
		last = now;
		unsigned again = 0;
		for (long i = 0; i < n; i++) {
			unsigned k = (unsigned)done[i].tag;
			if (k >= c->qd) {	/* not a tag this phase gave out */
				p->errors++;
				continue;
			}
			uint8_t *buf = bufs + (size_t)k * c->size;
			vtb_cell_done(c, d, &req[k], buf, done[i].res, p, now);
			inflight--;
			if (now - t0 < ns) {
				vtb_cell_next(c, d, x, seq, &req[k]);
				vtb_cell_prep(c, d, &req[k], buf);
				req[k].t0 = now;
				vtb_bio_queue(b, d->fd, req[k].write, buf, (uint32_t)c->size, req[k].sector * VTB_SECTOR, k);
				again++;
			}
		}
		took = vtb_bio_submit(b);
		inflight += took > 0 ? (unsigned)took : 0;
		if (took != (long)again)
			p->errors++;
	}
	p->ns = last - t0;
	return 0;
}

/* The guest's NIC as net cells use it: an AF_PACKET socket on the
 * ethertype of guest_net.h, and the boot's payload block. */
struct vtb_netc {
	int fd, rescue_fd;	/* rescue: a second socket, for a stalled TX queue */
	uint64_t stalls;
	uint64_t seq;		/* the boot's one stream: the peer checks it has no gap */
	uint64_t rx_next, rx_asked;	/* the peer's stream: next expected, asked for up to */
	uint8_t block[VTB_GN_BLOCK];
	uint8_t frame[VTB_GN_MAX], got[VTB_GN_MAX + 64];
};

/* The first interface other than lo, up, with an MTU that carries the
 * largest frame, its carrier waited for; the socket bound to it. */
static int vtb_netc_open(struct vtb_netc *n, uint64_t seed, uint32_t max_frame)
{
	char ifname[IFNAMSIZ], carrier[8] = "", path[96];
	struct ifreq ifr;
	int err = -ENODEV;
	for (int i = 0; i < 100 && (err = vtb_net_first_iface(ifname, sizeof(ifname))); i++)
		vtb_sleep_ms(100);
	if (err)
		return err;
	n->fd = socket(AF_PACKET, SOCK_RAW, htons(VTB_GN_ETHERTYPE));
	if (n->fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (max_frame > 1514) {
		ifr.ifr_mtu = (int)max_frame - 14;
		if (ioctl(n->fd, SIOCSIFMTU, &ifr))
			return -errno;
	}
	if (ioctl(n->fd, SIOCGIFFLAGS, &ifr))
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(n->fd, SIOCSIFFLAGS, &ifr))
		return -errno;
	/* the socket would see its own frames too: a copy per frame sent */
	int one = 1;
	if (setsockopt(n->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)))
		return -errno;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(VTB_GN_ETHERTYPE),
				   .sll_ifindex = (int)if_nametoindex(ifname) };
	if (bind(n->fd, (struct sockaddr *)&sll, sizeof(sll)))
		return -errno;
	n->rescue_fd = socket(AF_PACKET, SOCK_RAW, 0);	/* sends only: no protocol to receive */
	if (n->rescue_fd < 0 || bind(n->rescue_fd, (struct sockaddr *)&(struct sockaddr_ll){ .sll_family = AF_PACKET,
			.sll_ifindex = sll.sll_ifindex }, sizeof(struct sockaddr_ll)))
		return -errno;
	snprintf(path, sizeof(path), "/sys/class/net/%s/carrier", ifname);
	for (int i = 0; i < 100 && (vtb_read_line(path, carrier, sizeof(carrier)) || strcmp(carrier, "1")); i++)
		vtb_sleep_ms(100);
	vtb_gn_block(n->block, seed);
	return strcmp(carrier, "1") ? -ENOLINK : 0;
}

/* A frame out.  The socket's send buffer full for 2 s is a TX queue
 * whose completions stopped coming back: the frame then goes out through
 * a second socket, whose transmit makes the driver reclaim what the
 * device finished.  The row counts each such stall. */
static int vtb_netc_send(struct vtb_netc *n, uint32_t len, uint8_t flags)
{
	vtb_gn_frame(n->frame, len, n->block, n->seq++, flags);
	for (;;) {
		ssize_t r = send(n->fd, n->frame, len, MSG_DONTWAIT);
		if (r == (ssize_t)len)
			return 0;
		if (r >= 0)
			return -EIO;
		if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
			return -errno;
		struct pollfd p = { .fd = n->fd, .events = POLLOUT };
		if (errno == EINTR || poll(&p, 1, 2000) != 0)
			continue;
		n->stalls++;
		printf("VTB-LOG net: TX stalled 2 s (frame %llu); sent through a second socket\n",
		       (unsigned long long)(n->seq - 1));
		r = send(n->rescue_fd, n->frame, len, 0);
		return r == (ssize_t)len ? 0 : r < 0 ? -errno : -EIO;
	}
}

/* The next frame from the peer within ms: its length, 0 on timeout. */
static ssize_t vtb_netc_recv(struct vtb_netc *n, int ms)
{
	struct pollfd p = { .fd = n->fd, .events = POLLIN };
	int r = poll(&p, 1, ms);
	if (r <= 0)
		return r < 0 && errno != EINTR ? -errno : 0;
	ssize_t l = recv(n->fd, n->got, sizeof(n->got), 0);
	return l < 0 ? (errno == EINTR ? 0 : -errno) : l;
}

/* Whether got is the echo of frame seq of len bytes: the guest's frame
 * with the MACs swapped, every other byte equal. */
static bool vtb_netc_echo_ok(struct vtb_netc *n, ssize_t l, uint64_t seq, uint32_t len, uint8_t flags)
{
	vtb_gn_frame(n->frame, len, n->block, seq, flags);
	return l == (ssize_t)len && !memcmp(n->got, vtb_gn_guest_mac, 6) && !memcmp(n->got + 6, vtb_gn_peer_mac, 6) &&
	       !memcmp(n->got + 12, n->frame + 12, len - 12);
}

/* A fence through the peer and back: every frame before it has arrived,
 * so the host's counts at the next mark are whole. */
static int vtb_netc_fence(struct vtb_netc *n)
{
	uint64_t seq = n->seq;
	int err = vtb_netc_send(n, VTB_GN_MIN, VTB_GN_FENCE);
	for (int tries = 0; !err && tries < 1000; tries++) {
		ssize_t l = vtb_netc_recv(n, 2000);
		if (l <= 0)
			return l < 0 ? (int)l : -ETIMEDOUT;
		if ((size_t)l >= VTB_GN_HDR && vtb_gn_seq(n->got) == seq)
			return vtb_netc_echo_ok(n, l, seq, VTB_GN_MIN, VTB_GN_FENCE) ? 0 : -EBADMSG;
	}
	return err ? err : -ETIMEDOUT;
}

/* tx: frames to the peer's sink for ns, each send an op.  AF_PACKET
 * blocks on the socket's send buffer, so the kernel, not qd, bounds what
 * is in flight. */
static int vtb_netc_tx(const struct vtb_cell *c, struct vtb_netc *n, uint64_t ns, struct vtb_phase *p)
{
	uint64_t t0 = vtb_now_ns(), now = t0;
	while (now - t0 < ns) {
		uint32_t len = vtb_gn_size(c->size, n->seq);
		int err = vtb_netc_send(n, len, 0);
		uint64_t t = vtb_now_ns();
		if (err == -ENOBUFS) {
			p->errors++;
		} else if (err) {
			return err;
		} else {
			p->ops++;
			p->bytes += len;
			vtb_hist_add(&p->hist, t - now);
		}
		now = t;
	}
	p->ns = now - t0;
	return 0;
}

/* rr: qd frames in flight through the peer's echo for ns, each echo
 * checked; an op is a round trip. */
static int vtb_netc_rr(const struct vtb_cell *c, struct vtb_netc *n, uint64_t ns, struct vtb_phase *p)
{
	static uint64_t sent_at[VTB_CELL_MAX_QD];
	uint64_t t0 = vtb_now_ns(), last = t0, first = n->seq, next = first;
	unsigned inflight = 0;
	int err = 0;
	for (; inflight < c->qd && !err; inflight++) {
		sent_at[n->seq % c->qd] = vtb_now_ns();
		err = vtb_netc_send(n, vtb_gn_size(c->size, n->seq), VTB_GN_ECHO);
	}
	while (inflight && !err) {
		ssize_t l = vtb_netc_recv(n, 2000);
		if (l <= 0) {
			err = l < 0 ? (int)l : -ETIMEDOUT;
			break;
		}
		uint64_t now = vtb_now_ns(), seq = (size_t)l >= VTB_GN_HDR ? vtb_gn_seq(n->got) : UINT64_MAX;
		if (seq < first || seq >= n->seq)
			continue;	/* not one of this phase's */
		uint32_t len = vtb_gn_size(c->size, seq);
		if (seq != next || !vtb_netc_echo_ok(n, l, seq, len, VTB_GN_ECHO))
			p->verify_errors++;
		next = seq + 1;
		p->ops++;
		p->bytes += len;
		vtb_hist_add(&p->hist, now - sent_at[seq % c->qd]);
		inflight--;
		last = now;
		if (now - t0 < ns) {
			sent_at[n->seq % c->qd] = now;
			err = vtb_netc_send(n, vtb_gn_size(c->size, n->seq), VTB_GN_ECHO);
			inflight += !err;
		}
	}
	p->errors += inflight;
	p->ns = last - t0;
	return err == -ETIMEDOUT ? 0 : err;
}

/* Asks the peer for count more frames of the cell's size. */
static int vtb_netc_pull(const struct vtb_cell *c, struct vtb_netc *n, uint32_t count, uint64_t now,
			 uint64_t *asked_at)
{
	vtb_gn_pull(n->frame, n->block, n->seq, count, c->size);
	n->seq++;
	for (uint32_t i = 0; i < count; i++)
		asked_at[(n->rx_asked + i) % c->qd] = now;
	int err = 0;
	for (;;) {
		ssize_t r = send(n->fd, n->frame, VTB_GN_MIN, 0);
		if (r == (ssize_t)VTB_GN_MIN)
			break;
		if (r >= 0 || errno != EINTR) {
			err = r < 0 ? -errno : -EIO;
			break;
		}
	}
	if (!err)
		n->rx_asked += count;
	return err;
}

/* Whether got is the peer's frame seq of len bytes. */
static bool vtb_netc_rx_ok(struct vtb_netc *n, ssize_t l, uint64_t seq, uint32_t len)
{
	vtb_gn_frame_to(n->frame, vtb_gn_guest_mac, vtb_gn_peer_mac, len, n->block, seq, 0);
	return l == (ssize_t)len && !memcmp(n->got, n->frame, len);
}

/* rx: frames from the peer for ns, each checked, an op.  The guest keeps
 * qd frames asked for and not yet arrived: it asks for the first qd, then
 * again for each half window that arrived (a pull frame per qd/2 frames,
 * one per frame at qd 1), and after ns takes what it asked for and stops. */
static int vtb_netc_rx(const struct vtb_cell *c, struct vtb_netc *n, uint64_t ns, struct vtb_phase *p)
{
	static uint64_t asked_at[VTB_CELL_MAX_QD];
	uint64_t t0 = vtb_now_ns(), last = t0;
	unsigned half = c->qd / 2 ? c->qd / 2 : 1, since = 0;
	int err = vtb_netc_pull(c, n, c->qd, t0, asked_at);
	while (!err && n->rx_next < n->rx_asked) {
		ssize_t l = vtb_netc_recv(n, 2000);
		if (l <= 0) {
			err = l < 0 ? (int)l : -ETIMEDOUT;
			break;
		}
		uint64_t now = vtb_now_ns(), seq = (size_t)l >= VTB_GN_HDR ? vtb_gn_seq(n->got) : UINT64_MAX;
		if ((size_t)l < VTB_GN_HDR || memcmp(n->got + 6, vtb_gn_peer_mac, 6) || n->got[22] ||
		    seq < n->rx_next || seq >= n->rx_asked)
			continue;	/* an echo, or not asked for in this phase */
		uint32_t len = vtb_gn_size(c->size, seq);
		if (seq != n->rx_next || !vtb_netc_rx_ok(n, l, seq, len))
			p->verify_errors++;
		n->rx_next = seq + 1;
		p->ops++;
		p->bytes += len;
		vtb_hist_add(&p->hist, now - asked_at[seq % c->qd]);
		last = now;
		if (++since >= half && now - t0 < ns) {
			err = vtb_netc_pull(c, n, since, now, asked_at);
			since = 0;
		}
	}
	p->errors += n->rx_asked - n->rx_next;
	n->rx_next = n->rx_asked;	/* what never came is not waited for again */
	p->ns = last - t0;
	return err == -ETIMEDOUT ? 0 : err;
}

static int vtb_netc_phase(const struct vtb_cell *c, struct vtb_netc *n, uint64_t ns, struct vtb_phase *p)
{
	memset(p, 0, sizeof(*p));
	vtb_hist_reset(&p->hist);
	int err = !strcmp(c->pattern, "tx")   ? vtb_netc_tx(c, n, ns, p)
		  : !strcmp(c->pattern, "rr") ? vtb_netc_rr(c, n, ns, p)
					      : vtb_netc_rx(c, n, ns, p);
	return err ? err : vtb_netc_fence(n);
}

/* scmi: SENSOR_READING_GET through Linux's scmi-hwmon, one sensor after
 * another: each read of an *_input is one synchronous SCMI command. */
#define VTB_SCMI_MAX 32
struct vtb_scmic {
	int fd[VTB_SCMI_MAX];
	unsigned n, next;
};

static int vtb_scmic_open(struct vtb_scmic *m)
{
	static struct vtb_sensor s[VTB_SCMI_MAX];
	int n = 0;
	for (int i = 0; i < 100 && !(n = vtb_scmi_sensors(s, VTB_SCMI_MAX)); i++)
		vtb_sleep_ms(100);	/* arm_scmi probes after the virtio device */
	for (int i = 0; i < n; i++)
		if ((m->fd[m->n] = open(s[i].file, O_RDONLY)) >= 0)
			m->n++;
	return m->n ? 0 : -ENODEV;
}

/* Reads for ns: an op is one reading, verified as a number. */
static int vtb_scmic_phase(struct vtb_scmic *m, uint64_t ns, struct vtb_phase *p)
{
	char buf[32];
	memset(p, 0, sizeof(*p));
	vtb_hist_reset(&p->hist);
	uint64_t t0 = vtb_now_ns(), now = t0;
	while (now - t0 < ns) {
		ssize_t l = pread(m->fd[m->next], buf, sizeof(buf) - 1, 0);
		uint64_t t = vtb_now_ns();
		m->next = (m->next + 1) % m->n;
		if (l <= 0) {
			p->errors++;
		} else {
			char *e;
			buf[l] = 0;
			errno = 0;
			(void)strtoll(buf, &e, 10);
			p->verify_errors += errno || e == buf || (*e && *e != '\n');
			p->ops++;
			p->bytes += (uint64_t)l;
			vtb_hist_add(&p->hist, t - now);
		}
		now = t;
	}
	p->ns = now - t0;
	return 0;
}

/* The host's answer to a mark: a line on the console. */
static int vtb_mark(const struct vtb_cell *c, const char *what)
{
	char line[64];
	printf("VTB-MARK %u %u %s\n", c->cell, c->rep, what);
	fflush(stdout);
	return fgets(line, sizeof(line), stdin) ? 0 : -EIO;
}

static uint64_t vtb_ctxsw(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	uint64_t v = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "ctxt ", 5))
			v = strtoull(line + 5, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void vtb_row_dma(const char *key, const struct vtb_dma_event *a, const struct vtb_dma_event *b)
{
	if (a->have && b->have)
		printf(" %s=%" PRIu64 " %s_bytes=%" PRIu64, key, b->hits - a->hits, key, b->bytes - a->bytes);
	else
		printf(" %s=-1 %s_bytes=-1", key, key);
}

#define VTB_HUGE (2u << 20)

static void vtb_write_str(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return;
	if (write(fd, v, strlen(v)) < 0)
		printf("VTB-LOG %s: %s\n", path, strerror(errno));
	close(fd);
}

/* The physically contiguous runs of n buffers of len bytes at bufs (faulted
 * in first), from /proc/self/pagemap; 0 if it cannot be read. */
static uint64_t vtb_buf_runs(uint8_t *bufs, size_t len, unsigned n)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t runs = 0;
	if (fd < 0)
		return 0;
	memset(bufs, 0, len * n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t prev = UINT64_MAX;
		for (size_t off = 0; off < len; off += 4096) {
			uint64_t e = 0, va = (uint64_t)(uintptr_t)(bufs + i * len + off);
			if (pread(fd, &e, sizeof(e), (off_t)(va / 4096 * 8)) != (ssize_t)sizeof(e) || !(e >> 63)) {
				close(fd);
				return 0;
			}
			uint64_t pfn = e & ((1ull << 55) - 1);
			runs += pfn != prev + 1;
			prev = pfn;
		}
	}
	close(fd);
	return runs;
}

/* What a boot's cells run on, opened by the first cell that needs it. */
struct vtb_cells_env {
	const char *dev;
	uint64_t seed;
	struct vtb_disk d;
	uint8_t *bufs;
	struct vtb_bio bio[VTB_BIO_KINDS];	/* opened by the first cell of each kind */
	struct vtb_netc *net;
	int net_err;
	struct vtb_scmic *scmi;
	int scmi_err;
};

static int vtb_cells_disk(struct vtb_cells_env *k)
{
	uint64_t cap = 0;
	if (k->d.fd >= 0)
		return 0;
	for (int i = 0; i < 50 && access(k->dev, F_OK); i++)
		vtb_sleep_ms(100);	/* virtio_blk probes asynchronously */
	k->d.fd = open(k->dev, O_RDWR | O_DIRECT);
	if (k->d.fd < 0)
		return -errno;
	if (ioctl(k->d.fd, BLKGETSIZE64, &cap) || cap < (1u << 20))
		return -EINVAL;
	k->d.seed = k->seed;
	k->d.sectors = cap / VTB_SECTOR;
	k->d.gen = calloc(k->d.sectors, sizeof(*k->d.gen));
	k->d.busy = calloc(k->d.sectors, 1);
	/* The IOMMU maps each physically contiguous run of a buffer once, so a
	 * request's maps hang on its buffer's layout, which 4 KiB pages leave
	 * to the page allocator's luck: huge pages make every buffer one run in
	 * every boot (the row's buf_runs says if not).  Debian's kernel ships
	 * with THP off; madvise turns it on for this region only. */
	vtb_write_str("/sys/kernel/mm/transparent_hugepage/enabled", "madvise");
	vtb_write_str("/sys/kernel/mm/transparent_hugepage/defrag", "madvise");
	if (!k->d.gen || !k->d.busy ||
	    posix_memalign((void **)&k->bufs, VTB_HUGE, (size_t)VTB_CELL_MAX_QD << 20))
		return -ENOMEM;
	madvise(k->bufs, (size_t)VTB_CELL_MAX_QD << 20, MADV_HUGEPAGE);
	return 0;
}

/* The job's largest frame sets the MTU once, before the first cell. */
static int vtb_cells_net(struct vtb_cells_env *k, uint32_t max_frame)
{
	if (k->net || k->net_err)
		return k->net_err;
	k->net = calloc(1, sizeof(*k->net));
	if (!k->net)
		return k->net_err = -ENOMEM;
	k->net->fd = k->net->rescue_fd = -1;
	k->net_err = vtb_netc_open(k->net, k->seed, max_frame);
	return k->net_err;
}

static int vtb_cells_scmi(struct vtb_cells_env *k)
{
	if (k->scmi || k->scmi_err)
		return k->scmi_err;
	k->scmi = calloc(1, sizeof(*k->scmi));
	return k->scmi_err = k->scmi ? vtb_scmic_open(k->scmi) : -ENOMEM;
}

static void vtb_cells_close(struct vtb_cells_env *k)
{
	if (k->net && k->net->rescue_fd >= 0)
		close(k->net->rescue_fd);
	for (unsigned i = 0; k->scmi && i < k->scmi->n; i++)
		close(k->scmi->fd[i]);
	free(k->scmi);
	if (k->net && k->net->fd >= 0)
		close(k->net->fd);
	free(k->net);
	for (unsigned i = 0; i < VTB_BIO_KINDS; i++)
		vtb_bio_close(&k->bio[i]);
	free(k->bufs);
	free(k->d.busy);
	free(k->d.gen);
	if (k->d.fd >= 0)
		close(k->d.fd);
}

static int vtb_phase_run(struct vtb_cells_env *k, const struct vtb_cell *c, uint64_t ns, uint64_t *x, uint64_t *seq,
			 struct vtb_phase *p)
{
	if (c->scmi)
		return vtb_scmic_phase(k->scmi, ns, p);
	return c->net ? vtb_netc_phase(c, k->net, ns, p) : vtb_cell_phase(c, &k->d, &k->bio[c->io], k->bufs, ns, x, seq, p);
}

static int vtb_cell_run(struct vtb_cells_env *k, const struct vtb_cell *c)
{
	static struct vtb_phase warm, meas;
	uint64_t x = vtb_splitmix64(c->seed ^ ((uint64_t)c->cell << 32) ^ c->rep), seq = 0;
	uint64_t runs = c->net || c->scmi ? 0 : vtb_buf_runs(k->bufs, (size_t)c->size, c->qd);
	uint64_t stalls0 = c->net ? k->net->stalls : 0;
	int err = vtb_phase_run(k, c, c->warm_ns, &x, &seq, &warm);
	if (!err)
		err = vtb_mark(c, "begin");
	if (err)
		return err;
	struct vtb_dma_event dma0[VTB_DMA_EVENTS], dma1[VTB_DMA_EVENTS];
	vtb_dma_read(dma0);
	const struct vtb_bio *bio = c->net || c->scmi ? NULL : &k->bio[c->io];
	int64_t cq0 = bio && bio->kind == VTB_BIO_URING ? vtb_uring_cq_tail(&bio->u) : -1;
	uint64_t irq0 = vtb_virtio_irqs(), cs0 = vtb_ctxsw();
	err = vtb_phase_run(k, c, c->dur_ns, &x, &seq, &meas);
	uint64_t irqs = vtb_virtio_irqs() - irq0, cs = vtb_ctxsw() - cs0;
	int64_t cq1 = cq0 >= 0 ? vtb_uring_cq_tail(&bio->u) : -1;
	/* the tail is a free-running u32 */
	long long cqes = cq0 >= 0 && cq1 >= 0 ? (long long)(uint32_t)((uint32_t)cq1 - (uint32_t)cq0) : -1;
	vtb_dma_read(dma1);
	if (!err)
		err = vtb_mark(c, "end");
	if (err)
		return err;
	printf("VTB-ROW cell=%u rep=%u ops=%" PRIu64 " bytes=%" PRIu64 " ns=%" PRIu64 " errors=%" PRIu64
	       " verify_errors=%" PRIu64 " irqs=%" PRIu64 " ctxsw=%" PRIu64,
	       c->cell, c->rep, meas.ops, meas.bytes, meas.ns, meas.errors + warm.errors,
	       meas.verify_errors + warm.verify_errors, irqs, cs);
	vtb_row_dma("bounced", &dma0[0], &dma1[0]);
	vtb_row_dma("maps", &dma0[1], &dma1[1]);
	vtb_row_dma("unmaps", &dma0[2], &dma1[2]);
	printf(" buf_runs=%" PRIu64 " tx_stalls=%" PRIu64 " uring_cqes=%lld hist=", runs,
	       c->net ? k->net->stalls - stalls0 : 0, cqes);
	bool first = true;
	for (unsigned i = 0; i < VTB_HIST_BUCKETS; i++)
		if (meas.hist.b[i]) {
			printf("%s%u:%" PRIu64, first ? "" : ",", i, meas.hist.b[i]);
			first = false;
		}
	printf("\n");
	fflush(stdout);
	return 0;
}

/* The job's largest net frame (0: no net cell). */
static uint32_t vtb_job_max_frame(FILE *f)
{
	char line[512];
	uint32_t max = 0;
	while (fgets(line, sizeof(line), f)) {
		struct vtb_cell c;
		if (!vtb_cell_parse(line, &c) && c.net) {
			uint32_t m = c.size == VTB_GN_IMIX ? 1518 : (uint32_t)c.size;
			max = m > max ? m : max;
		}
	}
	rewind(f);
	return max;
}

/* `vtb_guest cells JOB DEV [seed=N]`: every line of JOB, blk cells against
 * disk DEV (whose sectors the host filled with the pattern of seed N), net
 * cells through the first NIC to the harness's peer. */
static int vtb_cells(const char *job, const char *dev, uint64_t seed)
{
	struct vtb_cells_env k = { .dev = dev, .seed = seed, .d.fd = -1 };
	char line[512];
	int rc = VTB_RC_OK;
	FILE *f = fopen(job, "r");
	if (!f)
		return VTB_RC_USAGE;
	uint32_t max_frame = vtb_job_max_frame(f);
	struct utsname u;
	if (!uname(&u))
		printf("VTB-GUEST kernel=%s\n", u.release);
	while (fgets(line, sizeof(line), f)) {
		struct vtb_cell c;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (vtb_cell_parse(line, &c)) {
			printf("VTB-LOG bad job line\n");
			rc = VTB_RC_USAGE;
			break;
		}
		int err = c.scmi ? vtb_cells_scmi(&k) : c.net ? vtb_cells_net(&k, max_frame) : vtb_cells_disk(&k);
		if (!err && !c.net && !c.scmi && !k.bio[c.io].open && (err = vtb_bio_open(&k.bio[c.io], c.io)))
			printf("VTB-LOG cell %u: the guest kernel has no %s: %s\n", c.cell,
			       c.io == VTB_BIO_AIO ? "native AIO" : "io_uring", strerror(-err));
		if (!err)
			err = vtb_cell_run(&k, &c);
		if (err) {
			printf("VTB-LOG cell %u rep %u (%s): %s\n", c.cell, c.rep, c.scmi ? "scmi" : c.net ? "net" : k.dev,
			       strerror(-err));
			rc = err == -ENODEV || err == -ENOENT ? VTB_RC_ABSENT : VTB_RC_FAIL;
			break;
		}
	}
	vtb_cells_close(&k);
	fclose(f);
	return rc;
}

static int vtb_usage(void)
{
	fprintf(stderr, "usage: vtb_guest blk DEV|net IFACE|scmi [key=value...]\n"
			"       vtb_guest blkbench DEV [qd=N] [bs=BYTES] [ms=MS] [seed=N]\n"
			"       vtb_guest counts\n"
			"       vtb_guest xen-argo          (dom0 under Xen: is Argo there)\n"
			"       vtb_guest cells JOB DEV [seed=N]\n"
			"       vtb_guest pattern OFF LEN SEED\n");
	return VTB_RC_USAGE;
}

/* ---- Xen: whether the hypervisor offers Argo ----
 * One hypercall from user space through dom0's privcmd (Linux's uapi
 * <xen/privcmd.h>): argo_op(XEN_ARGO_OP_notify) with no ring data, which
 * Xen's argo.c answers 0 when the domain has Argo, -EOPNOTSUPP when the
 * hypervisor has Argo but was booted without argo=1, and the hypercall
 * table -ENOSYS when it was built without it (Debian's). */
struct vtb_privcmd_hypercall {
	uint64_t op, arg[5];
};
#define VTB_IOCTL_PRIVCMD_HYPERCALL _IOC(_IOC_NONE, 'P', 0, sizeof(struct vtb_privcmd_hypercall))
#define VTB_HYPERVISOR_ARGO_OP 39	/* xen/include/public/xen.h */
#define VTB_XEN_ARGO_OP_NOTIFY 4	/* xen/include/public/argo.h */

static int vtb_xen_argo(void)
{
	int fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("VTB-RESULT {\"test\":\"xen\",\"check\":\"argo\",\"ok\":false,\"error\":\"/dev/xen/privcmd: %s\"}\n",
		       strerror(errno));
		return 2;
	}
	struct vtb_privcmd_hypercall h = { .op = VTB_HYPERVISOR_ARGO_OP, .arg = { VTB_XEN_ARGO_OP_NOTIFY } };
	long r = ioctl(fd, VTB_IOCTL_PRIVCMD_HYPERCALL, &h);
	int e = r < 0 ? errno : 0;
	close(fd);
	const char *state = r == 0 ? "enabled" : e == EOPNOTSUPP ? "built, not enabled (argo=1)" :
			    e == ENOSYS ? "not built" : "unknown";
	printf("VTB-RESULT {\"test\":\"xen\",\"check\":\"argo\",\"ret\":%ld,\"errno\":%d,\"argo\":\"%s\",\"ok\":true}\n",
	       r, e, state);
	return 0;
}

int main(int argc, char **argv)
{
	struct vtb_args a;

	if (argc < 2)
		return vtb_usage();
	if (!strcmp(argv[1], "scmi")) {
		a = (struct vtb_args){ argc - 2, argv + 2 };
		return vtb_scmi(&a);
	}
	if (!strcmp(argv[1], "counts"))
		return argc == 2 ? vtb_counts() : vtb_usage();
	if (!strcmp(argv[1], "xen-argo"))
		return argc == 2 ? vtb_xen_argo() : vtb_usage();
	if (!strcmp(argv[1], "pattern"))
		return argc == 5 ? vtb_pattern_out(argv[2], argv[3], argv[4]) : vtb_usage();
	if (argc < 3)
		return vtb_usage();
	a = (struct vtb_args){ argc - 3, argv + 3 };
	if (!strcmp(argv[1], "blk"))
		return vtb_blk(argv[2], &a);
	if (!strcmp(argv[1], "net"))
		return vtb_net(argv[2], &a);
	if (!strcmp(argv[1], "blkbench"))
		return vtb_blkbench(argv[2], &a);
	if (!strcmp(argv[1], "cells") && argc >= 4) {
		a = (struct vtb_args){ argc - 4, argv + 4 };
		return vtb_cells(argv[2], argv[3], vtb_arg_u64(&a, "seed", 1));
	}
	return vtb_usage();
}
