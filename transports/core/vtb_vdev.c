#include "vtb_vdev.h"
#include "vtb_virtq.h"

int vtb_vdev_publish(struct vtb_vdev_regs *r, uint32_t device_id, uint64_t features,
		     uint32_t nqueues, uint32_t num_max, const void *config, uint32_t config_len)
{
	if (nqueues == 0 || nqueues > VTB_VDEV_MAX_QUEUES || config_len > VTB_VDEV_CONFIG_MAX ||
	    !vtb_vq_num_ok(num_max))
		return -VTB_EINVAL;
	vtb_memset(r, 0, sizeof(*r));
	r->version = VTB_VDEV_VERSION;
	r->device_id = device_id;
	r->vendor_id = 0x42544bu;	/* "VTB" */
	r->num_queues = nqueues;
	r->device_features = features | VTB_BIT(VTB_F_VERSION_1);
	for (uint32_t i = 0; i < nqueues; i++)
		r->queue[i].num_max = num_max;
	if (config_len)
		vtb_memcpy(r->config, config, config_len);
	r->config_len = config_len;
	VTB_STORE_RELEASE(r->magic, VTB_VDEV_MAGIC);
	return 0;
}

void vtb_vdev_config_update(struct vtb_vdev_regs *r, const void *config, uint32_t off, uint32_t len)
{
	if (!vtb_range_ok(off, len, VTB_VDEV_CONFIG_MAX))
		return;
	/* Odd generation while the write is in flight, as seqlock readers
	 * expect.  A release orders only what precedes it: the odd value must
	 * also be visible before the new bytes (write_seqcount_begin's
	 * smp_wmb), or a weakly ordered reader (aarch64) could see new bytes
	 * under the old, even generation. */
	VTB_WRITE_ONCE(r->config_generation, r->config_generation + 1);
	vtb_wmb();
	vtb_memcpy(r->config + off, config, len);
	VTB_STORE_RELEASE(r->config_generation, r->config_generation + 1);
}

static void vdev_reset(struct vtb_vdev_regs *r, struct vtb_vdev_state *st)
{
	vtb_memset(st, 0, sizeof(*st));
	r->driver_features = 0;
	for (uint32_t i = 0; i < VTB_VDEV_MAX_QUEUES; i++) {
		r->queue[i].num = 0;
		r->queue[i].ready = 0;
	}
}

static bool vdev_queues_ok(const struct vtb_vdev_regs *r, struct vtb_vdev_state *st)
{
	for (uint32_t i = 0; i < r->num_queues; i++) {
		uint32_t ready = VTB_READ_ONCE(r->queue[i].ready);
		uint32_t num = VTB_READ_ONCE(r->queue[i].num);
		if (!ready) {
			st->q[i].num = 0;
			continue;
		}
		if (!vtb_vq_num_ok(num) || num > r->queue[i].num_max)
			return false;
		uint64_t desc = VTB_READ_ONCE(r->queue[i].desc);
		uint64_t drv = VTB_READ_ONCE(r->queue[i].driver);
		uint64_t dev = VTB_READ_ONCE(r->queue[i].device);
		/* The transports map a queue's ring as one range (vtb_vring_policy's
		 * be_ring), so this device wants the one-allocation layout of
		 * vtb_ring_bytes(); the device core itself takes the three areas
		 * wherever they are. */
		bool packed = st->features & VTB_BIT(VTB_F_RING_PACKED);
		uint64_t want_drv = desc + vtb_ring_driver_off((uint16_t)num, packed);
		uint64_t want_dev = desc + vtb_ring_device_off((uint16_t)num, packed);
		if (desc % VTB_RING_DESC_ALIGN || drv != want_drv || dev != want_dev || desc > UINT64_MAX - (1u << 20))
			return false;
		st->q[i].num = (uint16_t)num;
		st->q[i].desc = desc;
		st->q[i].driver = drv;
		st->q[i].device = dev;
	}
	return true;
}

int vtb_vdev_service(struct vtb_vdev_regs *r, struct vtb_vdev_state *st)
{
	uint32_t req = VTB_LOAD_ACQUIRE(r->req);
	if (req == r->ack)
		return 0;
	uint32_t status = VTB_READ_ONCE(r->status);
	if (status == 0) {
		vdev_reset(r, st);
	} else if (st->broken) {
		status |= VTB_S_NEEDS_RESET;
	} else {
		uint32_t newly = status & ~st->status;
		if (newly & VTB_S_FEATURES_OK) {
			uint64_t f = VTB_READ_ONCE(r->driver_features);
			/* §3.1.1: only offered features; VERSION_1 is mandatory here. */
			if ((f & ~r->device_features) || !(f & VTB_BIT(VTB_F_VERSION_1)))
				status &= ~VTB_S_FEATURES_OK;
			else
				st->features = f;
		}
		if (newly & VTB_S_DRIVER_OK) {
			if (!(status & VTB_S_FEATURES_OK) || !vdev_queues_ok(r, st)) {
				st->broken = true;
				status = (status & ~VTB_S_DRIVER_OK) | VTB_S_NEEDS_RESET;
			} else {
				st->live = true;
			}
		}
		st->status = status;
	}
	VTB_WRITE_ONCE(r->status, status);
	VTB_STORE_RELEASE(r->ack, req);
	return 1;
}

int vtb_vdev_fail(struct vtb_vdev_regs *r, struct vtb_vdev_state *st, int err)
{
	st->broken = true;
	VTB_WRITE_ONCE(r->status, VTB_READ_ONCE(r->status) | VTB_S_NEEDS_RESET);
	return err;
}

int vtb_vdev_wait_live(struct vtb_vdev_regs *r, struct vtb_vdev_state *st, int (*side)(void *ctx),
		       void (*idle)(void *ctx), void *ctx)
{
	while (!st->live && !st->broken) {
		int busy = vtb_vdev_service(r, st);
		if (side)
			busy += side(ctx) > 0;
		if (!busy)
			idle(ctx);
	}
	return st->broken ? -VTB_EPROTO : 0;
}

static void vdrv_commit(struct vtb_vdrv *d)
{
	d->seq++;
	VTB_STORE_RELEASE(d->r->req, d->seq);
	while (VTB_LOAD_ACQUIRE(d->r->ack) != d->seq)
		d->relax(d->ctx);
}

static uint32_t vdrv_status(struct vtb_vdrv *d)
{
	return VTB_READ_ONCE(d->r->status);
}

static void vdrv_set_status(struct vtb_vdrv *d, uint32_t s)
{
	VTB_WRITE_ONCE(d->r->status, s);
	vdrv_commit(d);
}

int vtb_vdrv_reset(struct vtb_vdrv *d)
{
	while (VTB_LOAD_ACQUIRE(d->r->magic) != VTB_VDEV_MAGIC)
		d->relax(d->ctx);
	if (d->r->version != VTB_VDEV_VERSION)
		return -VTB_ENOTSUP;
	d->seq = VTB_READ_ONCE(d->r->ack);
	vdrv_set_status(d, 0);
	return vdrv_status(d) == 0 ? 0 : -VTB_EIO;
}

int vtb_vdrv_negotiate(struct vtb_vdrv *d, uint64_t wanted, uint64_t *out)
{
	vdrv_set_status(d, VTB_S_ACKNOWLEDGE);
	vdrv_set_status(d, VTB_S_ACKNOWLEDGE | VTB_S_DRIVER);
	uint64_t f = VTB_READ_ONCE(d->r->device_features) & wanted;
	VTB_WRITE_ONCE(d->r->driver_features, f);
	vdrv_set_status(d, VTB_S_ACKNOWLEDGE | VTB_S_DRIVER | VTB_S_FEATURES_OK);
	if (!(vdrv_status(d) & VTB_S_FEATURES_OK)) {
		vdrv_set_status(d, VTB_S_ACKNOWLEDGE | VTB_S_DRIVER | VTB_S_FAILED);
		return -VTB_EPROTO;
	}
	*out = f;
	return 0;
}

int vtb_vdrv_setup_queue(struct vtb_vdrv *d, uint32_t q, uint16_t num, uint64_t desc,
			 uint64_t driver, uint64_t device)
{
	if (q >= VTB_READ_ONCE(d->r->num_queues) || num > VTB_READ_ONCE(d->r->queue[q].num_max))
		return -VTB_EINVAL;
	struct vtb_vdev_queue *vq = &d->r->queue[q];
	VTB_WRITE_ONCE(vq->num, num);
	VTB_WRITE_ONCE(vq->desc, desc);
	VTB_WRITE_ONCE(vq->driver, driver);
	VTB_WRITE_ONCE(vq->device, device);
	VTB_WRITE_ONCE(vq->ready, 1);
	vdrv_commit(d);
	return 0;
}

int vtb_vdrv_driver_ok(struct vtb_vdrv *d)
{
	vdrv_set_status(d, vdrv_status(d) | VTB_S_DRIVER_OK);
	uint32_t s = vdrv_status(d);
	return (s & VTB_S_DRIVER_OK) && !(s & VTB_S_NEEDS_RESET) ? 0 : -VTB_EIO;
}

void vtb_vdrv_config_read(struct vtb_vdrv *d, uint32_t off, void *buf, uint32_t len)
{
	uint32_t g0, g1;
	if (!vtb_range_ok(off, len, VTB_VDEV_CONFIG_MAX))
		return;
	do {
		g0 = VTB_LOAD_ACQUIRE(d->r->config_generation);
		vtb_memcpy(buf, d->r->config + off, len);
		vtb_rmb();
		g1 = VTB_READ_ONCE(d->r->config_generation);
	} while (g0 != g1 || (g0 & 1));
}
