/* proc platform: domains are processes, guest RAM is a memfd, the Linux
 * kernel plays the hypervisor.  Each primitive is the system call that does
 * the same work a hypervisor would, in the caller's context. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hv.h"
#include "proc.h"

#define PAGE 4096ull

static int proc_dom_create(struct vtb_dom *d, int id, uint64_t ram_size)
{
	struct vtb_proc_dom *pd = calloc(1, sizeof(*pd));
	int e;
	if (!pd)
		return -ENOMEM;
	*d = (struct vtb_dom){ .id = id, .ram_size = ram_size, .priv = pd };
	pd->ram_fd = -1;
	if (!ram_size)
		return 0;
	pd->ram_fd = memfd_create(id == 0 ? "vtb-fe-ram" : "vtb-be-ram", MFD_CLOEXEC);
	if (pd->ram_fd < 0)
		goto free_priv;
	if (ftruncate(pd->ram_fd, (off_t)ram_size) < 0)
		goto close_fd;
	return 0;

close_fd:
	e = -errno;
	close(pd->ram_fd);
	errno = -e;
free_priv:
	e = -errno;
	free(pd);
	d->priv = NULL;
	return e;
}

static void proc_dom_destroy(struct vtb_dom *d)
{
	struct vtb_proc_dom *pd = d->priv;
	if (!pd)
		return;
	if (pd->ram_fd >= 0)
		close(pd->ram_fd);
	free(pd);
	d->priv = NULL;
}

static void *proc_map_own(struct vtb_plat *p, const struct vtb_dom *d)
{
	(void)p;
	const struct vtb_proc_dom *pd = vtb_proc_dom(d);
	if (!pd || pd->ram_fd < 0) {
		errno = ENOENT;
		return NULL;
	}
	/* Populated now: guest RAM exists before the guest runs, and first-touch
	 * faults must not land in a measurement. */
	void *va = mmap((void *)(uintptr_t)VTB_PROC_RAM_BASE, d->ram_size, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_FIXED_NOREPLACE | MAP_POPULATE, pd->ram_fd, 0);
	return va == MAP_FAILED ? NULL : va;
}

/* A domain is a process: reaching it is knowing its pid. */
static int proc_attach(struct vtb_plat *p, struct vtb_dom *peer, uint64_t handle)
{
	(void)p;
	struct vtb_proc_dom *pd = vtb_proc_dom(peer);
	if (!pd || !handle || handle > (uint64_t)INT32_MAX)
		return -EINVAL;
	pd->pid = (pid_t)handle;
	return 0;
}

static int proc_doorbell_create(struct vtb_doorbell *db)
{
	db->priv = NULL;
	db->fd = eventfd(0, EFD_CLOEXEC);
	return db->fd < 0 ? -errno : 0;
}

static void proc_doorbell_destroy(struct vtb_doorbell *db)
{
	if (db->fd >= 0)
		close(db->fd);
	db->fd = -1;
}

/* An eventfd created before the fork is already the domain's. */
static int proc_doorbell_bind(struct vtb_plat *p, struct vtb_doorbell *db)
{
	(void)p;
	return db->fd >= 0 ? 0 : -EBADF;
}

/* Inherited over fork by both domains. */
static void *proc_shared_create(uint64_t bytes)
{
	void *va = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return va == MAP_FAILED ? NULL : va;
}

static void proc_shared_destroy(void *va, uint64_t bytes)
{
	if (va)
		munmap(va, bytes);
}

static int proc_copy(struct vtb_plat *p, const struct vtb_dom *peer, const struct vtb_copy_op *ops,
		     unsigned n, bool to_peer)
{
	struct iovec l[VTB_COPY_MAX_OPS], r[VTB_COPY_MAX_OPS];
	size_t total = 0;
	const struct vtb_proc_dom *pd = vtb_proc_dom(peer);
	if (!pd || !pd->pid || n == 0 || n > VTB_COPY_MAX_OPS)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (ops[i].gpa > peer->ram_size || ops[i].len > peer->ram_size - ops[i].gpa)
			return -EFAULT;
		/* Every domain maps its RAM at VTB_PROC_RAM_BASE in its own
		 * process, so the "hypervisor" knows gpa -> host va as a p2m would. */
		l[i] = (struct iovec){ ops[i].local, ops[i].len };
		r[i] = (struct iovec){ (void *)(uintptr_t)(VTB_PROC_RAM_BASE + ops[i].gpa), ops[i].len };
		total += ops[i].len;
	}
	p->ctr->copies++;
	p->ctr->copy_segs += n;
	p->ctr->exits++;
	ssize_t got = to_peer ? process_vm_writev(pd->pid, l, n, r, n, 0)
			      : process_vm_readv(pd->pid, l, n, r, n, 0);
	if (got < 0)
		return -errno;
	p->ctr->copy_bytes += (uint64_t)got;
	return (size_t)got == total ? 0 : -EFAULT;
}

static void *proc_map(struct vtb_plat *p, const struct vtb_dom *owner, uint64_t gpa,
		      size_t len, bool write, void *at)
{
	const struct vtb_proc_dom *pd = vtb_proc_dom(owner);
	if (!pd || pd->ram_fd < 0 || gpa % PAGE || len == 0 ||
	    gpa > owner->ram_size || len > owner->ram_size - gpa) {
		errno = EFAULT;
		return NULL;
	}
	size_t span = (len + PAGE - 1) & ~(PAGE - 1);
	p->ctr->maps++;
	p->ctr->exits++;
	/* A hypervisor map installs the translation at once: populate, so the
	 * cost lands in this call and not in a later fault. */
	void *va = mmap(at, span, PROT_READ | (write ? PROT_WRITE : 0),
			MAP_SHARED | MAP_POPULATE | (at ? MAP_FIXED : 0), pd->ram_fd, (off_t)gpa);
	if (va == MAP_FAILED)
		return NULL;
	p->ctr->map_bytes += span;
	return va;
}

static int proc_unmap(struct vtb_plat *p, void *va, size_t len, bool keep_va)
{
	size_t span = (len + PAGE - 1) & ~(PAGE - 1);
	p->ctr->unmaps++;
	p->ctr->exits++;
	/* Zapping a populated shared mapping flushes the TLB of every CPU that
	 * ran this mm: the shootdown a grant unmap costs.  Keeping the range
	 * reserved (PROT_NONE over it) zaps the same way, and nothing else in
	 * the process can land in the hole. */
	p->ctr->flushes++;
	if (keep_va) {
		p->ctr->unmaps_keep_va++;
		return mmap(va, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) ==
			       MAP_FAILED ? -errno : 0;
	}
	return munmap(va, span) < 0 ? -errno : 0;
}

static int proc_notify(struct vtb_plat *p, struct vtb_doorbell *db)
{
	uint64_t one = 1;
	p->ctr->notifies++;
	p->ctr->exits++;
	return write(db->fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static int proc_wait(struct vtb_plat *p, struct vtb_doorbell *db)
{
	uint64_t v;
	p->ctr->waits++;
	p->ctr->exits++;
	for (;;) {
		ssize_t n = read(db->fd, &v, sizeof(v));
		if (n == sizeof(v))
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

const struct vtb_platform_ops vtb_platform_proc = {
	.name = "proc",
	.desc = "domains are Linux processes, guest RAM a memfd; process_vm_readv/writev, mmap/munmap, eventfd",
	.dom_create = proc_dom_create,
	.dom_destroy = proc_dom_destroy,
	.doorbell_create = proc_doorbell_create,
	.doorbell_destroy = proc_doorbell_destroy,
	.shared_create = proc_shared_create,
	.shared_destroy = proc_shared_destroy,
	.attach = proc_attach,
	.map_own = proc_map_own,
	.doorbell_bind = proc_doorbell_bind,
	.copy = proc_copy,
	.map = proc_map,
	.unmap = proc_unmap,
	.notify = proc_notify,
	.wait = proc_wait,
	.grant = &vtb_proc_grant_service,	/* hv_grant.c */
	.argo = &vtb_proc_argo_service,		/* hv_argo.c */
};
