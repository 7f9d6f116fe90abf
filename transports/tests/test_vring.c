/* The vring engine's negotiation, with the BE in a forked process as in a
 * cell: which transports offer VIRTIO_F_ACCESS_PLATFORM and negotiate it;
 * a driver that negotiates RING_PACKED with INDIRECT_DESC is served (the BE
 * used to take SIGSEGV); a driver that negotiates a pair the device cannot
 * serve leaves the device NEEDS_RESET, its process alive. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../ci/vtb_test.h"
#include "procdom.h"
#include "../vring.h"

#define RAM (16u << 20)
#define QN 16

struct world {
	struct vtb_dom fe, be;
	struct vtb_doorbell kick, call;
	struct vtb_vdev_regs *regs;
	volatile pid_t *pids;
	void *hv;
	struct vtb_xenv env;
	struct vtb_plat_counters ctr;
	struct vtb_plat plat;
	pid_t child;
	uint32_t status;	/* the device status once the BE has gone */
};

typedef int (*child_fn)(struct vtb_xenv *env, const struct vtb_transport_ops *t);

/* Both domains as a cell has them: the BE forked, each with its platform. */
static void world_start(struct world *w, const struct vtb_transport_ops *t, const char *variant, child_fn fn)
{
	memset(w, 0, sizeof(*w));
	w->be = (struct vtb_dom){ .id = 1 };
	w->regs = mmap(NULL, sizeof(*w->regs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	w->pids = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	w->hv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	vtb_proc_dom_create(&w->fe, 0, RAM);
	vtb_proc_doorbell_create(&w->kick);
	vtb_proc_doorbell_create(&w->call);
	w->env = (struct vtb_xenv){ .fe = &w->fe, .be = &w->be, .kick = &w->kick, .call = &w->call, .regs = w->regs,
				    .variant = variant, .poll = true, .qsize = QN, .nqueues = 1 };
	if (t && t->be_ram_bytes)
		vtb_proc_dom_create(&w->be, 1, (t->be_ram_bytes(&w->env) + 4095) & ~4095ull);
	if (t && t->region_bytes) {
		w->env.shared_size = (t->region_bytes(&w->env) + 4095) & ~4095ull;
		w->env.shared_gpa = RAM - w->env.shared_size;
	}
	pid_t bp = fork();
	if (bp == 0) {
		while (!w->pids[1])
			sched_yield();
		vtb_proc_dom_set_pid(&w->fe, w->pids[1]);
		vtb_proc_dom_set_pid(&w->be, getpid());
		struct vtb_plat_counters ctr = { 0 };
		struct vtb_plat plat = { &vtb_platform_proc, &ctr, w->hv };
		w->env.plat = &plat;
		w->env.device_id = 2;
		if (vtb_proc_dom_ram_fd(&w->be) >= 0 && !(w->env.be_ram = vtb_proc_dom_map_own(&w->be)))
			_exit(10);
		_exit(fn(&w->env, t));
	}
	w->child = bp;
	vtb_proc_dom_set_pid(&w->be, bp);
	w->pids[0] = bp;
	w->pids[1] = getpid();
	vtb_proc_dom_set_pid(&w->fe, getpid());
	w->plat = (struct vtb_plat){ &vtb_platform_proc, &w->ctr, w->hv };
	w->env.plat = &w->plat;
	w->env.ram = vtb_proc_dom_map_own(&w->fe);
}

/* The BE's exit status, 128 + signal if it was killed. */
static int world_end(struct world *w, bool kill_it)
{
	int st = 0;
	if (kill_it)
		kill(w->child, SIGKILL);
	if (w->child > 0)
		waitpid(w->child, &st, 0);
	w->status = VTB_READ_ONCE(w->regs->status);
	if (w->env.ram)
		munmap(w->env.ram, RAM);
	vtb_proc_doorbell_destroy(&w->kick);
	vtb_proc_doorbell_destroy(&w->call);
	vtb_proc_dom_destroy(&w->fe);
	vtb_proc_dom_destroy(&w->be);
	munmap(w->regs, sizeof(*w->regs));
	munmap((void *)w->pids, 4096);
	munmap(w->hv, 4096);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- ACCESS_PLATFORM per transport ---- */
static int be_features(struct vtb_xenv *env, const struct vtb_transport_ops *t)
{
	void *x;
	if (t->be_open(env, &x))
		return 10;
	return env->features & VTB_BIT(VTB_F_ACCESS_PLATFORM) ? 1 : 0;
}

static void access_platform(const char *tname, const char *variant, bool want)
{
	const struct vtb_transport_ops *t = vtb_transport_find(tname);
	struct world w;
	world_start(&w, t, variant, be_features);
	void *x = NULL;
	int e = w.env.ram ? t->fe_open(&w.env, 0, &x) : -ENOMEM;
	bool offered = w.regs->device_features & VTB_BIT(VTB_F_ACCESS_PLATFORM);
	bool fe_has = w.env.features & VTB_BIT(VTB_F_ACCESS_PLATFORM);
	int be = world_end(&w, e != 0);
	if (x)
		t->fe_close(x);
	vtb_checks++;
	if (e || offered != want || fe_has != want || be != (want ? 1 : 0)) {
		vtb_failed++;
		fprintf(stderr, "%s/%s: open %d, ACCESS_PLATFORM offered %d, FE negotiated %d, BE %d; want %d\n", tname,
			variant, e, offered, fe_has, be, want);
	}
}

/* A device that does not offer ACCESS_PLATFORM, served until told to stop
 * (stop_flag: a shared page, mapped before any fork). */
static volatile int *stop_flag;
static int be_plain_device(struct vtb_xenv *env, const struct vtb_transport_ops *t)
{
	(void)t;
	struct vtb_vdev_state st = { 0 };
	if (vtb_vdev_publish(env->regs, 2, 0, 1, 256, NULL, 0))
		return 10;
	while (!*stop_flag)
		if (!vtb_vdev_service(env->regs, &st))
			sched_yield();
	return 0;
}

/* The FE of a transport that needs the DMA API refuses such a device (as
 * Linux's virtio_features_ok() does when the platform restricts memory
 * access), before it has placed anything. */
static void needs_access_platform(const char *tname, const char *variant)
{
	const struct vtb_transport_ops *t = vtb_transport_find(tname);
	struct world w;
	*stop_flag = 0;
	world_start(&w, t, variant, be_plain_device);
	void *x = NULL;
	int e = w.env.ram ? t->fe_open(&w.env, 0, &x) : -ENOMEM;
	*stop_flag = 1;
	int be = world_end(&w, false);
	if (x)
		t->fe_close(x);
	vtb_checks++;
	if (e != -ENODEV || be != 0) {
		vtb_failed++;
		fprintf(stderr, "%s/%s against a device without ACCESS_PLATFORM: open %d (want %d), device %d\n", tname,
			variant, e, -ENODEV, be);
	}
}

/* ---- a driver written against the register block ---- */
static void relax(void *c)
{
	(void)c;
	sched_yield();
}

/* The BE serves one request over shm: a header, a data buffer, a status
 * byte (blk's shape), and completes it. */
static int be_serve_one(struct vtb_xenv *env, const struct vtb_transport_ops *t)
{
	void *x;
	struct vtb_req req;
	if (t->be_open(env, &x))
		return 10;
	if (!(env->features & VTB_BIT(VTB_F_RING_PACKED)) || !(env->features & VTB_BIT(VTB_F_INDIRECT_DESC)))
		return 11;
	for (long spins = 0; spins < 20000000; spins++) {
		int r = t->be_pop(x, 0, &req);
		if (r < 0)
			return 12;
		if (r == 0) {
			sched_yield();
			continue;
		}
		if (req.nout != 2 || req.nin != 1 || req.out_bytes != 16 + 512 || req.in_bytes != 1 ||
		    ((unsigned char *)req.iov[1].base)[511] != 0x5a)
			return 13;
		*(unsigned char *)req.iov[2].base = 0xa5;
		if (t->be_push(x, &req, 1))
			return 14;
		t->be_flush(x);
		return 0;
	}
	return 15;
}

static void packed_indirect(void)
{
	const struct vtb_transport_ops *t = vtb_transport_find("shm");
	struct world w;
	world_start(&w, t, "packed", be_serve_one);
	struct vtb_vdrv d = { .r = w.regs, .relax = relax };
	uint64_t f = 0, ring_gpa, ind_gpa, buf_gpa;
	void *ring, *ind;
	char *buf;
	bool ok = w.env.ram && !vtb_vdrv_reset(&d) &&
		  !vtb_vdrv_negotiate(&d, VTB_BIT(VTB_F_VERSION_1) | VTB_BIT(VTB_F_RING_PACKED) | VTB_BIT(VTB_F_INDIRECT_DESC), &f) &&
		  f == (VTB_BIT(VTB_F_VERSION_1) | VTB_BIT(VTB_F_RING_PACKED) | VTB_BIT(VTB_F_INDIRECT_DESC)) &&
		  !vtb_fe_alloc(&w.env, vtb_pvring_bytes(QN), 4096, &ring_gpa, &ring) &&
		  !vtb_fe_alloc(&w.env, QN * 4 * 16, 4096, &ind_gpa, &ind) &&
		  !vtb_fe_alloc(&w.env, 4096, 4096, &buf_gpa, (void **)&buf);
	/* Written by hand, as a foreign driver would (not by this tree's
	 * driver core): buffer id 5 in ring slot 0, a table of three. */
	struct vtb_pvq_desc *rd = ring, *tbl = ind;
	if (ok) {
		uint64_t drv = ring_gpa + QN * sizeof(struct vtb_pvq_desc);
		ok = !vtb_vdrv_setup_queue(&d, 0, QN, ring_gpa, drv, drv + sizeof(struct vtb_pvq_event)) &&
		     !vtb_vdrv_driver_ok(&d);
	}
	if (ok) {
		memset(buf + 1024, 0x5a, 512);
		tbl[0] = (struct vtb_pvq_desc){ buf_gpa, 16, 0, 0 };
		tbl[1] = (struct vtb_pvq_desc){ buf_gpa + 1024, 512, 0, 0 };
		tbl[2] = (struct vtb_pvq_desc){ buf_gpa + 2048, 1, 0, VTB_DESC_F_WRITE };
		rd[0] = (struct vtb_pvq_desc){ ind_gpa, 3 * 16, 5, 0 };
		__atomic_store_n(&rd[0].flags, (uint16_t)(VTB_DESC_F_INDIRECT | VTB_PDESC_F_AVAIL), __ATOMIC_RELEASE);
	}
	uint32_t len = 0;
	bool done = false;
	for (long spins = 0; ok && !done && spins < 20000000; spins++) {
		uint16_t fl = __atomic_load_n(&rd[0].flags, __ATOMIC_ACQUIRE);
		done = (fl & VTB_PDESC_F_AVAIL) && (fl & VTB_PDESC_F_USED);	/* used in lap 1 */
		if (done) {
			len = rd[0].len;
			done = rd[0].id == 5;
			break;
		}
		{
			int st;
			if (waitpid(w.child, &st, WNOHANG) == w.child) {	/* died without completing */
				w.child = -1;
				ok = false;
				if (WIFSIGNALED(st))
					fprintf(stderr, "packed+indirect: BE killed by signal %d\n", WTERMSIG(st));
				break;
			}
			sched_yield();
		}
	}
	CHECK(ok && done && len == 1 && (unsigned char)buf[2048] == 0xa5);
	int be = w.child > 0 ? world_end(&w, !done) : (world_end(&w, false), -1);
	CHECK_EQ(be, 0);
	CHECK(!(w.status & VTB_S_NEEDS_RESET));
}

/* A vring policy with no way to reach indirect tables: the device it
 * makes offers the engine's ring features all the same, so a driver can
 * negotiate a pair (INDIRECT_DESC) this device cannot serve. */
struct mini_be {
	char *ram;
	uint64_t size;
};
static int mini_be_setup(struct vtb_vbe *be)
{
	static struct mini_be m;
	m.size = be->env->fe->ram_size;
	m.ram = be->env->plat->ops->map(be->env->plat, be->env->fe, 0, m.size, true, NULL);
	be->priv = &m;
	return m.ram ? 0 : -EFAULT;
}
static void *mini_be_ring(struct vtb_vbe *be, uint64_t addr, size_t bytes)
{
	struct mini_be *m = be->priv;
	return vtb_range_ok(addr, bytes, m->size) ? m->ram + addr : NULL;
}
static int mini_be_get(struct vtb_vbe *be, struct vtb_vbe_map *mp)
{
	mp->va = mini_be_ring(be, mp->addr, mp->len);
	return mp->va ? 0 : -EFAULT;
}
static const struct vtb_vring_policy mini_policy = {
	.be_setup = mini_be_setup, .be_ring = mini_be_ring, .be_get = mini_be_get,
};

static int be_cannot_serve(struct vtb_xenv *env, const struct vtb_transport_ops *t)
{
	(void)t;
	void *x;
	struct vtb_req req;
	int e = vtb_vring_be_open(env, &mini_policy, &x);
	if (e == 0) {	/* it went live: it would walk a table it cannot reach */
		for (long spins = 0; spins < 2000000; spins++)
			if (vtb_vring_be_pop(x, 0, &req))
				break;
		return 11;
	}
	return VTB_READ_ONCE(env->regs->status) & VTB_S_NEEDS_RESET ? 0 : 12;
}

static void cannot_serve(void)
{
	struct world w;
	world_start(&w, NULL, "split", be_cannot_serve);
	struct vtb_vdrv d = { .r = w.regs, .relax = relax };
	uint64_t f = 0, ring_gpa, ind_gpa, buf_gpa;
	void *ring, *ind, *buf;
	static _Alignas(16) unsigned char qmem[1 << 12];
	int tok;
	bool ok = w.env.ram && !vtb_vdrv_reset(&d) &&
		  !vtb_vdrv_negotiate(&d, VTB_BIT(VTB_F_VERSION_1) | VTB_BIT(VTB_F_INDIRECT_DESC), &f) &&
		  (f & VTB_BIT(VTB_F_INDIRECT_DESC)) &&
		  !vtb_fe_alloc(&w.env, vtb_vring_bytes(QN), 4096, &ring_gpa, &ring) &&
		  !vtb_fe_alloc(&w.env, QN * 4 * 16, 4096, &ind_gpa, &ind) &&
		  !vtb_fe_alloc(&w.env, 4096, 4096, &buf_gpa, &buf);
	if (ok) {
		struct vtb_vqd_params p = { .num = QN, .ring = ring, .indirect = ind, .indirect_addr = ind_gpa,
					    .indirect_max = 4 };
		struct vtb_vqd *vq = vtb_vqd_init(qmem, &p);
		ok = vq && !vtb_vdrv_setup_queue(&d, 0, QN, ring_gpa, ring_gpa + vtb_vring_avail_off(QN),
						 ring_gpa + vtb_vring_used_off(QN));
		/* DRIVER_OK is accepted; the queue set-up after it is what fails. */
		vtb_vdrv_driver_ok(&d);
		struct vtb_sg sg[2] = { { buf_gpa, 16 }, { buf_gpa + 64, 16 } };
		ok = ok && !vtb_vqd_add(vq, sg, 1, 1, &tok, true);
		vtb_vqd_kick_prepare(vq);
	}
	int be = world_end(&w, !ok);
	vtb_checks++;
	if (!ok || be != 0 || !(w.status & VTB_S_NEEDS_RESET)) {
		vtb_failed++;
		fprintf(stderr, "unservable pair: driver ok=%d, BE %d (0: NEEDS_RESET, 11: went live, 12: no NEEDS_RESET, >128: signal)\n",
			ok, be);
	}
}

int main(void)
{
	alarm(240);	/* a driver waiting on a dead device fails the test, never hangs it */
	stop_flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	packed_indirect();
	cannot_serve();
	access_platform("shm", "split", false);
	access_platform("shm", "packed", false);
	access_platform("swiotlb", "pool", true);
	access_platform("grant", "map", true);
	access_platform("grant", "copy", true);
	access_platform("grant", "persistent", true);
	access_platform("viommu", "strict", true);
	access_platform("viommu", "lazy", true);
	access_platform("viommu", "passthrough", true);
	needs_access_platform("swiotlb", "pool");
	needs_access_platform("grant", "map");
	needs_access_platform("viommu", "strict");
	return vtb_test_end("test_vring");
}
