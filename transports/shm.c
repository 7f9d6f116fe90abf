/* shm: the baseline.  The BE maps all FE RAM (vhost-user style) and reads
 * rings and buffers in place: zero copies; the only hypervisor work is
 * the doorbells, suppressed with EVENT_IDX where the peer allows. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "transport.h"

#define SHM_MAX_Q VTB_VDEV_MAX_QUEUES

static void relax_yield(void *ctx)
{
	(void)ctx;
	sched_yield();
}

/* ---------------------------------------------------------------- FE */
struct shm_fe {
	struct vtb_xenv *env;
	struct vtb_vdrv drv;
	unsigned nq;
	bool pending[SHM_MAX_Q];	/* added since the last kick decision */
	struct vtb_vqd *vq[SHM_MAX_Q];
};

static int shm_fe_open(struct vtb_xenv *env, uint64_t wanted, void **out)
{
	struct shm_fe *fe = calloc(1, sizeof(*fe));
	int err;
	if (!fe)
		return -ENOMEM;
	fe->env = env;
	fe->drv = (struct vtb_vdrv){ .r = env->regs, .relax = relax_yield };
	err = vtb_vdrv_reset(&fe->drv);
	if (err)
		goto free_fe;
	/* Poll mode runs without EVENT_IDX: the flags then say "never notify",
	 * as a DPDK PMD does. */
	wanted |= VTB_BIT(VTB_F_VERSION_1);
	if (!env->poll)
		wanted |= VTB_BIT(VTB_F_EVENT_IDX);
	if (env->indirect)
		wanted |= VTB_BIT(VTB_F_INDIRECT_DESC);
	err = vtb_vdrv_negotiate(&fe->drv, wanted, &env->features);
	if (err)
		goto free_fe;
	if (env->indirect && !(env->features & VTB_BIT(VTB_F_INDIRECT_DESC))) {
		err = -ENOTSUP;
		goto free_fe;
	}
	fe->nq = env->regs->num_queues;
	if (fe->nq > SHM_MAX_Q) {
		err = -EPROTO;
		goto free_fe;
	}
	for (unsigned q = 0; q < fe->nq; q++) {
		uint64_t ring_gpa, ind_gpa = 0;
		void *ring, *ind = NULL;
		uint16_t n = env->qsize;
		err = vtb_fe_alloc(env, vtb_vring_bytes(n), 4096, &ring_gpa, &ring);
		if (!err && env->indirect)
			err = vtb_fe_alloc(env, (uint64_t)n * VTB_REQ_MAX_SEG * 16, 16, &ind_gpa, &ind);
		if (err)
			goto free_vqs;
		fe->vq[q] = malloc(vtb_vqd_memsize(n));
		if (!fe->vq[q]) {
			err = -ENOMEM;
			goto free_vqs;
		}
		struct vtb_vqd_params p = {
			.num = n, .ring = ring, .event_idx = env->features & VTB_BIT(VTB_F_EVENT_IDX),
			.indirect = ind, .indirect_addr = ind_gpa, .indirect_max = VTB_REQ_MAX_SEG,
		};
		vtb_vqd_init(fe->vq[q], &p);
		if (env->poll)
			vtb_vqd_disable_cb(fe->vq[q]);
		err = vtb_vdrv_setup_queue(&fe->drv, q, n, ring_gpa, ring_gpa + vtb_vring_avail_off(n),
					   ring_gpa + vtb_vring_used_off(n));
		if (err)
			goto free_vqs;
	}
	err = vtb_vdrv_driver_ok(&fe->drv);
	if (err)
		goto free_vqs;
	*out = fe;
	return 0;

free_vqs:
	for (unsigned q = 0; q < fe->nq; q++)
		free(fe->vq[q]);
free_fe:
	free(fe);
	return err;
}

static int shm_fe_add(void *p, unsigned q, const struct vtb_sg *sg, unsigned nout,
		      unsigned nin, void *token)
{
	struct shm_fe *fe = p;
	bool ind = fe->env->indirect && nout + nin > 1;
	int err = vtb_vqd_add(fe->vq[q], sg, nout, nin, token, ind);
	if (!err)
		fe->pending[q] = true;
	return err;
}

static void shm_fe_kick(void *p, unsigned q)
{
	struct shm_fe *fe = p;
	struct vtb_plat *plat = fe->env->plat;
	if (!fe->pending[q])
		return;
	fe->pending[q] = false;
	if (vtb_vqd_kick_prepare(fe->vq[q]))
		plat->ops->notify(plat, fe->env->kick);
	else
		plat->ctr->notifies_suppressed++;
}

static void *shm_fe_get(void *p, unsigned q, uint32_t *len)
{
	struct shm_fe *fe = p;
	return vtb_vqd_get_used(fe->vq[q], len);
}

static unsigned shm_fe_free(void *p, unsigned q)
{
	struct shm_fe *fe = p;
	return vtb_vqd_num_free(fe->vq[q]);
}

static bool shm_fe_enable_cb(void *p)
{
	struct shm_fe *fe = p;
	bool pending = false;
	for (unsigned q = 0; q < fe->nq; q++)
		pending |= vtb_vqd_enable_cb(fe->vq[q]);
	return pending;
}

static void shm_fe_disable_cb(void *p)
{
	struct shm_fe *fe = p;
	for (unsigned q = 0; q < fe->nq; q++)
		vtb_vqd_disable_cb(fe->vq[q]);
}

static int shm_fe_wait(void *p)
{
	struct shm_fe *fe = p;
	return fe->env->plat->ops->wait(fe->env->plat, fe->env->call);
}

static bool shm_fe_broken(void *p)
{
	struct shm_fe *fe = p;
	for (unsigned q = 0; q < fe->nq; q++)
		if (vtb_vqd_broken(fe->vq[q]))
			return true;
	return VTB_READ_ONCE(fe->env->regs->status) & VTB_S_NEEDS_RESET;
}

static void shm_fe_close(void *p)
{
	struct shm_fe *fe = p;
	for (unsigned q = 0; q < fe->nq; q++)
		free(fe->vq[q]);
	free(fe);
}

/* ---------------------------------------------------------------- BE */
struct shm_be {
	struct vtb_xenv *env;
	char *fe_ram;			/* all of FE RAM, mapped once */
	uint64_t fe_size;
	struct vtb_vdev_state st;
	unsigned nq;
	bool dirty[SHM_MAX_Q];		/* pushed since the last flush */
	struct vtb_vqdev *vq[SHM_MAX_Q];
	struct vtb_seg seg[VTB_REQ_MAX_SEG];
};

static const void *shm_xlate(void *ctx, uint64_t addr, uint32_t len)
{
	struct shm_be *be = ctx;
	return vtb_range_ok(addr, len, be->fe_size) ? be->fe_ram + addr : NULL;
}

/* Device-side bad input: sticky NEEDS_RESET, as §2.1.2 allows. */
static int shm_be_fail(struct shm_be *be, int err)
{
	be->st.broken = true;
	VTB_WRITE_ONCE(be->env->regs->status, VTB_READ_ONCE(be->env->regs->status) | VTB_S_NEEDS_RESET);
	return err;
}

static int shm_be_open(struct vtb_xenv *env, void **out)
{
	struct shm_be *be = calloc(1, sizeof(*be));
	int err;
	if (!be)
		return -ENOMEM;
	be->env = env;
	uint64_t feat = env->device_features | VTB_BIT(VTB_F_EVENT_IDX) | VTB_BIT(VTB_F_INDIRECT_DESC);
	err = vtb_vdev_publish(env->regs, env->device_id, feat, env->nqueues, VTB_VQ_MAX_SIZE,
			       env->config, env->config_len);
	if (err)
		goto free_be;
	be->fe_size = env->fe->ram_size;
	be->fe_ram = env->plat->ops->map(env->plat, env->fe, 0, be->fe_size, true);
	if (!be->fe_ram) {
		err = -errno;
		goto free_be;
	}
	while (!be->st.live && !be->st.broken)
		if (!vtb_vdev_service(env->regs, &be->st))
			sched_yield();
	if (be->st.broken) {
		err = -EPROTO;
		goto unmap;
	}
	env->features = be->st.features;
	be->nq = env->nqueues;
	for (unsigned q = 0; q < be->nq; q++) {
		uint16_t n = be->st.q[q].num;
		if (!n || !vtb_range_ok(be->st.q[q].desc, vtb_vring_bytes(n), be->fe_size)) {
			err = shm_be_fail(be, -EFAULT);
			goto free_vqs;
		}
		be->vq[q] = malloc(vtb_vqdev_memsize(n));
		if (!be->vq[q]) {
			err = -ENOMEM;
			goto free_vqs;
		}
		struct vtb_vqdev_params p = {
			.num = n, .ring = be->fe_ram + be->st.q[q].desc,
			.event_idx = be->st.features & VTB_BIT(VTB_F_EVENT_IDX),
			.indirect = be->st.features & VTB_BIT(VTB_F_INDIRECT_DESC),
			.xlate = shm_xlate, .xlate_ctx = be,
		};
		vtb_vqdev_init(be->vq[q], &p);
		if (env->poll)
			vtb_vqdev_disable_notify(be->vq[q]);
	}
	*out = be;
	return 0;

free_vqs:
	for (unsigned q = 0; q < be->nq; q++)
		free(be->vq[q]);
unmap:
	env->plat->ops->unmap(env->plat, be->fe_ram, be->fe_size);
free_be:
	free(be);
	return err;
}

static int shm_be_pop(void *p, unsigned q, struct vtb_req *req)
{
	struct shm_be *be = p;
	struct vtb_chain c = { .seg = be->seg, .max_seg = VTB_REQ_MAX_SEG };
	if (be->st.broken)
		return -EIO;
	int r = vtb_vqdev_pop(be->vq[q], &c);
	if (r <= 0)
		return r < 0 ? shm_be_fail(be, r) : 0;
	for (unsigned i = 0; i < c.nseg; i++) {
		if (!vtb_range_ok(c.seg[i].addr, c.seg[i].len, be->fe_size))
			return shm_be_fail(be, -EFAULT);
		req->iov[i].base = be->fe_ram + c.seg[i].addr;
		req->iov[i].len = c.seg[i].len;
	}
	req->nout = c.nout;
	req->nin = (uint16_t)(c.nseg - c.nout);
	req->out_bytes = c.out_bytes;
	req->in_bytes = c.in_bytes;
	req->q = (uint16_t)q;
	req->head = c.head;
	return 1;
}

static int shm_be_push(void *p, struct vtb_req *req, uint32_t written)
{
	struct shm_be *be = p;
	be->dirty[req->q] = true;
	return vtb_vqdev_push(be->vq[req->q], req->head, written);
}

static void shm_be_flush(void *p)
{
	struct shm_be *be = p;
	struct vtb_plat *plat = be->env->plat;
	bool need = false, any = false;
	for (unsigned q = 0; q < be->nq; q++) {
		if (!be->dirty[q])
			continue;
		be->dirty[q] = false;
		any = true;
		need |= vtb_vqdev_need_notify(be->vq[q]);
	}
	if (need)
		plat->ops->notify(plat, be->env->call);
	else if (any)
		plat->ctr->notifies_suppressed++;
}

static bool shm_be_enable_notify(void *p, uint32_t qmask)
{
	struct shm_be *be = p;
	bool pending = false;
	for (unsigned q = 0; q < be->nq; q++)
		if (qmask & (1u << q))
			pending |= vtb_vqdev_enable_notify(be->vq[q]);
	return pending;
}

static void shm_be_disable_notify(void *p)
{
	struct shm_be *be = p;
	for (unsigned q = 0; q < be->nq; q++)
		vtb_vqdev_disable_notify(be->vq[q]);
}

static int shm_be_wait(void *p)
{
	struct shm_be *be = p;
	return be->env->plat->ops->wait(be->env->plat, be->env->kick);
}

static bool shm_be_broken(void *p)
{
	struct shm_be *be = p;
	return be->st.broken;
}

static void shm_be_close(void *p)
{
	struct shm_be *be = p;
	for (unsigned q = 0; q < be->nq; q++)
		free(be->vq[q]);
	be->env->plat->ops->unmap(be->env->plat, be->fe_ram, be->fe_size);
	free(be);
}

static const char *const shm_variants[] = { "split", NULL };
static const char *const shm_variant_desc[] = {
	"split virtqueue (virtio 1.2 §2.7) in FE RAM, BE maps all FE RAM",
	NULL,
};

const struct vtb_transport_ops vtb_transport_shm = {
	.name = "shm",
	.desc = "shared-memory baseline: BE maps all FE memory (vhost-user style), zero copies",
	.variants = shm_variants,
	.variant_desc = shm_variant_desc,
	.fe_open = shm_fe_open,
	.fe_add = shm_fe_add,
	.fe_kick = shm_fe_kick,
	.fe_get = shm_fe_get,
	.fe_free = shm_fe_free,
	.fe_enable_cb = shm_fe_enable_cb,
	.fe_disable_cb = shm_fe_disable_cb,
	.fe_wait = shm_fe_wait,
	.fe_broken = shm_fe_broken,
	.fe_close = shm_fe_close,
	.be_open = shm_be_open,
	.be_pop = shm_be_pop,
	.be_push = shm_be_push,
	.be_flush = shm_be_flush,
	.be_enable_notify = shm_be_enable_notify,
	.be_disable_notify = shm_be_disable_notify,
	.be_wait = shm_be_wait,
	.be_broken = shm_be_broken,
	.be_close = shm_be_close,
};
