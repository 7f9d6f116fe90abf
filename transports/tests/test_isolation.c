/* Isolation: for each transport, a frontend plants buffer addresses outside
 * what it shared.  The backend must refuse each (device marked NEEDS_RESET,
 * its process alive), and must never hold a mapping of FE memory beyond
 * what its transport allows (read from the BE's own /proc/self/maps). */
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
#include "../core/vtb_argo.h"
#include "../core/vtb_fatvq.h"
#include "../core/vtb_grant.h"
#include "../vring.h"

#define RAM (16u << 20)

struct plant {
	const char *what;
	uint64_t addr;		/* the device address to plant */
	bool write;		/* as a device-writable buffer */
	int grant_ro;		/* grant: first grant this page read-only (1), to another domid (2), grant then revoke it (3),
				 * or grant it sub-page (4: copy only, never mapped) */
	struct vtb_fatvq_ent ent;	/* fatvq: a hostile entry header */
	uint32_t prod;		/* fatvq: the producer index to publish */
	/* argo: what a hostile hypervisor path (or a FE that could reach it)
	 * leaves in the BE's ring: a tx_ptr, and a message at rx 0. */
	uint32_t argo_tx;
	struct vtb_argo_msg_hdr argo_hdr;
	uint32_t argo_req[4];	/* the request header after it: q|nout, id, in_len, out_len */
};

/* Sum of the sizes of this process's mappings of the FE RAM memfd. */
static unsigned long fe_mapped_bytes(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long total = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		if (strstr(line, "vtb-fe-ram") && sscanf(line, "%lx-%lx", &a, &b) == 2)
			total += b - a;
	}
	if (f)
		fclose(f);
	return total;
}

/* The hypervisor page of the pair under test (vtb_plat.hv), both domains. */
static void *iso_hv;

static int be_child(struct vtb_xenv *env, const struct vtb_transport_ops *t, unsigned long allowed)
{
	struct vtb_plat_counters ctr = { 0 };
	struct vtb_plat plat = { &vtb_platform_proc, &ctr, iso_hv };
	void *x;
	struct vtb_req req;
	env->plat = &plat;
	env->device_id = 2;
	env->nqueues = 1;
	if (vtb_proc_dom_ram_fd(env->be) >= 0 && !(env->be_ram = vtb_proc_dom_map_own(env->be)))
		return 10;
	if (t->be_open(env, &x))
		return 10;
	for (int spins = 0; spins < 20000000; spins++) {
		int r = t->be_pop(x, 0, &req);
		if (r == 1 && !strcmp(t->name, "argo")) {
			/* Argo has no addresses to plant: the request must arrive by
			 * the hypervisor's copy alone, with nothing of the FE mapped. */
			unsigned long mapped = fe_mapped_bytes();
			if (req.nout != 1 || req.out_bytes != 64 || ((unsigned char *)req.iov[0].base)[63] != 0x5a)
				return 14;
			if (mapped) {
				fprintf(stderr, "argo BE maps %lu bytes of FE RAM\n", mapped);
				return 13;
			}
			return 0;
		}
		if (r == 1) {
			/* Only a hypervisor copy may defer its check to the copy
			 * itself: then the completion must fail and carry nothing. */
			if (strcmp(t->name, "grant") || strcmp(env->variant, "copy"))
				return 11;
			for (unsigned i = 0; i < (unsigned)req.nout + req.nin; i++)
				memset(req.iov[i].base, 0xee, req.iov[i].len);
			if (t->be_push(x, &req, req.in_bytes) == 0)
				return 11;
			break;
		}
		if (r < 0)
			break;
		sched_yield();
	}
	if (!t->be_broken(x) || !(env->regs->status & VTB_S_NEEDS_RESET))
		return 12;
	unsigned long mapped = fe_mapped_bytes();
	if (mapped > allowed) {
		fprintf(stderr, "BE maps %lu bytes of FE RAM, allowed %lu\n", mapped, allowed);
		return 13;
	}
	return 0;
}

static void one(const char *tname, const char *variant, const struct plant *pl, unsigned long allowed)
{
	const struct vtb_transport_ops *t = vtb_transport_find(tname);
	struct vtb_dom fe = { 0 }, be = { .id = 1 };
	struct vtb_doorbell kick, call;
	struct vtb_vdev_regs *regs = mmap(NULL, sizeof(*regs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	volatile pid_t *pids = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	vtb_proc_dom_create(&fe, 0, RAM);
	vtb_proc_doorbell_create(&kick);
	vtb_proc_doorbell_create(&call);
	void *hv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct vtb_xenv env = { .fe = &fe, .be = &be, .kick = &kick, .call = &call, .regs = regs,
				.variant = variant, .poll = true, .qsize = 16, .nqueues = 1 };
	iso_hv = hv;
	if (t->be_ram_bytes)
		vtb_proc_dom_create(&be, 1, (t->be_ram_bytes(&env) + 4095) & ~4095ull);
	if (t->region_bytes) {
		env.shared_size = (t->region_bytes(&env) + 4095) & ~4095ull;
		env.shared_gpa = RAM - env.shared_size;
	}
	if (allowed == 0)
		allowed = env.shared_size;
	pid_t bp = fork();
	if (bp == 0) {
		while (!pids[1])
			sched_yield();
		vtb_proc_dom_set_pid(&fe, pids[1]);
		vtb_proc_dom_set_pid(&be, getpid());
		_exit(be_child(&env, t, allowed));
	}
	vtb_proc_dom_set_pid(&be, bp);
	pids[0] = bp;
	pids[1] = getpid();
	vtb_proc_dom_set_pid(&fe, getpid());

	struct vtb_plat_counters ctr = { 0 };
	struct vtb_plat plat = { &vtb_platform_proc, &ctr, iso_hv };
	env.plat = &plat;
	env.ram = vtb_proc_dom_map_own(&fe);
	void *x = NULL;
	int ok = env.ram && !t->fe_open(&env, 0, &x);
	if (ok) {
		struct vtb_vfe *v = x;
		if (pl->grant_ro) {
			/* A real grant of page 0x100, but read-only or for another domain. */
			struct vtb_grant_entry_v1 *tbl = (void *)(env.ram + env.shared_gpa);
			tbl[100] = (struct vtb_grant_entry_v1){ .domid = (uint16_t)(pl->grant_ro == 2 ? 5 : 0), .frame = 0x100 };
			__atomic_store_n(&tbl[100].flags, (uint16_t)(VTB_GTF_permit_access |
					 (pl->grant_ro == 1 ? VTB_GTF_readonly : 0) |
					 (pl->grant_ro == 4 ? VTB_GTF_sub_page : 0)), __ATOMIC_RELEASE);
			if (pl->grant_ro == 3)	/* gnttab_end_foreign_access: the entry stays, access goes */
				__atomic_store_n(&tbl[100].flags, (uint16_t)0, __ATOMIC_RELEASE);
		}
		if (!strcmp(tname, "argo") && pl->argo_tx) {
			/* The BE zeroed its ring header before it accepted DRIVER_OK. */
			struct vtb_argo_ring *ring = mmap(NULL, 1u << 16, PROT_READ | PROT_WRITE, MAP_SHARED, vtb_proc_dom_ram_fd(&be), 0);
			ok = ring != MAP_FAILED;
			if (ok) {
				memcpy(ring->ring, &pl->argo_hdr, sizeof(pl->argo_hdr));
				memcpy(ring->ring + sizeof(pl->argo_hdr), pl->argo_req, sizeof(pl->argo_req));
				__atomic_store_n(&ring->tx_ptr, pl->argo_tx, __ATOMIC_RELEASE);
				munmap(ring, 1u << 16);
			}
		} else if (!strcmp(tname, "argo")) {
			/* A normal request: the check is on how it reaches the BE. */
			uint64_t gpa;
			void *va;
			static int token;
			vtb_fe_alloc(&env, 64, 64, &gpa, &va);
			memset(va, 0x5a, 64);
			struct vtb_sg sg = { gpa, 64 };
			ok = !t->fe_add(x, 0, &sg, 1, 0, &token);
			t->fe_kick(x, 0);	/* batch sends what gathered at the kick */
		} else if (!strcmp(tname, "fatvq")) {
			/* No addresses to forge: forge the entry and the index instead. */
			struct vtb_fatvq_ring *req = (void *)(env.ram + env.shared_gpa);
			memcpy(req->data, &pl->ent, sizeof(pl->ent));
			__atomic_store_n(&req->prod, pl->prod, __ATOMIC_RELEASE);
		} else {
			/* Bypass the policy: the descriptor says what a hostile FE wants. */
			struct vtb_sg sg = { pl->addr, 64 };
			static int token;
			ok = !vtb_vqd_add(v->vq[0], &sg, pl->write ? 0 : 1, pl->write ? 1 : 0, &token, false);
			(void)vtb_vqd_kick_prepare(v->vq[0]);	/* publishes the index */
		}
	}
	int st = 0;
	if (!ok)
		kill(bp, SIGKILL);
	waitpid(bp, &st, 0);
	/* Whatever the BE did, nothing of it reached the planted page. */
	if (ok && pl->grant_ro)
		for (unsigned i = 0; i < 4096; i++)
			if ((unsigned char)env.ram[0x100000 + i] == 0xee) {
				ok = 0;
				fprintf(stderr, "%s/%s: the BE wrote into a page it was not allowed to\n", tname, variant);
				break;
			}
	vtb_checks++;
	if (!ok || !WIFEXITED(st) || WEXITSTATUS(st)) {
		vtb_failed++;
		fprintf(stderr, "%s/%s: planted %s at %#llx: BE %s %d (10 open, 11 served it, 12 not broken, 13 maps too much)\n",
			tname, variant, pl->what, (unsigned long long)pl->addr,
			WIFEXITED(st) ? "exited" : "killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
	if (x)
		t->fe_close(x);
	munmap(env.ram, RAM);
	vtb_proc_doorbell_destroy(&kick);
	vtb_proc_doorbell_destroy(&call);
	vtb_proc_dom_destroy(&fe);
	munmap(regs, sizeof(*regs));
	munmap((void *)pids, 4096);
	munmap(hv, 4096);
	vtb_proc_dom_destroy(&be);
}

int main(void)
{
	/* shm: the BE may map all of FE RAM, and nothing beyond it. */
	one("shm", "split", &(struct plant){ .what = "an address past FE RAM", .addr = RAM + 4096, .write = false, .grant_ro = 0 }, RAM);
	one("shm", "split", &(struct plant){ .what = "a buffer straddling the end of FE RAM", .addr = RAM - 32, .write = true, .grant_ro = 0 }, RAM);
	/* swiotlb: only the pre-shared region. */
	one("swiotlb", "pool", &(struct plant){ .what = "FE RAM outside the pool", .addr = 0x100000, .write = false, .grant_ro = 0 }, 0);
	one("swiotlb", "pool", &(struct plant){ .what = "a buffer ending past the pool", .addr = RAM - 32, .write = true, .grant_ro = 0 }, 0);
	/* grant: only granted pages, with the granted rights. */
	static const char *const gv[] = { "map", "copy", "persistent" };
	for (int i = 0; i < 3; i++) {
		/* Allowed: the grant table itself plus ring pages (map, persistent) */
		unsigned long allowed = (16384 * 8) + 16 * 4096;
		one("grant", gv[i], &(struct plant){ .what = "a raw guest address", .addr = 0x100000, .write = false, .grant_ro = 0 }, allowed);
		one("grant", gv[i], &(struct plant){ .what = "a reference never granted", .addr = vtb_grant_to_dma(9000), .write = false, .grant_ro = 0 }, allowed);
		one("grant", gv[i], &(struct plant){ .what = "a reference past the table", .addr = vtb_grant_to_dma(1u << 20), .write = false, .grant_ro = 0 }, allowed);
		one("grant", gv[i], &(struct plant){ .what = "a read-only grant as writable", .addr = vtb_grant_to_dma(100), .write = true, .grant_ro = 1 }, allowed);
		one("grant", gv[i], &(struct plant){ .what = "a grant to another domain", .addr = vtb_grant_to_dma(100), .write = false, .grant_ro = 2 }, allowed);
	}
	/* viommu: only IOVAs the FE mapped (its request queue and rings). */
	unsigned long vio_allowed = 8192 + 64 * 64 + 4096 * 2;
	one("viommu", "strict", &(struct plant){ .what = "an IOVA never mapped", .addr = 0x5000000, .write = false, .grant_ro = 0 }, vio_allowed);
	one("viommu", "lazy", &(struct plant){ .what = "IOVA 0", .addr = 0, .write = true, .grant_ro = 0 }, vio_allowed);
	one("viommu", "strict", &(struct plant){ .what = "an IOVA past the IOVA space", .addr = 1ull << 40, .write = false, .grant_ro = 0 }, vio_allowed);
	one("viommu", "passthrough", &(struct plant){ .what = "an address past FE RAM", .addr = RAM + 4096, .write = false, .grant_ro = 0 }, RAM + vio_allowed);
	/* argo: the BE holds no mapping of FE memory at all. */
	one("argo", "sync", &(struct plant){ .what = "a request (reached by copy only)" }, 0);
	one("argo", "batch", &(struct plant){ .what = "a request (reached by copy only)" }, 0);
	/* argo: the ring's pointers and messages are trusted no more. */
	struct vtb_argo_msg_hdr good = { .len = 16 + 16, .message_type = 1 };
	one("argo", "sync", &(struct plant){ .what = "a tx_ptr past the ring", .argo_tx = (1u << 20) + 16, .argo_hdr = good }, 0);
	one("argo", "sync", &(struct plant){ .what = "a tx_ptr off the 16-byte slots", .argo_tx = 40, .argo_hdr = good }, 0);
	one("argo", "sync", &(struct plant){ .what = "a message longer than what was written",
		.argo_tx = 32, .argo_hdr = { .len = 4096, .message_type = 1 } }, 0);
	one("argo", "sync", &(struct plant){ .what = "a message shorter than its header",
		.argo_tx = 16, .argo_hdr = { .len = 8, .message_type = 1 } }, 0);
	one("argo", "batch", &(struct plant){ .what = "a request claiming more out-data than its message",
		.argo_tx = 32, .argo_hdr = good, .argo_req = { 1u << 16, 7, 0, 1u << 20 } }, 0);
	one("argo", "batch", &(struct plant){ .what = "a request for a queue that does not exist",
		.argo_tx = 32, .argo_hdr = good, .argo_req = { 5, 7, 64, 0 } }, 0);
	one("argo", "sync", &(struct plant){ .what = "a request wanting more in-data than a message can carry back",
		.argo_tx = 32, .argo_hdr = good, .argo_req = { 1u << 16, 7, 1u << 20, 0 } }, 0);
	one("argo", "sync", &(struct plant){ .what = "a message of another type",
		.argo_tx = 32, .argo_hdr = { .len = 32, .message_type = 9 } }, 0);
	/* grant: a reference once granted, then revoked (permit_access cleared). */
	for (int i = 0; i < 3; i++)
		one("grant", gv[i], &(struct plant){ .what = "a revoked grant", .addr = vtb_grant_to_dma(100), .write = false, .grant_ro = 3 },
		    (16384 * 8) + 16 * 4096);
	/* grant: a sub-page grant is for copies; a map of it is refused (Xen's
	 * _set_status_v1 with mapflag), so map and persistent must break. */
	for (int i = 0; i < 3; i += 2)
		one("grant", gv[i], &(struct plant){ .what = "a sub-page grant, to map", .addr = vtb_grant_to_dma(100), .write = false, .grant_ro = 4 },
		    (16384 * 8) + 16 * 4096);
	/* fatvq: the device trusts no header and no index. */
	unsigned long fq_allowed = (2 * (128 + (512u << 10)) + 4095) & ~4095ul;	/* the region, page-rounded */
	one("fatvq", "inline", &(struct plant){ .what = "a request longer than the ring",
		.ent = { VTB_FATVQ_REQ, 0, 0xfffffff0u, 1, 0 }, .prod = 64 }, fq_allowed);
	one("fatvq", "inline", &(struct plant){ .what = "a request asking for more than half the ring back",
		.ent = { VTB_FATVQ_REQ, 0, 16, 1, 0x7ffffff0u }, .prod = 32 }, fq_allowed);
	one("fatvq", "inline", &(struct plant){ .what = "a completion in the request ring",
		.ent = { VTB_FATVQ_CMP, 0, 0, 1, 0 }, .prod = 16 }, fq_allowed);
	one("fatvq", "inline", &(struct plant){ .what = "a pad of the wrong length",
		.ent = { VTB_FATVQ_PAD, 0, 100, 0, 0 }, .prod = 16 }, fq_allowed);
	one("fatvq", "inline", &(struct plant){ .what = "a producer index past the ring",
		.ent = { VTB_FATVQ_REQ, 0, 16, 1, 0 }, .prod = 3u << 20 }, fq_allowed);
	one("fatvq", "inline", &(struct plant){ .what = "an entry claiming bytes not yet produced",
		.ent = { VTB_FATVQ_REQ, 0, 4096, 1, 0 }, .prod = 64 }, fq_allowed);
	return vtb_test_end("test_isolation");
}
