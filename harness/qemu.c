/* The qemu platform: cells run by vtb_guest inside a Linux guest against
 * the guest kernel's virtio-blk and virtio-net drivers and QEMU's built-in
 * devices (x86_64), or its arm_scmi driver and a vtbench serve over
 * vhost-user-scmi (arm64); the NIC's other end is a peer thread here that
 * checks, counts and (for rr) echoes every frame.
 *
 * One boot per configuration (arch, transport, variant, disk, seed): the
 * harness writes a job (one line per repetition of each cell, repetitions
 * interleaved), appends it to the image's initramfs as a second cpio
 * archive, fills the disk with the pattern of the seed, and boots.  The
 * guest brackets each measured phase with marks the harness answers on the
 * console; the harness notes where QEMU's trace log stood at each, so
 * QEMU's own counts (kicks, interrupts, virtio-iommu MAP/UNMAP) are cut to
 * the same window as the guest kernel's (swiotlb bounces, iommu maps).
 * Results wait in a table until the run asks for them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../workloads/net/vtb_net.h"
#include "guest_net.h"
#include "qemu.h"
#include "runner.h"

_Static_assert(VTB_GN_IMIX == VTB_NET_IMIX, "a net cell's imix size means the same in the guest");

#define QEMU_DEFAULT_DISK (64ull << 20)
#define QEMU_BOOT_S 120.0	/* boot and per-cell slack under TCG */
#define QEMU_CELL_SLACK_S 20.0

/* A transport as a guest and device configuration. */
struct qemu_cfg {
	const char *transport, *variant;
	const char *kargs;	/* the guest kernel's parameters */
	const char *devprops;	/* appended to -device virtio-blk-pci and virtio-net-pci */
	int viommu;		/* a virtio-iommu-pci in front of the disk */
	const char *desc;
	/* arm64 only, in the kernel vtbench builds (build/images/arm64) and
	 * with this device tree of it; NULL: any arch, QEMU's own tree */
	const char *dtb;
};

#define DMA ",disable-legacy=on,iommu_platform=on"
static const struct qemu_cfg qemu_cfgs[] = {
	{ "shm", "split", "", "", 0, "split ring, no DMA API (VIRTIO_F_ACCESS_PLATFORM off)", NULL },
	{ "shm", "packed", "", ",packed=on", 0, "packed=on: Linux's packed virtqueue", NULL },
	/* A pool of 32 MiB named on the command line: arm64 shrinks one left at
	 * the default to 1 MiB per GiB of RAM when all RAM is DMA-able, which
	 * virtio_net's rings overflow (and 64 MiB, the default, reads as unset). */
	{ "swiotlb", "pool", "swiotlb=16384,force", DMA, 0,
	  "swiotlb=16384,force in the guest (a 32 MiB pool), iommu_platform=on: every buffer bounces through the "
	  "guest's swiotlb", NULL },
	/* The seed threads' pre-shared region: a reserved-memory node the
	 * PCIe host bridge's devices must bounce through; Debian's arm64
	 * kernel is built without CONFIG_DMA_RESTRICTED_POOL. */
	{ "swiotlb", "rdp", "", DMA, 0,
	  "a 16 MiB restricted-dma-pool in the device tree for the PCIe host bridge, iommu_platform=on: every buffer "
	  "bounces through the pool",
	  "virt-scmi-rdp.dtb" },
	{ "viommu", "strict", "iommu.strict=1", DMA, 1, "virtio-iommu-pci, iommu.strict=1: unmap and sync per buffer", NULL },
	{ "viommu", "lazy", "iommu.strict=0", DMA, 1, "virtio-iommu-pci, iommu.strict=0: DMA-FQ, syncs batched", NULL },
	{ "viommu", "passthrough", "iommu.passthrough=1", DMA, 1,
	  "virtio-iommu-pci, iommu.passthrough=1: identity domain, no map", NULL },
};
#undef DMA

static const struct qemu_cfg *qemu_cfg_find(const struct vtb_cellp *c)
{
	for (size_t i = 0; i < sizeof(qemu_cfgs) / sizeof(qemu_cfgs[0]); i++)
		if (!strcmp(qemu_cfgs[i].transport, c->transport) && !strcmp(qemu_cfgs[i].variant, c->variant))
			return &qemu_cfgs[i];
	return NULL;
}

/* The image a cell boots (build/images/DIR): scmi and the restricted
 * pool need the arm64 kernel vtbench builds; arm64's other blk and net
 * cells boot Debian's arm64 kernel, as x86_64 does. */
static const char *qemu_image(const struct vtb_cellp *c)
{
	if (strcmp(c->arch, "arm64"))
		return "x86_64";
	const struct qemu_cfg *cfg = qemu_cfg_find(c);
	return strcmp(c->device, "scmi") && !(cfg && cfg->dtb) ? "arm64-deb" : "arm64";
}

/* The device tree an arm64 boot of the built kernel passes, under
 * build/images/arm64; NULL: QEMU's own. */
static const char *qemu_dtb(const struct vtb_cellp *c)
{
	if (strcmp(qemu_image(c), "arm64"))
		return NULL;
	const struct qemu_cfg *cfg = qemu_cfg_find(c);
	return cfg && cfg->dtb ? cfg->dtb : "virt-scmi.dtb";
}

int vtb_qemu_check(const struct vtb_cellp *c, char *why, size_t n)
{
	if (!strcmp(c->transport, "grant") || !strcmp(c->transport, "argo")) {
		snprintf(why, n, "transport=%s has no meaning on platform=qemu: it is Xen's, and Linux's virtio drivers "
			 "under QEMU have no such mechanism", c->transport);
		return -1;
	}
	if (!strcmp(c->transport, "fatvq")) {
		snprintf(why, n, "transport=fatvq has no meaning on platform=qemu: fat virtqueues are a proposal that "
			 "neither Linux's virtio drivers nor QEMU's devices implement");
		return -1;
	}
	bool arm64 = !strcmp(c->arch, "arm64"), scmi = !strcmp(c->device, "scmi");
	if (!arm64 && scmi) {
		snprintf(why, n, "platform=qemu: scmi runs in the arm64 guest (arch=arm64): Linux's arm_scmi finds its "
			 "virtio transport in the device tree");
		return -1;
	}
	if (arm64 && !scmi && strcmp(c->backend, "qemu")) {
		snprintf(why, n, "platform=qemu arch=arm64: backend=%s is x86_64's only in this version", c->backend);
		return -1;
	}
	if (arm64 && scmi && (strcmp(c->transport, "shm") || strcmp(c->variant, "split"))) {
		snprintf(why, n, "platform=qemu arch=arm64 scmi: only shm/split (plain vhost-user-scmi-pci, served "
			 "by vtbench serve) in this version");
		return -1;
	}
	if (scmi) {
		if (strncmp(c->mix, "sensor_read:", 12) || strchr(c->mix, ',') || c->qd != 1 || c->ops ||
		    !c->events) {
			snprintf(why, n, "platform=qemu scmi: mix=sensor_read:N only (Linux shows SCMI sensors to user "
				 "space through hwmon; its clock and perf users are not a load generator), qd=1, "
				 "ops=0, events=1 (vtbench serve offers the P2A channels)");
			return -1;
		}
		return 0;
	}
	const struct qemu_cfg *cfg = qemu_cfg_find(c);
	if (!cfg) {
		snprintf(why, n, "platform=qemu has no configuration for transport %s/%s", c->transport, c->variant);
		return -1;
	}
	if (cfg->dtb && !arm64) {
		snprintf(why, n, "platform=qemu %s/%s: arm64 only (arch=arm64): a restricted-dma-pool is a device-tree "
			 "node, and the x86_64 guest boots without a device tree", c->transport, c->variant);
		return -1;
	}
	if (cfg->dtb && !strcmp(c->device, "net") && !strcmp(c->mode, "rr")) {
		snprintf(why, n, "platform=qemu %s/%s net: tx only: the arm64 kernel vtbench builds has no IP stack "
			 "for rr's UDP socket", c->transport, c->variant);
		return -1;
	}
	if (!strcmp(c->backend, "qsd") && strcmp(c->device, "blk")) {
		snprintf(why, n, "platform=qemu backend=qsd: blk cells only (qemu-storage-daemon exports disks)");
		return -1;
	}
	if (!strcmp(c->backend, "vtbench") && strcmp(c->transport, "shm")) {
		snprintf(why, n, "platform=qemu backend=vtbench: shm only: vtbench serve does not offer "
			 "VIRTIO_F_ACCESS_PLATFORM (it takes guest-physical addresses, no vhost-user IOTLB)");
		return -1;
	}
	if (!strcmp(c->backend, "qsd") && strcmp(c->transport, "shm")) {
		snprintf(why, n, "platform=qemu backend=qsd: shm only in this version");
		return -1;
	}
	if (!strcmp(c->device, "net")) {
		if (strcmp(c->mode, "tx") && strcmp(c->mode, "rr") && strcmp(c->mode, "rx")) {
			snprintf(why, n, "platform=qemu net mode=%s: tx (to a sink), rr (through an echo) or rx (pulled "
				 "from the peer)", c->mode);
			return -1;
		}
		if (c->ops || !c->qd || c->qd > 256 ||
		    (c->size != VTB_GN_IMIX && (c->size < (int)VTB_GN_MIN || c->size > (int)VTB_GN_MAX))) {
			snprintf(why, n, "platform=qemu net: duration-timed cells (ops=0), size %u..%u or imix, qd up "
				 "to 256", VTB_GN_MIN, VTB_GN_MAX);
			return -1;
		}
		return 0;
	}
	if (c->ops || c->backing[0] || c->size < 512 || c->size % 512 || c->size > (1 << 20) || c->qd > 256) {
		snprintf(why, n, "platform=qemu blk: duration-timed cells (ops=0), no backing=, size a multiple of 512 "
			 "up to 1m, qd up to 256");
		return -1;
	}
	return 0;
}

/* The checkout's root: vtbench is ./vtbench or build/.../vtbench in it. */
static int qemu_root(char *buf, size_t n)
{
	char exe[2048];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (l <= 0)
		return -1;
	exe[l] = 0;
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			return -1;
		*slash = 0;
		snprintf(buf, n, "%s/images/machine.conf", exe);
		if (!access(buf, R_OK)) {
			snprintf(buf, n, "%s", exe);
			return 0;
		}
	}
	return -1;
}

/* KEY's value in images/machine.conf, or dflt. */
static void qemu_conf(const char *root, const char *key, char *out, size_t n, const char *dflt)
{
	char path[4200], line[256];
	size_t kl = strlen(key);
	snprintf(out, n, "%s", dflt);
	snprintf(path, sizeof(path), "%s/images/machine.conf", root);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == '=') {
			line[strcspn(line, "\r\n")] = 0;
			snprintf(out, n, "%s", line + kl + 1);
		}
	if (f)
		fclose(f);
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t l = strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)l, p, prog);
		if (!access(buf, X_OK))
			return true;
		p += l + (p[l] == ':');
	}
	return false;
}

int vtb_qemu_available(const struct vtb_cellp *c, char *why, size_t n)
{
	char root[4096], path[4300], qemu[64];
	bool arm64 = !strcmp(c->arch, "arm64");
	if (qemu_root(root, sizeof(root))) {
		snprintf(why, n, "platform=qemu: no images/ beside vtbench");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/build/images/%s/initramfs.cpio.gz", root, qemu_image(c));
	if (access(path, R_OK)) {
		snprintf(why, n, "platform=qemu: the %s guest image is not built (make images)", qemu_image(c));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/build/images/arm64/%s", root, qemu_dtb(c) ? qemu_dtb(c) : "");
	if (qemu_dtb(c) && access(path, R_OK)) {
		snprintf(why, n, "platform=qemu: the arm64 guest's device tree %s is not built (make images)", qemu_dtb(c));
		return -1;
	}
	qemu_conf(root, arm64 ? "ARM64_QEMU" : "X86_64_QEMU", qemu, sizeof(qemu),
		  arm64 ? "qemu-system-aarch64" : "qemu-system-x86_64");
	if (!on_path(qemu)) {
		snprintf(why, n, "platform=qemu: %s is not installed (sh ci/install-deps.sh)", qemu);
		return -1;
	}
	return 0;
}

/* ---- the results of the boots, waiting for the run ---- */

struct qemu_slot {
	bool have;
	struct vtb_cell_result r;
};

static struct {
	size_t ncells;
	unsigned maxreps;
	bool *booted;			/* cell i's configuration has booted */
	struct qemu_slot *slot;		/* [cell * maxreps + rep] */
	char accel[8];
	char qemu_version[80];
} qs;

/* The accelerator a guest of arch boots with: KVM where x86_64's boot
 * test found it usable, TCG for arm64 (emulated on this x86 host). */
static const char *qemu_accel(const char *arch)
{
	return strcmp(arch, "arm64") && qs.accel[0] ? qs.accel : "tcg";
}

static int qemu_tables(const struct vtb_cells *cells)
{
	if (qs.slot && qs.ncells == cells->n)
		return 0;
	vtb_qemu_close();
	unsigned mr = 1;
	for (size_t i = 0; i < cells->n; i++) {
		unsigned m = cells->v[i].max_reps > cells->v[i].reps ? cells->v[i].max_reps : cells->v[i].reps;
		mr = m > mr ? m : mr;
	}
	qs.booted = calloc(cells->n, sizeof(*qs.booted));
	qs.slot = calloc(cells->n * mr, sizeof(*qs.slot));
	if (!qs.booted || !qs.slot) {
		vtb_qemu_close();
		return -1;
	}
	qs.ncells = cells->n;
	qs.maxreps = mr;
	return 0;
}

void vtb_qemu_close(void)
{
	free(qs.booted);
	free(qs.slot);
	qs.booted = NULL;
	qs.slot = NULL;
	qs.ncells = 0;
}

/* Cells a and b boot together: blk cells share the boot's one disk. */
static bool same_boot(const struct vtb_cellp *a, const struct vtb_cellp *b)
{
	bool disks = strcmp(a->device, "blk") || strcmp(b->device, "blk") || a->disk == b->disk;
	return !strcmp(a->platform, b->platform) && !strcmp(qemu_image(a), qemu_image(b)) &&
	       !strcmp(a->transport, b->transport) &&
	       !strcmp(a->variant, b->variant) && !strcmp(a->backend, b->backend) && disks && a->seed == b->seed;
}

/* ---- the boot's files ---- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The disk as vtb_guest expects it before its first write: every 8-byte
 * word at offset o holds splitmix64(seed ^ o / 8), little-endian. */
static int write_disk(const char *path, uint64_t bytes, uint64_t seed)
{
	static uint8_t buf[1 << 16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	for (uint64_t off = 0; off < bytes; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i += 8) {
			uint64_t w = splitmix64(seed ^ ((off + i) / 8));
			for (int b = 0; b < 8; b++)
				buf[i + b] = (uint8_t)(w >> (8 * b));
		}
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			close(fd);
			return -1;
		}
	}
	return close(fd);
}

static void cpio_entry(FILE *f, const char *name, unsigned mode, const char *data, size_t len, unsigned ino)
{
	size_t nl = strlen(name) + 1;
	fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", ino, mode, 0u, 0u, 1u, 0u, len, 0u,
		0u, 0u, 0u, nl, 0u);
	fwrite(name, 1, nl, f);
	for (size_t p = (110 + nl) % 4; p && p < 4; p++)
		fputc(0, f);
	fwrite(data, 1, len, f);
	for (size_t p = len % 4; p && p < 4; p++)
		fputc(0, f);
}

/* The image's initramfs, padded, then a newc archive holding /vtb/job:
 * the kernel unpacks both into the same root. */
static int write_initrd(const char *path, const char *image, const char *job, size_t joblen)
{
	FILE *in = fopen(image, "rb"), *out = fopen(path, "wb");
	char buf[1 << 16];
	size_t n, total = 0;
	int e = -1;
	if (!in || !out)
		goto close_files;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		fwrite(buf, 1, n, out);
		total += n;
	}
	for (; total % 512; total++)
		fputc(0, out);
	cpio_entry(out, "vtb", 040755, "", 0, 1);
	cpio_entry(out, "vtb/job", 0100644, job, joblen, 2);
	cpio_entry(out, "TRAILER!!!", 0, "", 0, 0);
	e = ferror(in) || ferror(out) ? -1 : 0;
close_files:
	if (in)
		fclose(in);
	if (out && fclose(out))
		e = -1;
	return e;
}

/* Planted faults, for the test that the cross-check catches a count gone
 * wrong: VTB_QEMU_FAULT=lose-maps (the trace's count misses every 10th
 * MAP) and/or drop-frames (the peer loses every 10th sink frame). */
static bool qemu_fault(const char *what)
{
	const char *f = getenv("VTB_QEMU_FAULT");
	return f && strstr(f, what);
}

/* ---- what QEMU counted, from its trace log ---- */

struct host_counts {
	uint64_t map, unmap, map_bytes, unmap_bytes, data_kicks, iommu_kicks, data_irqs, iommu_irqs;
};

/* The bytes a MAP or UNMAP request covers: virt_start..virt_end. */
static uint64_t trace_range(const char *e)
{
	const char *a = strstr(e, "virt_start="), *b = strstr(e, "virt_end=");
	if (!a || !b)
		return 0;
	uint64_t s = strtoull(a + 11, NULL, 16), t = strtoull(b + 9, NULL, 16);
	return t >= s ? t - s + 1 : 0;
}

/* The virtio-iommu's vdev: the one whose kick a MAP, UNMAP or ATTACH was
 * handled in (QEMU handles a request inside the kick). */
static void trace_iommu_vdev(FILE *f, char *vdev, size_t n)
{
	char line[512], last[32] = "";
	vdev[0] = 0;
	rewind(f);
	while (fgets(line, sizeof(line), f) && !vdev[0]) {
		const char *v = strstr(line, "virtio_queue_notify vdev ");
		if (v)
			sscanf(v + 25, "%31s", last);
		else if (strstr(line, "virtio_iommu_map ") || strstr(line, "virtio_iommu_unmap ") ||
			 strstr(line, "virtio_iommu_attach "))
			snprintf(vdev, n, "%s", last);
	}
}

static void trace_count(FILE *f, long from, long to, const char *iommu, struct host_counts *h)
{
	char line[512], vdev[32];
	bool lose = qemu_fault("lose-maps");
	uint64_t seen = 0;
	memset(h, 0, sizeof(*h));
	if (fseek(f, from, SEEK_SET))
		return;
	while (ftell(f) < to && fgets(line, sizeof(line), f)) {
		const char *e = strchr(line, ':');
		e = e && e < strchr(line, ' ') ? e + 1 : line;	/* after "pid@time:" */
		const char *v = strstr(e, " vdev ");
		vdev[0] = 0;
		if (v)
			sscanf(v + 6, "%31s", vdev);
		bool io = iommu[0] && !strcmp(vdev, iommu);
		if (!strncmp(e, "virtio_iommu_map ", 17) && !(lose && ++seen % 10 == 0)) {
			h->map++;
			h->map_bytes += trace_range(e);
		} else if (!strncmp(e, "virtio_iommu_map ", 17)) {
			continue;
		} else if (!strncmp(e, "virtio_iommu_unmap ", 19)) {
			h->unmap++;
			h->unmap_bytes += trace_range(e);
		}
		else if (!strncmp(e, "virtio_queue_notify ", 20))
			*(io ? &h->iommu_kicks : &h->data_kicks) += 1;
		else if (!strncmp(e, "virtio_notify ", 14) || !strncmp(e, "virtio_notify_irqfd ", 20))
			*(io ? &h->iommu_irqs : &h->data_irqs) += 1;
	}
}

/* ---- the NIC's other end ---- */

/* What the peer saw of the guest's frames; snapshots at each mark. */
struct net_counts {
	uint64_t frames, bytes, bad, gaps, other, echo_fail;
	uint64_t pulls, sent, sent_bytes, send_fail;	/* rx: the guest's pulls, the frames they got */
};

/* QEMU's -netdev dgram on one of two connected UDP sockets on loopback,
 * this thread on the other: each datagram is one Ethernet frame.  Not a
 * unix socketpair: its receive queue holds 10 datagrams (max_dgram_qlen),
 * so QEMU kept stopping its TX queue to wait for this thread, and once in
 * a few boots never restarted it.  UDP never blocks the sender; a frame the
 * receiver had no room for would be a gap in the sequence, which fails the
 * row, and the buffers hold seconds of frames. */
struct qemu_net {
	int fd, qemu_fd;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	uint64_t next_seq, sunk;
	bool drop;		/* the planted fault */
	atomic_uint_least64_t frames, bytes, bad, gaps, other, echo_fail, recv_errors;
	atomic_uint_least64_t pulls, sent, sent_bytes, send_fail;
	uint64_t tx_seq;	/* the peer's own stream, to the guest */
	uint8_t block[VTB_GN_BLOCK];
	uint8_t rx[65536], tx[VTB_GN_MAX];
};

/* The frames a pull asks for, to the guest. */
static void net_pull(struct qemu_net *n, uint32_t count, int size)
{
	atomic_fetch_add(&n->pulls, 1);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t len = vtb_gn_size(size, n->tx_seq);
		vtb_gn_frame_to(n->tx, vtb_gn_guest_mac, vtb_gn_peer_mac, len, n->block, n->tx_seq++, 0);
		if (send(n->fd, n->tx, len, 0) != (ssize_t)len) {
			atomic_fetch_add(&n->send_fail, 1);
			continue;
		}
		atomic_fetch_add(&n->sent, 1);
		atomic_fetch_add(&n->sent_bytes, len);
	}
}

static void net_take(struct qemu_net *n, uint8_t *f, size_t len)
{
	struct vtb_gn_taken t = vtb_gn_take(f, (uint32_t)len, n->block, &n->next_seq, n->drop ? &n->sunk : NULL);
	if (t.other)
		atomic_fetch_add(&n->other, 1);
	atomic_fetch_add(&n->gaps, t.gap);
	if (t.bad)
		atomic_fetch_add(&n->bad, 1);
	if (t.pull_count)
		net_pull(n, t.pull_count, t.pull_size);
	if (t.counted) {
		atomic_fetch_add(&n->frames, 1);
		atomic_fetch_add(&n->bytes, len);
	}
	if (t.echo && send(n->fd, f, len, 0) != (ssize_t)len)
		atomic_fetch_add(&n->echo_fail, 1);
}

static void *net_peer(void *arg)
{
	struct qemu_net *n = arg;
	uint8_t *buf = n->rx;
	while (!atomic_load(&n->stop)) {
		struct pollfd p = { .fd = n->fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t l = recv(n->fd, buf, sizeof(n->rx), MSG_DONTWAIT);
		if (l > 0)
			net_take(n, buf, (size_t)l);
		else if (l < 0 && errno != EAGAIN && errno != EINTR)
			atomic_fetch_add(&n->recv_errors, 1);	/* e.g. ECONNREFUSED before QEMU's socket is read */
	}
	return NULL;
}

static void net_snapshot(struct qemu_net *n, struct net_counts *c)
{
	memset(c, 0, sizeof(*c));
	if (!n)
		return;
	c->frames = atomic_load(&n->frames);
	c->bytes = atomic_load(&n->bytes);
	c->bad = atomic_load(&n->bad);
	c->gaps = atomic_load(&n->gaps);
	c->other = atomic_load(&n->other);
	c->echo_fail = atomic_load(&n->echo_fail);
	c->pulls = atomic_load(&n->pulls);
	c->sent = atomic_load(&n->sent);
	c->sent_bytes = atomic_load(&n->sent_bytes);
	c->send_fail = atomic_load(&n->send_fail);
}

/* A UDP socket on 127.0.0.1, any port, with a receive buffer of bytes
 * (forced past rmem_max where the harness may). */
static int udp_loopback(int bytes)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int udp_connect(int fd, int to)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	return getsockname(to, (struct sockaddr *)&a, &l) || connect(fd, (struct sockaddr *)&a, l) ? -1 : 0;
}

/* The two sockets and the payload block; the thread starts with net_start. */
static struct qemu_net *net_open(uint64_t seed)
{
	struct qemu_net *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->fd = udp_loopback(64 << 20);
	n->qemu_fd = udp_loopback(8 << 20);	/* inherited by QEMU: no CLOEXEC */
	if (n->fd < 0 || n->qemu_fd < 0 || udp_connect(n->fd, n->qemu_fd) || udp_connect(n->qemu_fd, n->fd)) {
		if (n->fd >= 0)
			close(n->fd);
		if (n->qemu_fd >= 0)
			close(n->qemu_fd);
		free(n);
		return NULL;
	}
	fcntl(n->fd, F_SETFD, FD_CLOEXEC);
	vtb_gn_block(n->block, seed);
	n->drop = qemu_fault("drop-frames");
	atomic_init(&n->stop, false);
	return n;
}

static int net_start(struct qemu_net *n)
{
	close(n->qemu_fd);	/* QEMU holds it now */
	n->qemu_fd = -1;
	if (pthread_create(&n->thread, NULL, net_peer, n))
		return -1;
	n->running = true;
	return 0;
}

static void net_close(struct qemu_net *n)
{
	if (!n)
		return;
	if (n->running) {
		atomic_store(&n->stop, true);
		pthread_join(n->thread, NULL);
	}
	if (n->qemu_fd >= 0)
		close(n->qemu_fd);
	close(n->fd);
	free(n);
}

/* ---- the scmi device: vtbench serve over vhost-user ---- */

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? 0 : (long)st.st_size;
}


/* serve's counters at a mark: the "total" of its queues and the sensor
 * readings its SCMI server answered. */
struct serve_counts {
	bool ok;
	uint64_t ops, doorbells_in, notifies, suppressed, errors, reads;
	struct net_counts net;	/* device=net mode=guest: what it saw as the guest's peer */
};

/* A device's vhost-user backend process: vtbench serve (scmi, or blk with
 * backend=vtbench), whose counters the marks read, or qemu-storage-daemon
 * (backend=qsd), which has none to read. */
struct qemu_serve {
	pid_t pid;
	bool counters;		/* vtbench serve: SIGUSR1 writes a stats line */
	char sock[96], stats[96], log[96];
};

static uint64_t json_u64_after(const char *from, const char *key)
{
	const char *p = from ? strstr(from, key) : NULL;
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* The last whole line of path into buf; its length, 0 if none. */
static size_t last_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t l = 0;
	buf[0] = 0;
	while (f && fgets(buf + 0, (int)n, f))
		l = strlen(buf);
	if (f)
		fclose(f);
	return l && buf[l - 1] == '\n' ? l : 0;
}

/* Starts argv with stdio to sv->log; ready when ready() says so of the
 * log or the socket, within 20 s. */
static int backend_start(struct qemu_serve *sv, char *const argv[], bool (*ready)(const struct qemu_serve *))
{
	sv->pid = fork();
	if (sv->pid < 0)
		return -1;
	if (sv->pid == 0) {
		int null = open("/dev/null", O_RDONLY), log = open(sv->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(null, 0);
		dup2(log, 1);
		dup2(log, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (ready(sv))
			return 0;
		if (waitpid(sv->pid, NULL, WNOHANG) == sv->pid) {
			sv->pid = 0;
			return -1;
		}
		usleep(20000);
	}
	return -1;
}

/* serve's SIGUSR1 handler is set once it listens */
static bool serve_ready(const struct qemu_serve *sv)
{
	char line[512];
	bool up = false;
	FILE *f = fopen(sv->log, "r");
	while (f && fgets(line, sizeof(line), f))
		up |= strstr(line, "listening on") != NULL;
	if (f)
		fclose(f);
	return up;
}

static bool socket_ready(const struct qemu_serve *sv)
{
	struct stat st;
	return !stat(sv->sock, &st) && S_ISSOCK(st.st_mode);
}

/* vtbench serve device=DEV on dir/DEV.sock (blk: disk as its backing). */
static int serve_start(struct qemu_serve *sv, const char *dir, const char *device, const char *disk, uint64_t seed)
{
	char exe[4096], dev[32], sock[128], stats[128], backing[160], seedarg[48];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (l <= 0)
		return -1;
	exe[l] = 0;
	snprintf(sv->sock, sizeof(sv->sock), "%s/%s.sock", dir, device);
	snprintf(sv->stats, sizeof(sv->stats), "%s/serve-%s.stats", dir, device);
	snprintf(sv->log, sizeof(sv->log), "%s/serve-%s.log", dir, device);
	snprintf(dev, sizeof(dev), "device=%s", device);
	snprintf(sock, sizeof(sock), "socket=%s", sv->sock);
	snprintf(stats, sizeof(stats), "stats=%s", sv->stats);
	snprintf(backing, sizeof(backing), "backing=%s", disk ? disk : "");
	snprintf(seedarg, sizeof(seedarg), "seed=%llu", (unsigned long long)seed);
	char *argv[] = { exe, "serve", dev, sock, stats, "--once", NULL, NULL, NULL };
	if (disk)
		argv[6] = backing;
	else if (!strcmp(device, "net"))	/* the guest's peer, its frames the boot seed's */
		argv[6] = "mode=guest", argv[7] = seedarg;
	sv->counters = true;
	return backend_start(sv, argv, serve_ready);
}

/* qemu-storage-daemon exporting disk as vhost-user-blk on dir/qsd.sock,
 * O_DIRECT with thread-pool I/O as the built-in disk's -drive. */
static int qsd_start(struct qemu_serve *sv, const char *dir, const char *disk)
{
	char blockdev[256], export[256];
	snprintf(sv->sock, sizeof(sv->sock), "%s/qsd.sock", dir);
	snprintf(sv->log, sizeof(sv->log), "%s/qsd.log", dir);
	sv->stats[0] = 0;
	snprintf(blockdev, sizeof(blockdev), "driver=file,node-name=d0,filename=%s,cache.direct=on,aio=threads", disk);
	snprintf(export, sizeof(export), "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,"
		 "writable=on,num-queues=1", sv->sock);
	char *argv[] = { "qemu-storage-daemon", "--blockdev", blockdev, "--export", export, NULL };
	sv->counters = false;
	return backend_start(sv, argv, socket_ready);
}

/* serve's counters now: SIGUSR1, then its next stats line. */
static void serve_snapshot(struct qemu_serve *sv, struct serve_counts *c)
{
	char line[4096];
	memset(c, 0, sizeof(*c));
	if (sv->pid <= 0 || !sv->counters)
		return;
	long before = file_size(sv->stats);
	kill(sv->pid, SIGUSR1);
	for (int i = 0; i < 500 && (file_size(sv->stats) <= before || !last_line(sv->stats, line, sizeof(line)));
	     i++)
		usleep(10000);
	if (file_size(sv->stats) <= before || !last_line(sv->stats, line, sizeof(line)))
		return;
	const char *t = strstr(line, "\"total\":{");
	c->ok = t != NULL;
	c->ops = json_u64_after(t, "\"ops\":");
	c->doorbells_in = json_u64_after(t, "\"doorbells_in\":");
	c->notifies = json_u64_after(t, "\"notifies\":");
	c->suppressed = json_u64_after(t, "\"notifies_suppressed\":");
	c->errors = json_u64_after(t, "\"errors\":");
	for (const char *p = strstr(line, "\"sensors\":["); p && (p = strstr(p, "\"reads\":")); p += 8)
		c->reads += strtoull(p + 8, NULL, 10);
	const char *g = strstr(line, "\"peer\":{");
	if (g)
		c->net = (struct net_counts){
			.frames = json_u64_after(g, "\"frames\":"), .bytes = json_u64_after(g, "\"bytes\":"),
			.bad = json_u64_after(g, "\"bad\":"), .gaps = json_u64_after(g, "\"gaps\":"),
			.other = json_u64_after(g, "\"other\":"), .pulls = json_u64_after(g, "\"pulls\":"),
			.sent = json_u64_after(g, "\"sent\":"), .sent_bytes = json_u64_after(g, "\"sent_bytes\":"),
			/* an RX buffer too small for what it owed the guest */
			.echo_fail = json_u64_after(g, "\"drops\":"),
		};
}

static void serve_stop(struct qemu_serve *sv)
{
	if (sv->pid <= 0)
		return;
	/* serve --once exits when QEMU has gone: a moment, then it is ended;
	 * qemu-storage-daemon serves until told to stop */
	if (!sv->counters)
		kill(sv->pid, SIGTERM);
	for (int k = 0; k < 100 && waitpid(sv->pid, NULL, WNOHANG) == 0; k++)
		usleep(20000);
	if (waitpid(sv->pid, NULL, WNOHANG) == 0) {
		kill(sv->pid, SIGKILL);
		waitpid(sv->pid, NULL, 0);
	}
	sv->pid = 0;
}

/* ---- the boot ---- */

struct qemu_mark {
	unsigned cell, rep;
	long begin, end;	/* trace log offsets */
	double cpu0[2], cpu1[2];
	struct net_counts net0, net1;
	struct serve_counts sv0, sv1;
	struct serve_counts nsv0, nsv1;	/* the NIC's vtbench serve */
};

/* One QEMU command line: the image's kernel, the configuration's devices,
 * the guest's test; what the strings point into lives here too. */
struct qemu_cmd {
	char qemu[64], machine[32], smp[16], mem[16], cpu[32], memobj[96], kernel[4200], dtb[4200];
	char initrd[4200], append[512], drive[256], device[256], netdev[96], nic[160], chardev[160], blkchar[160];
	char netchar[160];
	char *argv[64];
};

struct qemu_boot {
	const struct vtb_cells *cells;
	size_t *members;	/* cell indices of this configuration */
	size_t nmembers;
	const struct qemu_cfg *cfg;
	struct qemu_net *net;	/* the NIC's peer, when a member is a net cell */
	struct qemu_serve serve;	/* the scmi device's backend, or the disk's with backend=vtbench|qsd */
	struct qemu_serve nserve;	/* the NIC's with backend=vtbench: the guest's peer */
	struct qemu_cmd cmd;
	char dir[64], trace[96], console_tail[1024], kernel[64];
	struct qemu_mark *marks;
	size_t nmarks, cap;
	pid_t pid;
	int rc;			/* the guest's VTB-DONE rc, -1 none */
};

/* A process's CPU time, all its threads, in seconds. */
static double proc_cpu_s(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return vtb_stat_cpu_s(path, NULL, 0);
}

/* The QEMU process's CPU time, split into its vCPU threads (the guest,
 * FE) and the rest (the device models and their I/O, BE). */
static void qemu_cpu(pid_t pid, double cpu[2])
{
	char path[300], comm[32];
	cpu[0] = cpu[1] = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, e->d_name);
		double s = vtb_stat_cpu_s(path, comm, sizeof(comm));
		/* QEMU names its vCPU threads "CPU N/TCG" or "CPU N/KVM" */
		cpu[strncmp(comm, "CPU ", 4) ? 1 : 0] += s;
	}
	if (d)
		closedir(d);
}

static struct qemu_mark *mark_find(struct qemu_boot *b, unsigned cell, unsigned rep, bool add)
{
	for (size_t i = 0; i < b->nmarks; i++)
		if (b->marks[i].cell == cell && b->marks[i].rep == rep)
			return &b->marks[i];
	if (!add)
		return NULL;
	if (b->nmarks == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 16;
		struct qemu_mark *m = realloc(b->marks, nc * sizeof(*m));
		if (!m)
			return NULL;
		b->marks = m;
		b->cap = nc;
	}
	b->marks[b->nmarks] = (struct qemu_mark){ .cell = cell, .rep = rep, .begin = -1, .end = -1 };
	return &b->marks[b->nmarks++];
}

static uint64_t kv_u64(const char *line, const char *key, bool *ok)
{
	char k[40];
	snprintf(k, sizeof(k), " %s=", key);
	const char *p = strstr(line, k);
	if (!p) {
		*ok = false;
		return 0;
	}
	long long v = strtoll(p + strlen(k), NULL, 10);
	return v < 0 ? UINT64_MAX : (uint64_t)v;
}

/* What serve counted between two marks; ok only if both were read. */
static void serve_delta(const struct serve_counts *a, const struct serve_counts *b, struct serve_counts *d)
{
	*d = (struct serve_counts){
		.ok = a->ok && b->ok, .ops = b->ops - a->ops, .doorbells_in = b->doorbells_in - a->doorbells_in,
		.notifies = b->notifies - a->notifies, .suppressed = b->suppressed - a->suppressed,
		.errors = b->errors - a->errors, .reads = b->reads - a->reads,
	};
}

static void net_delta(const struct net_counts *a, const struct net_counts *b, struct net_counts *d)
{
	*d = (struct net_counts){
		.frames = b->frames - a->frames, .bytes = b->bytes - a->bytes, .bad = b->bad - a->bad,
		.gaps = b->gaps - a->gaps, .other = b->other - a->other, .echo_fail = b->echo_fail - a->echo_fail,
		.pulls = b->pulls - a->pulls, .sent = b->sent - a->sent, .sent_bytes = b->sent_bytes - a->sent_bytes,
		.send_fail = b->send_fail - a->send_fail,
	};
}

static void dev_stat(struct vtb_cell_result *r, const char *name, uint64_t v)
{
	if (r->ndev >= VTB_DEV_STATS)
		return;
	snprintf(r->dev_name_buf[r->ndev], sizeof(r->dev_name_buf[0]), "%s", name);
	r->dev_names[r->ndev] = r->dev_name_buf[r->ndev];
	r->dev_vals[r->ndev++] = v;
}

/* Whether the guest's and QEMU's counts of one thing agree within 2%. */
static bool near2(uint64_t a, uint64_t b)
{
	uint64_t hi = a > b ? a : b, d = a > b ? a - b : b - a;
	return d <= 1 || (double)d <= 0.02 * (double)hi;
}

/* A VTB-ROW line into the result of its cell and repetition. */
static void take_row(struct qemu_boot *b, const char *line, FILE *trace, const char *iommu)
{
	bool ok = true;
	unsigned cell = (unsigned)kv_u64(line, "cell", &ok), rep = (unsigned)kv_u64(line, "rep", &ok);
	if (!ok || cell >= qs.ncells || rep >= qs.maxreps)
		return;
	struct qemu_slot *s = &qs.slot[cell * qs.maxreps + rep];
	struct vtb_cell_result *r = &s->r;
	const struct vtb_cellp *c = &b->cells->v[cell];
	uint64_t ns = kv_u64(line, "ns", &ok), errors = kv_u64(line, "errors", &ok);
	r->ops = kv_u64(line, "ops", &ok);
	r->bytes = kv_u64(line, "bytes", &ok);
	r->seconds = (double)ns / 1e9;
	r->verify_errors = kv_u64(line, "verify_errors", &ok);
	uint64_t irqs = kv_u64(line, "irqs", &ok), ctxsw = kv_u64(line, "ctxsw", &ok);
	uint64_t bounced = kv_u64(line, "bounced", &ok), bounced_b = kv_u64(line, "bounced_bytes", &ok);
	uint64_t maps = kv_u64(line, "maps", &ok), map_b = kv_u64(line, "maps_bytes", &ok);
	uint64_t unmaps = kv_u64(line, "unmaps", &ok), unmap_b = kv_u64(line, "unmaps_bytes", &ok);
	const char *h = strstr(line, " hist=");
	if (!ok || !h) {
		snprintf(r->error, sizeof(r->error), "the guest's row is incomplete: %.200s", line);
		s->have = true;
		return;
	}
	for (h += 6; *h >= '0' && *h <= '9';) {
		char *e;
		unsigned long idx = strtoul(h, &e, 10);
		if (*e != ':')
			break;
		unsigned long long cnt = strtoull(e + 1, &e, 10);
		if (idx < VTB_HIST_BUCKETS) {
			uint64_t lo = vtb_hist_lower((unsigned)idx), w = vtb_hist_width((unsigned)idx);
			r->hist.b[idx] += cnt;
			if (!r->hist.count || lo < r->hist.min)
				r->hist.min = lo;
			if (lo + w - 1 > r->hist.max)
				r->hist.max = lo + w - 1;
			r->hist.count += cnt;
			r->hist.sum += (double)cnt * (double)(lo + w / 2);
		}
		h = *e == ',' ? e + 1 : e;
	}
	/* A kernel built without an IOMMU (the arm64 kernel vtbench builds) has
	 * no iommu events, and no maps to count where no virtio-iommu is. */
	bool no_iommu = maps == UINT64_MAX && unmaps == UINT64_MAX && !b->cfg->viommu;
	if (no_iommu)
		maps = map_b = unmaps = unmap_b = 0;
	bool have_dma = bounced != UINT64_MAX && maps != UINT64_MAX && unmaps != UINT64_MAX;
	/* FE: the guest kernel's driver; BE: QEMU's device model. */
	r->d[0].maps = have_dma ? maps : 0;
	r->d[0].map_bytes = have_dma ? map_b : 0;
	r->d[0].unmaps = have_dma ? unmaps : 0;
	r->d[0].bounce_copies = have_dma ? bounced : 0;
	r->d[0].bounce_bytes = have_dma ? bounced_b : 0;
	struct qemu_mark *m = mark_find(b, cell, rep, false);
	struct host_counts hc = { 0 };
	if (m && m->begin >= 0 && m->end >= m->begin && trace)
		trace_count(trace, m->begin, m->end, iommu, &hc);
	r->d[0].notifies = hc.data_kicks;
	r->d[0].flushes = hc.iommu_kicks;	/* each an iommu request batch the guest waited on */
	r->d[1].notifies = hc.data_irqs;
	r->d[1].xport_ops = hc.map + hc.unmap;
	if (m) {
		r->cpu_s[0] = m->cpu1[0] - m->cpu0[0];
		r->cpu_s[1] = m->cpu1[1] - m->cpu0[1];
	}
	dev_stat(r, "guest_irqs", irqs);
	dev_stat(r, "guest_ctxsw", ctxsw);
	bool net = !strcmp(c->device, "net"), scmi = !strcmp(c->device, "scmi"), have_runs = true;
	/* vhost-user: the data path's kicks and interrupts bypass QEMU, so its
	 * trace sees none of them; serve counts its own, qemu-storage-daemon
	 * keeps no count vtbench can read */
	bool vhu_blk = !net && !scmi && strcmp(c->backend, "qemu"), qsd = vhu_blk && !strcmp(c->backend, "qsd");
	bool vhu_net = net && !strcmp(c->backend, "vtbench");
	if (!vhu_blk && !vhu_net) {
		dev_stat(r, "host_map", hc.map);
		dev_stat(r, "host_unmap", hc.unmap);
		dev_stat(r, "host_kicks", hc.data_kicks);
		dev_stat(r, "host_iommu_kicks", hc.iommu_kicks);
		dev_stat(r, "host_irqs", hc.data_irqs);
		dev_stat(r, "host_iommu_irqs", hc.iommu_irqs);
	}
	struct serve_counts sc = { 0 };
	if ((scmi || vhu_blk) && m)
		serve_delta(&m->sv0, &m->sv1, &sc);
	else if (vhu_net && m)
		serve_delta(&m->nsv0, &m->nsv1, &sc);
	if (sc.ok) {
		r->d[0].notifies = sc.doorbells_in;
		r->d[1].notifies = sc.notifies;
		r->d[1].notifies_suppressed = sc.suppressed;
		dev_stat(r, "serve_ops", sc.ops);
		if (scmi)
			dev_stat(r, "serve_sensor_reads", sc.reads);
		dev_stat(r, "serve_kicks", sc.doorbells_in);
		dev_stat(r, "serve_irqs", sc.notifies);
	} else if (qsd) {	/* its kicks and interrupts bypass QEMU's trace: unknown, not 0 */
		r->d[0].notifies = r->d[1].notifies = 0;
		r->notifies_unknown = true;
	}
	uint64_t runs = kv_u64(line, "buf_runs", &have_runs);
	if (!net && !scmi && have_runs)
		dev_stat(r, "guest_buf_runs", runs);	/* over the cell's qd buffers: qd when each is one run */
	/* the kernel's own count of the CQEs it posted (-1: none read) */
	bool have_cqes = true;
	uint64_t cqes = kv_u64(line, "uring_cqes", &have_cqes);
	if (!net && !scmi && have_cqes && cqes != UINT64_MAX && !strcmp(c->guest_io, "io_uring"))
		dev_stat(r, "guest_uring_cqes", cqes);
	bool have_stalls = true;
	uint64_t stalls = kv_u64(line, "tx_stalls", &have_stalls);
	if (net && have_stalls)
		dev_stat(r, "guest_tx_stalls", stalls);	/* a stalled TX queue the guest had to restart */
	struct net_counts nc = { 0 };
	bool rx = net && !strcmp(c->mode, "rx");
	if (net && m) {
		net_delta(&m->net0, &m->net1, &nc);
		dev_stat(r, "peer_frames", nc.frames);
		dev_stat(r, "peer_bad", nc.bad);
		dev_stat(r, "peer_gaps", nc.gaps);
		dev_stat(r, "peer_other", nc.other);
		if (rx) {
			dev_stat(r, "peer_pulls", nc.pulls);
			dev_stat(r, "peer_sent", nc.sent);
			dev_stat(r, "peer_sent_bytes", nc.sent_bytes);
			dev_stat(r, "peer_send_fail", nc.send_fail);
		}
		r->verify_errors += nc.bad;
	}
	struct vtb_guest_meta *g = &r->guest;
	g->on = true;
	snprintf(g->arch, sizeof(g->arch), "%s", c->arch);
	snprintf(g->accel, sizeof(g->accel), "%s", qemu_accel(c->arch));
	snprintf(g->kernel, sizeof(g->kernel), "%s", b->kernel);
	snprintf(g->qemu, sizeof(g->qemu), "%s", qs.qemu_version);
	if (scmi)
		snprintf(g->config, sizeof(g->config), "vhost-user-scmi-pci served by vtbench serve device=scmi, "
			 "Linux's arm_scmi over virtio, hwmon sensor reads; %s", b->cfg->desc);
	else if (vhu_net)
		snprintf(g->config, sizeof(g->config), "virtio-net-pci on vhost-user, served by vtbench serve device=net "
			 "mode=guest (the proc platform's net device model as the guest's peer), %s", b->cfg->desc);
	else if (vhu_blk)
		snprintf(g->config, sizeof(g->config), "vhost-user-blk-pci served by %s, %s", qsd ?
			 "qemu-storage-daemon (O_DIRECT, thread-pool I/O)" : "vtbench serve device=blk (the proc "
			 "platform's blk device model)", b->cfg->desc);
	else
		snprintf(g->config, sizeof(g->config), "virtio-%s-pci, %s%s%s", c->device, b->cfg->desc,
			 b->cfg->kargs[0] ? "; kernel: " : "", b->cfg->kargs);
	snprintf(g->times, sizeof(g->times), "%s", !strcmp(qemu_accel(c->arch), "kvm") ? "hardware" : "emulated");
	/* The cross-check: what the guest sent, the peer received; what the
	 * guest kernel mapped, QEMU handled, byte for byte.  One iommu_map()
	 * may reach QEMU as several MAP requests (the driver sends one per
	 * page-size chunk the range's alignment allows), never as fewer. */
	bool window = m && m->begin >= 0 && m->end >= 0;
	bool frames_bad = net && (!near2(r->ops, rx ? nc.sent : nc.frames) || (rx && !near2(r->bytes, nc.sent_bytes)) ||
				  nc.gaps || nc.echo_fail || nc.send_fail);
	bool serve_bad = ((scmi || (vhu_blk && !qsd)) && (!sc.ok || !near2(r->ops, scmi ? sc.reads : sc.ops) || sc.errors)) ||
			 (vhu_net && (!sc.ok || sc.errors));
	char reads[160] = "";
	if (scmi || (vhu_blk && !qsd))
		snprintf(reads, sizeof(reads), "; %s: guest %llu, vtbench serve %llu (%s, %llu ring errors)",
			 scmi ? "sensor readings" : "requests", (unsigned long long)r->ops,
			 (unsigned long long)(scmi ? sc.reads : sc.ops),
			 sc.ok ? "its counters at both marks" : "serve's counters missing", (unsigned long long)sc.errors);
	else if (qsd)
		snprintf(reads, sizeof(reads), "; requests: no host-side count (qemu-storage-daemon keeps none vtbench "
			 "reads; the guest verified every read)");
	bool maps_bad = have_dma && (!near2(map_b, hc.map_bytes) || !near2(unmap_b, hc.unmap_bytes) ||
				     (hc.map < maps && !near2(maps, hc.map)) ||
				     (hc.unmap < unmaps && !near2(unmaps, hc.unmap)));
	char frames[200] = "", dma[200];
	if (rx)
		snprintf(frames, sizeof(frames), "; frames: peer sent %llu, %llu B (for %llu pulls, %llu sends failed), "
			 "guest received %llu, %llu B", (unsigned long long)nc.sent, (unsigned long long)nc.sent_bytes,
			 (unsigned long long)nc.pulls, (unsigned long long)nc.send_fail, (unsigned long long)r->ops,
			 (unsigned long long)r->bytes);
	else if (net)
		snprintf(frames, sizeof(frames), "; frames: guest %llu, peer %llu (gaps %llu, foreign %llu, echoes "
			 "failed %llu)", (unsigned long long)r->ops, (unsigned long long)nc.frames,
			 (unsigned long long)nc.gaps, (unsigned long long)nc.other, (unsigned long long)nc.echo_fail);
	snprintf(dma, sizeof(dma), "guest iommu:map %llu (%llu B) unmap %llu (%llu B), QEMU MAP %llu (%llu B) "
		 "UNMAP %llu (%llu B)", (unsigned long long)maps, (unsigned long long)map_b,
		 (unsigned long long)unmaps, (unsigned long long)unmap_b, (unsigned long long)hc.map,
		 (unsigned long long)hc.map_bytes, (unsigned long long)hc.unmap, (unsigned long long)hc.unmap_bytes);
	if (!window)
		snprintf(g->crosscheck, sizeof(g->crosscheck), "no host window: the marks were not seen");
	else if (frames_bad || maps_bad || serve_bad)
		snprintf(g->crosscheck, sizeof(g->crosscheck), "MISMATCH: %s%s%s", maps_bad ? dma : "maps agree",
			 frames, reads);
	else if (scmi || (vhu_blk && !qsd))
		snprintf(g->crosscheck, sizeof(g->crosscheck), "ok%s", reads);
	else if (vhu_net)
		snprintf(g->crosscheck, sizeof(g->crosscheck), "ok: vtbench serve's peer counts%s", frames);
	else if (qsd)
		snprintf(g->crosscheck, sizeof(g->crosscheck), "guest only%s", reads);
	else if (!have_dma)
		snprintf(g->crosscheck, sizeof(g->crosscheck), "the guest kernel has no swiotlb/iommu tracepoints%s",
			 frames);
	else if (bounced)
		snprintf(g->crosscheck, sizeof(g->crosscheck),
			 "maps agree (%llu/%llu%s); bounces only the guest can count: a bounce is a memcpy inside it%s",
			 (unsigned long long)maps, (unsigned long long)hc.map,
			 no_iommu ? ", a kernel without an IOMMU" : "", frames);
	else
		snprintf(g->crosscheck, sizeof(g->crosscheck), "ok: %s%s", dma, frames);
	r->verified_ok = c->verify && !errors && !r->verify_errors;
	if (errors)
		snprintf(r->error, sizeof(r->error), "%llu requests failed in the guest", (unsigned long long)errors);
	else if (r->verify_errors && scmi)
		snprintf(r->error, sizeof(r->error), "%llu sensor readings were not numbers",
			 (unsigned long long)r->verify_errors);
	else if (r->verify_errors && net)
		snprintf(r->error, sizeof(r->error), "%llu frames came back or arrived changed",
			 (unsigned long long)r->verify_errors);
	else if (r->verify_errors)
		snprintf(r->error, sizeof(r->error), "%llu reads returned data the disk does not hold",
			 (unsigned long long)r->verify_errors);
	else if (!strncmp(g->crosscheck, "MISMATCH", 8))
		snprintf(r->error, sizeof(r->error), "guest and host counts disagree: %s", g->crosscheck);
	s->have = true;
}

static void keep_tail(struct qemu_boot *b, const char *line)
{
	size_t have = strlen(b->console_tail), add = strlen(line);
	if (add >= sizeof(b->console_tail))
		line += add - (sizeof(b->console_tail) - 1), add = sizeof(b->console_tail) - 1;
	if (have + add >= sizeof(b->console_tail)) {
		size_t drop = have + add - (sizeof(b->console_tail) - 1);
		memmove(b->console_tail, b->console_tail + drop, have - drop + 1);
	}
	strcat(b->console_tail, line);
}

/* Reads the console until VTB-DONE or the deadline, answering marks. */
static void qemu_console(struct qemu_boot *b, int out, int in, double timeout_s)
{
	char buf[8192], line[16384];
	size_t ll = 0;
	uint64_t deadline = vtb_now_ns() + (uint64_t)(timeout_s * 1e9);
	for (;;) {
		uint64_t now = vtb_now_ns();
		if (now >= deadline)
			return;
		struct pollfd p = { .fd = out, .events = POLLIN };
		int left = (int)((deadline - now) / 1000000) + 1;
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t n = read(out, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\r')
				continue;
			if (buf[i] != '\n' && ll < sizeof(line) - 1) {
				line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			unsigned cell, rep;
			char what[16];
			const char *m = strstr(line, "VTB-MARK ");
			if (m && sscanf(m, "VTB-MARK %u %u %15s", &cell, &rep, what) == 3) {
				struct qemu_mark *mk = mark_find(b, cell, rep, true);
				bool begin = !strcmp(what, "begin");
				if (mk) {
					*(begin ? &mk->begin : &mk->end) = file_size(b->trace);
					qemu_cpu(b->pid, begin ? mk->cpu0 : mk->cpu1);
					/* a vhost-user backend's process is the device side too */
					if (b->serve.pid > 0)
						(begin ? mk->cpu0 : mk->cpu1)[1] += proc_cpu_s(b->serve.pid);
					if (b->nserve.pid > 0)
						(begin ? mk->cpu0 : mk->cpu1)[1] += proc_cpu_s(b->nserve.pid);
					net_snapshot(b->net, begin ? &mk->net0 : &mk->net1);
					serve_snapshot(&b->serve, begin ? &mk->sv0 : &mk->sv1);
					serve_snapshot(&b->nserve, begin ? &mk->nsv0 : &mk->nsv1);
					if (b->nserve.pid > 0)
						*(begin ? &mk->net0 : &mk->net1) = (begin ? &mk->nsv0 : &mk->nsv1)->net;
				}
				if (write(in, "g\n", 2) != 2)
					return;
				continue;
			}
			const char *k = strstr(line, "VTB-GUEST kernel=");
			if (k)
				snprintf(b->kernel, sizeof(b->kernel), "%s", k + 17);
			if (strstr(line, "VTB-ROW ")) {
				keep_tail(b, "VTB-ROW ...\n");
				continue;	/* parsed once the trace log is complete */
			}
			keep_tail(b, line);
			keep_tail(b, "\n");
			const char *d = strstr(line, "VTB-DONE rc=");
			if (d) {
				b->rc = atoi(d + 12);
				return;
			}
		}
	}
}

/* The rows, once QEMU has exited and its trace log is whole. */
static void qemu_rows(struct qemu_boot *b, const char *console)
{
	FILE *trace = fopen(b->trace, "r"), *con = fopen(console, "r");
	char iommu[32] = "", line[16384];
	if (trace && b->cfg->viommu)
		trace_iommu_vdev(trace, iommu, sizeof(iommu));
	while (con && fgets(line, sizeof(line), con)) {
		const char *r = strstr(line, "VTB-ROW ");
		if (r)
			take_row(b, r + 7, trace, iommu);
	}
	if (trace)
		fclose(trace);
	if (con)
		fclose(con);
}

static void detect_accel(const char *root, const char *kernel, const char *initrd)
{
	if (qs.accel[0])
		return;
	const char *env = getenv("VTB_ACCEL");
	if (env && (!strcmp(env, "kvm") || !strcmp(env, "tcg"))) {
		snprintf(qs.accel, sizeof(qs.accel), "%s", env);
		return;
	}
	char cmd[16384], out[16] = "";
	snprintf(cmd, sizeof(cmd), "sh '%s/images/accel.sh' '%s' '%s' 2>/dev/null", root, kernel, initrd);
	FILE *p = popen(cmd, "r");
	if (p) {
		if (!fgets(out, sizeof(out), p))
			out[0] = 0;
		pclose(p);
	}
	snprintf(qs.accel, sizeof(qs.accel), "%s", !strncmp(out, "kvm", 3) ? "kvm" : "tcg");
}

static void detect_version(const char *qemu)
{
	if (qs.qemu_version[0])
		return;
	char cmd[256], line[256] = "";
	snprintf(cmd, sizeof(cmd), "%s --version 2>/dev/null", qemu);
	FILE *p = popen(cmd, "r");
	if (p) {
		if (!fgets(line, sizeof(line), p))
			line[0] = 0;
		pclose(p);
	}
	line[strcspn(line, "\n")] = 0;
	const char *v = strstr(line, "version ");
	snprintf(qs.qemu_version, sizeof(qs.qemu_version), "%s", v ? v + 8 : line[0] ? line : "unknown");
}

/* The job: every repetition of every member, repetition-major. */
static char *qemu_job(const struct qemu_boot *b, size_t *len, double *seconds)
{
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);
	*seconds = 0;
	for (unsigned rep = 0; s && rep < qs.maxreps; rep++)
		for (size_t k = 0; k < b->nmembers; k++) {
			const struct vtb_cellp *c = &b->cells->v[b->members[k]];
			unsigned reps = c->max_reps > c->reps ? c->max_reps : c->reps;
			if (rep >= reps)
				continue;
			if (cap - n < 512) {
				char *t = realloc(s, cap *= 2);
				if (!t) {
					free(s);
					return NULL;
				}
				s = t;
			}
			bool net = !strcmp(c->device, "net"), scmi = !strcmp(c->device, "scmi");
			char size[16] = "imix";
			if (c->size != VTB_GN_IMIX)
				snprintf(size, sizeof(size), "%d", c->size);
			n += (size_t)snprintf(s + n, cap - n,
					      "cell=%u rep=%u device=%s %s=%s size=%s qd=%u rwmix=%u warm=%llu "
					      "dur=%llu verify=%d seed=%llu%s%s\n",
					      (unsigned)b->members[k], rep, c->device,
					      scmi ? "mix" : net ? "mode" : "pattern",
					      scmi ? "sensor_read" : net ? c->mode : c->pattern, size, c->qd, c->rwmix,
					      (unsigned long long)(c->warmup * 1e9), (unsigned long long)(c->duration * 1e9),
					      c->verify, (unsigned long long)c->seed, net || scmi ? "" : " io=",
					      net || scmi ? "" : c->guest_io);
			*seconds += c->duration + c->warmup + QEMU_CELL_SLACK_S / 4;
		}
	*len = n;
	return s;
}

static void fail_members(const struct qemu_boot *b, const char *why)
{
	for (size_t k = 0; k < b->nmembers; k++)
		for (unsigned rep = 0; rep < qs.maxreps; rep++) {
			struct qemu_slot *s = &qs.slot[b->members[k] * qs.maxreps + rep];
			if (s->have)
				continue;
			memset(&s->r, 0, sizeof(s->r));
			s->r.steal_s[0] = s->r.steal_s[1] = -1;
			snprintf(s->r.error, sizeof(s->r.error), "%s", why);
			s->have = true;
		}
}

/* What a boot attaches besides its configuration: NULL (-1) for none. */
struct qemu_attach {
	const char *initrd, *test;	/* the initramfs; vtb.test= and its arguments */
	const char *disk;		/* a virtio-blk disk's image */
	const char *blk_sock;		/* a vhost-user-blk backend's socket */
	const char *scmi_sock;		/* vtbench serve's, for a vhost-user-scmi-pci */
	const char *trace;		/* QEMU's trace log */
	int net_fd;			/* the NIC's socket */
	const char *net_sock;		/* or its vhost-user backend's (vtbench serve device=net) */
};

static void qemu_cmd_build(struct qemu_cmd *q, const char *root, const struct vtb_cellp *c, const struct qemu_cfg *cfg,
			   const struct qemu_attach *at)
{
	const char *disk = at->disk, *blk_sock = at->blk_sock, *scmi = at->scmi_sock, *trace = at->trace;
	int net_fd = at->net_fd;
	const char *arch = c->arch, *image = qemu_image(c);
	bool arm64 = !strcmp(arch, "arm64");
	const char *pfx = arm64 ? "ARM64" : "X86_64";
	char key[32], console[32];
#define CONF(k, buf, dflt) (snprintf(key, sizeof(key), "%s_%s", pfx, k), qemu_conf(root, key, buf, sizeof(buf), dflt))
	CONF("QEMU", q->qemu, arm64 ? "qemu-system-aarch64" : "qemu-system-x86_64");
	CONF("MACHINE", q->machine, arm64 ? "virt" : "q35");
	CONF("SMP", q->smp, "1");
	CONF("MEM", q->mem, "512M");
	CONF("CPU", q->cpu, arm64 ? "cortex-a57" : "max");
	CONF("CONSOLE", console, arm64 ? "ttyAMA0" : "ttyS0");
#undef CONF
	snprintf(q->kernel, sizeof(q->kernel), "%s/build/images/%s/kernel/%s", root, image,
		 !strcmp(image, "arm64") ? "Image" : "vmlinuz");
	/* the built kernel: QEMU's tree with the SCMI node (and the pool) */
	snprintf(q->dtb, sizeof(q->dtb), "%s/build/images/arm64/%s", root, qemu_dtb(c) ? qemu_dtb(c) : "");
	snprintf(q->initrd, sizeof(q->initrd), "%s", at->initrd);
	/* no IPv6: its router solicitations would be frames no cell sent */
	snprintf(q->append, sizeof(q->append), "console=%s quiet panic=-1 ipv6.disable=1 %s %s", console, cfg->kargs,
		 at->test);
	snprintf(q->drive, sizeof(q->drive), "file=%s,if=none,id=d0,format=raw,cache=none,aio=threads",
		 disk ? disk : "");
	snprintf(q->device, sizeof(q->device), "virtio-blk-pci,drive=d0,serial=vtb-qemu%s", cfg->devprops);
	snprintf(q->netdev, sizeof(q->netdev), "dgram,id=n0,local.type=fd,local.str=%d", net_fd);
	snprintf(q->netchar, sizeof(q->netchar), "socket,id=vnet,path=%s", at->net_sock ? at->net_sock : "");
	if (at->net_sock)	/* the rings go to the backend; the NIC's model stays QEMU's */
		snprintf(q->netdev, sizeof(q->netdev), "vhost-user,id=n0,chardev=vnet");
	snprintf(q->nic, sizeof(q->nic), "virtio-net-pci,netdev=n0,romfile=,mac=%02x:%02x:%02x:%02x:%02x:%02x%s",
		 vtb_gn_guest_mac[0], vtb_gn_guest_mac[1], vtb_gn_guest_mac[2], vtb_gn_guest_mac[3],
		 vtb_gn_guest_mac[4], vtb_gn_guest_mac[5], cfg->devprops);
	snprintf(q->chardev, sizeof(q->chardev), "socket,id=vscmi,path=%s", scmi ? scmi : "");
	snprintf(q->blkchar, sizeof(q->blkchar), "socket,id=vblk,path=%s", blk_sock ? blk_sock : "");
	if (blk_sock)	/* the disk is the backend's: QEMU passes its rings on */
		snprintf(q->device, sizeof(q->device), "vhost-user-blk-pci,chardev=vblk,num-queues=1%s",
			 cfg->devprops);
	snprintf(q->memobj, sizeof(q->memobj), "memory-backend-memfd,id=mem,size=%s,share=on", q->mem);
	const char *accel = qemu_accel(arch);
	bool kvm = !strcmp(accel, "kvm");
	char *const base[] = { q->qemu, "-M", q->machine, "-accel", (char *)accel, "-cpu", kvm ? "host" : q->cpu,
			       "-smp", q->smp, "-m", q->mem, "-object", q->memobj, "-machine", "memory-backend=mem",
			       "-name", "vtbench,debug-threads=on",	/* vCPU threads named "CPU N/TCG" */
			       "-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio", "-kernel", q->kernel,
			       "-initrd", q->initrd, "-append", q->append };
	int a = 0;
	for (size_t k = 0; k < sizeof(base) / sizeof(base[0]); k++)
		q->argv[a++] = base[k];
	if (qemu_dtb(c)) {
		q->argv[a++] = "-dtb";
		q->argv[a++] = q->dtb;
	}
	if (cfg->viommu) {
		q->argv[a++] = "-device";
		q->argv[a++] = "virtio-iommu-pci";
	}
	if (disk) {
		q->argv[a++] = "-drive";
		q->argv[a++] = q->drive;
		q->argv[a++] = "-device";
		q->argv[a++] = q->device;
	} else if (blk_sock) {
		q->argv[a++] = "-chardev";
		q->argv[a++] = q->blkchar;
		q->argv[a++] = "-device";
		q->argv[a++] = q->device;
	}
	if (at->net_sock) {
		q->argv[a++] = "-chardev";
		q->argv[a++] = q->netchar;
	}
	if (net_fd >= 0 || at->net_sock) {
		q->argv[a++] = "-netdev";
		q->argv[a++] = q->netdev;
		q->argv[a++] = "-device";
		q->argv[a++] = q->nic;
	}
	if (scmi) {
		q->argv[a++] = "-chardev";
		q->argv[a++] = q->chardev;
		q->argv[a++] = "-device";
		q->argv[a++] = "vhost-user-scmi-pci,chardev=vscmi";
	}
	static char *const events[] = { "virtio_iommu_map", "virtio_iommu_unmap", "virtio_iommu_attach",
					"virtio_queue_notify", "virtio_notify", "virtio_notify_irqfd" };
	for (size_t e = 0; trace && e < sizeof(events) / sizeof(events[0]); e++) {
		q->argv[a++] = "-trace";
		q->argv[a++] = events[e];
	}
	if (trace) {
		q->argv[a++] = "-D";
		q->argv[a++] = (char *)trace;
	}
	q->argv[a] = NULL;
}

/* Boots cell i's configuration and runs all its members; -1 if the
 * harness could not (no memory, no temporary files). */
static int qemu_boot_cfg(const struct vtb_cells *cells, size_t i)
{
	const struct vtb_cellp *c = &cells->v[i];
	struct qemu_boot b = { .cells = cells, .cfg = qemu_cfg_find(c), .rc = -1 };
	char root[4096], kernel[4200], image[4200], initrd[128], disk[128], console[128], why[640];
	int ret = -1, to_q[2] = { -1, -1 }, from_q[2] = { -1, -1 };
	pid_t teep = -1;
	char *job = NULL;
	size_t joblen;
	double work_s;

	b.members = calloc(cells->n, sizeof(*b.members));
	if (!b.members || !b.cfg || qemu_root(root, sizeof(root)))
		goto free_members;
	bool has_blk = false, has_net = false, has_scmi = false;
	uint64_t disk_bytes = QEMU_DEFAULT_DISK;
	for (size_t j = 0; j < cells->n; j++)
		if (same_boot(c, &cells->v[j]) && !vtb_qemu_check(&cells->v[j], why, sizeof(why))) {
			b.members[b.nmembers++] = j;
			qs.booted[j] = true;
			if (!strcmp(cells->v[j].device, "net")) {
				has_net = true;
			} else if (!strcmp(cells->v[j].device, "scmi")) {
				has_scmi = true;
			} else {
				disk_bytes = cells->v[j].disk ? cells->v[j].disk : QEMU_DEFAULT_DISK;
				has_blk = true;
			}
		}
	snprintf(b.dir, sizeof(b.dir), "/tmp/vtb-qemu-%d-%zu", (int)getpid(), i);
	if (mkdir(b.dir, 0700) && errno != EEXIST)
		goto free_members;
	snprintf(kernel, sizeof(kernel), "%s/build/images/x86_64/kernel/vmlinuz", root);
	snprintf(image, sizeof(image), "%s/build/images/%s/initramfs.cpio.gz", root, qemu_image(c));
	snprintf(initrd, sizeof(initrd), "%s/initrd", b.dir);
	snprintf(disk, sizeof(disk), "%s/disk.img", b.dir);
	snprintf(console, sizeof(console), "%s/console.log", b.dir);
	snprintf(b.trace, sizeof(b.trace), "%s/trace.log", b.dir);
	job = qemu_job(&b, &joblen, &work_s);
	if (!job)
		goto remove_dir;
	if (write_initrd(initrd, image, job, joblen) ||
	    (has_blk && write_disk(disk, disk_bytes, c->seed)))
		goto remove_files;
	bool serve_net = has_net && !strcmp(c->backend, "vtbench");
	if (has_net && !serve_net && !(b.net = net_open(c->seed)))
		goto remove_files;
	bool serve_blk = has_blk && !strcmp(c->backend, "vtbench"), qsd_blk = has_blk && !strcmp(c->backend, "qsd");
	if ((has_scmi && serve_start(&b.serve, b.dir, "scmi", NULL, 0)) ||
	    (serve_blk && serve_start(&b.serve, b.dir, "blk", disk, 0)) || (qsd_blk && qsd_start(&b.serve, b.dir, disk))) {
		snprintf(why, sizeof(why), "%s did not start (%s)",
			 qsd_blk ? "qemu-storage-daemon" : has_scmi ? "vtbench serve device=scmi" : "vtbench serve device=blk",
			 b.serve.log);
		fail_members(&b, why);
		ret = 0;
		goto remove_files;
	}
	if (serve_net && serve_start(&b.nserve, b.dir, "net", NULL, c->seed)) {
		snprintf(why, sizeof(why), "vtbench serve device=net mode=guest did not start (%s)", b.nserve.log);
		fail_members(&b, why);
		ret = 0;
		goto remove_files;
	}
	struct qemu_cmd *q = &b.cmd;
	char test[96];
	bool arm64 = !strcmp(c->arch, "arm64");
	qemu_conf(root, arm64 ? "ARM64_QEMU" : "X86_64_QEMU", q->qemu, sizeof(q->qemu),
		  arm64 ? "qemu-system-aarch64" : "qemu-system-x86_64");
	if (!arm64)
		detect_accel(root, kernel, image);
	detect_version(q->qemu);
	snprintf(test, sizeof(test), "vtb.test=cells vtb.args=seed=%llu", (unsigned long long)c->seed);
	const struct qemu_attach at = {
		.initrd = initrd,
		.test = test,
		.disk = has_blk && !b.serve.pid ? disk : NULL,
		.blk_sock = has_blk && b.serve.pid ? b.serve.sock : NULL,
		.scmi_sock = has_scmi ? b.serve.sock : NULL,
		.trace = b.trace,
		.net_fd = b.net ? b.net->qemu_fd : -1,
		.net_sock = serve_net ? b.nserve.sock : NULL,
	};
	qemu_cmd_build(q, root, c, b.cfg, &at);
	if (pipe(to_q) || pipe(from_q))
		goto close_pipes;
	b.pid = fork();
	if (b.pid < 0)
		goto close_pipes;
	if (b.pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(to_q[0], 0);
		dup2(from_q[1], 1);
		dup2(null, 2);
		execvp(q->argv[0], q->argv);
		_exit(127);
	}
	close(to_q[0]);
	close(from_q[1]);
	to_q[0] = from_q[1] = -1;
	/* The console is kept whole for the rows; the harness reads a tee. */
	int tee[2];
	if (pipe(tee))
		goto stop_qemu;
	teep = fork();
	if (teep == 0) {
		close(tee[0]);
		FILE *log = fopen(console, "w");
		char buf[8192];
		ssize_t n;
		while ((n = read(from_q[0], buf, sizeof(buf))) > 0) {
			if (log)
				fwrite(buf, 1, (size_t)n, log), fflush(log);
			if (write(tee[1], buf, (size_t)n) != n)
				break;
		}
		_exit(log && !fclose(log) ? 0 : 1);
	}
	close(tee[1]);
	/* the peer thread starts after the last fork */
	if (teep < 0 || (b.net && net_start(b.net))) {
		close(tee[0]);
		goto stop_qemu;
	}
	qemu_console(&b, tee[0], to_q[1], QEMU_BOOT_S + work_s);
	close(tee[0]);
	/* The guest powers off after VTB-DONE; give QEMU a moment, then end it. */
	for (int k = 0; k < 100 && waitpid(b.pid, NULL, WNOHANG) == 0; k++)
		usleep(50000);
	kill(b.pid, SIGKILL);
	waitpid(b.pid, NULL, 0);
	b.pid = 0;
	waitpid(teep, NULL, 0);
	teep = -1;
	net_close(b.net);
	b.net = NULL;
	serve_stop(&b.serve);
	serve_stop(&b.nserve);
	qemu_rows(&b, console);
	snprintf(why, sizeof(why), "the guest %s (rc %d); console: %.400s",
		 b.rc < 0 ? "did not finish" : "did not report this repetition", b.rc, b.console_tail);
	fail_members(&b, why);
	ret = 0;
stop_qemu:
	if (b.pid > 0) {
		kill(b.pid, SIGKILL);
		waitpid(b.pid, NULL, 0);
	}
	if (teep > 0)
		waitpid(teep, NULL, 0);	/* ends with QEMU's output */
close_pipes:
	for (int k = 0; k < 2; k++) {
		if (to_q[k] >= 0)
			close(to_q[k]);
		if (from_q[k] >= 0)
			close(from_q[k]);
	}
remove_files:
	net_close(b.net);
	serve_stop(&b.serve);
	serve_stop(&b.nserve);
	if (!getenv("VTB_QEMU_KEEP")) {
		unlink(initrd);
		unlink(disk);
		unlink(console);
		unlink(b.trace);
		const char *backend_files[] = { b.serve.sock, b.serve.stats, b.serve.log, b.nserve.sock, b.nserve.stats,
						b.nserve.log };
		for (size_t k = 0; k < sizeof(backend_files) / sizeof(backend_files[0]); k++)
			if (backend_files[k][0])
				unlink(backend_files[k]);
	}
	free(job);
remove_dir:
	if (!getenv("VTB_QEMU_KEEP"))
		rmdir(b.dir);
free_members:
	free(b.marks);
	free(b.members);
	return ret;
}

int vtb_qemu_run(const struct vtb_cells *cells, size_t i, unsigned rep, struct vtb_cell_result *r)
{
	if (qemu_tables(cells) || rep >= qs.maxreps)
		return -1;
	struct qemu_slot *s = &qs.slot[i * qs.maxreps + rep];
	if (!s->have && !qs.booted[i] && qemu_boot_cfg(cells, i))
		return -1;
	if (!s->have) {
		memset(r, 0, sizeof(*r));
		r->steal_s[0] = r->steal_s[1] = -1;
		snprintf(r->error, sizeof(r->error), "the guest's boot did not run this repetition");
		return 0;
	}
	*r = s->r;
	r->steal_s[0] = r->steal_s[1] = -1;	/* the guest's CPU is QEMU's thread: not read */
	return 0;
}

/* ---- boot timings: hyperfine over whole boots ---- */

/* hyperfine's per-run wall times (s) from its --export-json file. */
static unsigned hyperfine_times(const char *path, double *t, unsigned max)
{
	char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	const char *p = strstr(buf, "\"times\"");
	unsigned k = 0;
	if (!p || !(p = strchr(p, '[')))
		return 0;
	for (p++; k < max;) {
		char *e;
		double v = strtod(p, &e);
		if (e == p)
			break;
		t[k++] = v;
		p = e + strspn(e, " ,\n\t");
	}
	return k;
}

int vtb_qemu_boot_time(const struct vtb_cellp *c, unsigned runs, struct vtb_cell_result *r)
{
	const struct qemu_cfg *cfg = qemu_cfg_find(c);
	char root[4096], image[4200], dir[64], disk[96], json[96], nruns[16], cmd[16384], why[256];
	struct qemu_cmd *q = calloc(1, sizeof(*q));
	double t[128];
	memset(r, 0, sizeof(*r));
	r->steal_s[0] = r->steal_s[1] = -1;
	if (!q || !cfg || qemu_root(root, sizeof(root)) || runs == 0 || runs > 128) {
		free(q);
		return -1;
	}
	if (!on_path("hyperfine")) {
		snprintf(r->error, sizeof(r->error), "boot timing needs hyperfine (sh ci/install-deps.sh)");
		free(q);
		return 0;
	}
	snprintf(dir, sizeof(dir), "/tmp/vtb-qemu-%d-boot", (int)getpid());
	snprintf(disk, sizeof(disk), "%s/disk.img", dir);
	snprintf(json, sizeof(json), "%s/hyperfine.json", dir);
	bool arm64 = !strcmp(c->arch, "arm64");
	snprintf(image, sizeof(image), "%s/build/images/%s/initramfs.cpio.gz", root, qemu_image(c));
	int fd = mkdir(dir, 0700) && errno != EEXIST ? -1 : open(disk, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 16 << 20) || close(fd)) {
		snprintf(r->error, sizeof(r->error), "boot timing: cannot create %s", disk);
		goto remove_dir;
	}
	qemu_conf(root, arm64 ? "ARM64_QEMU" : "X86_64_QEMU", q->qemu, sizeof(q->qemu),
		  arm64 ? "qemu-system-aarch64" : "qemu-system-x86_64");
	snprintf(cmd, sizeof(cmd), "%s/build/images/x86_64/kernel/vmlinuz", root);
	if (!arm64)
		detect_accel(root, cmd, image);
	detect_version(q->qemu);
	/* The configuration's devices as its cells have them (a disk; scmi:
	 * none, its device needs its backend), no trace: from
	 * QEMU's start to the guest powering off after /init. */
	const struct qemu_attach at = {
		.initrd = image,
		.test = "vtb.test=boot",
		.disk = strcmp(c->device, "scmi") ? disk : NULL,
		.net_fd = -1,
	};
	qemu_cmd_build(q, root, c, cfg, &at);
	size_t n = 0;
	for (int a = 0; q->argv[a] && n < sizeof(cmd) - 8; a++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "%s'%s'", a ? " " : "", q->argv[a]);
	snprintf(nruns, sizeof(nruns), "%u", runs);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execlp("hyperfine", "hyperfine", "--runs", nruns, "--style", "none", "--shell=none", "--export-json", json,
		       "--", cmd, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(r->error, sizeof(r->error), "hyperfine over the %s/%s boot failed (status %d)", c->transport,
			 c->variant, st);
		goto remove_files;
	}
	unsigned k = hyperfine_times(json, t, runs);
	if (k != runs) {
		snprintf(r->error, sizeof(r->error), "hyperfine's %s holds %u of %u boot times", json, k, runs);
		goto remove_files;
	}
	vtb_hist_reset(&r->hist);
	for (unsigned i = 0; i < k; i++) {
		r->seconds += t[i];
		vtb_hist_add(&r->hist, (uint64_t)(t[i] * 1e9));
	}
	r->ops = k;
	struct vtb_guest_meta *g = &r->guest;
	g->on = true;
	snprintf(g->arch, sizeof(g->arch), "%s", c->arch);
	snprintf(g->accel, sizeof(g->accel), "%s", qemu_accel(c->arch));
	snprintf(g->qemu, sizeof(g->qemu), "%s", qs.qemu_version);
	snprintf(g->config, sizeof(g->config), "%s, %s%s%s; a whole boot to /init's end, timed by hyperfine",
		 !strcmp(c->device, "scmi") ? "no virtio device" : "virtio-blk-pci", cfg->desc, cfg->kargs[0] ? "; kernel: " : "", cfg->kargs);
	snprintf(g->times, sizeof(g->times), "%s", !strcmp(qemu_accel(c->arch), "kvm") ? "hardware" : "emulated");
	snprintf(why, sizeof(why), "no counts: a boot row times whole boots (%u runs)", k);
	snprintf(g->crosscheck, sizeof(g->crosscheck), "%s", why);
remove_files:
	if (!getenv("VTB_QEMU_KEEP"))
		unlink(json);
	unlink(disk);
remove_dir:
	if (!getenv("VTB_QEMU_KEEP"))
		rmdir(dir);
	free(q);
	return 0;
}
