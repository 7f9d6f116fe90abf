/* Feature negotiation, status and config space over the register block.
 * The device side runs in a thread, as a BE would in its own domain. */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "../../ci/vtb_test.h"
#include "../core/vtb_vdev.h"
#include "../core/vtb_virtq.h"

static struct vtb_vdev_regs regs;
static struct vtb_vdev_state st;
static volatile int quit;

static void *device(void *arg)
{
	(void)arg;
	while (!quit)
		if (!vtb_vdev_service(&regs, &st))
			sched_yield();
	return NULL;
}

static void relax(void *c) { (void)c; sched_yield(); }

static void run(void (*fn)(struct vtb_vdrv *))
{
	pthread_t t;
	unsigned char cfg[16] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	memset(&st, 0, sizeof(st));
	quit = 0;
	CHECK_EQ(vtb_vdev_publish(&regs, 2, VTB_BIT(9) | VTB_BIT(13), 2, 256, cfg, sizeof(cfg)), 0);
	pthread_create(&t, NULL, device, NULL);
	struct vtb_vdrv d = { .r = &regs, .relax = relax };
	CHECK_EQ(vtb_vdrv_reset(&d), 0);
	fn(&d);
	quit = 1;
	pthread_join(t, NULL);
}

static void happy(struct vtb_vdrv *d)
{
	uint64_t f = 0;
	/* Ask for more than offered: only the offered subset is accepted. */
	CHECK_EQ(vtb_vdrv_negotiate(d, VTB_BIT(9) | VTB_BIT(20) | VTB_BIT(VTB_F_VERSION_1), &f), 0);
	CHECK_EQ(f, VTB_BIT(9) | VTB_BIT(VTB_F_VERSION_1));
	CHECK_EQ(st.features, f);
	CHECK(!st.live);
	CHECK_EQ(vtb_vdrv_setup_queue(d, 0, 64, 0x10000, 0x10000 + vtb_vring_avail_off(64),
				      0x10000 + vtb_vring_used_off(64)), 0);
	CHECK_EQ(vtb_vdrv_setup_queue(d, 5, 64, 0, 0, 0), -VTB_EINVAL);	/* no such queue */
	CHECK_EQ(vtb_vdrv_driver_ok(d), 0);
	CHECK(st.live);
	CHECK_EQ(st.q[0].num, 64);
	CHECK_EQ(st.q[1].num, 0);	/* not made ready */
	unsigned char buf[8];
	vtb_vdrv_config_read(d, 0, buf, 8);
	CHECK_EQ(buf[7], 8);
	unsigned char upd = 42;
	uint32_t gen = regs.config_generation;
	vtb_vdev_config_update(&regs, &upd, 3, 1);
	CHECK_EQ(regs.config_generation, gen + 2);
	vtb_vdrv_config_read(d, 3, buf, 1);
	CHECK_EQ(buf[0], 42);
	/* Reset clears everything the driver set. */
	CHECK_EQ(vtb_vdrv_reset(d), 0);
	CHECK(!st.live);
	CHECK_EQ(regs.queue[0].ready, 0);
}

static void no_version1(struct vtb_vdrv *d)
{
	/* A driver without VERSION_1 (legacy) is refused at FEATURES_OK. */
	regs.device_features &= ~VTB_BIT(VTB_F_VERSION_1);
	uint64_t f;
	CHECK_EQ(vtb_vdrv_negotiate(d, VTB_BIT(9), &f), -VTB_EPROTO);
	CHECK(regs.status & VTB_S_FAILED);
}

static void sneaky_features(struct vtb_vdrv *d)
{
	/* Writing unoffered bits behind the API's back is caught by the device. */
	regs.status = VTB_S_ACKNOWLEDGE | VTB_S_DRIVER;
	regs.driver_features = VTB_BIT(VTB_F_VERSION_1) | VTB_BIT(30);
	regs.status |= VTB_S_FEATURES_OK;
	d->seq++;
	__atomic_store_n(&regs.req, d->seq, __ATOMIC_RELEASE);
	while (__atomic_load_n(&regs.ack, __ATOMIC_ACQUIRE) != d->seq)
		sched_yield();
	CHECK(!(regs.status & VTB_S_FEATURES_OK));
}

static void bad_queue(struct vtb_vdrv *d)
{
	uint64_t f;
	CHECK_EQ(vtb_vdrv_negotiate(d, VTB_BIT(VTB_F_VERSION_1), &f), 0);
	/* Size not a power of two, then a non-contiguous layout. */
	regs.queue[0].num = 100;
	regs.queue[0].ready = 1;
	CHECK(vtb_vdrv_driver_ok(d) != 0);
	CHECK(regs.status & VTB_S_NEEDS_RESET);
	CHECK(st.broken);
	CHECK_EQ(vtb_vdrv_reset(d), 0);
	CHECK(!st.broken);
	CHECK_EQ(vtb_vdrv_negotiate(d, VTB_BIT(VTB_F_VERSION_1), &f), 0);
	CHECK_EQ(vtb_vdrv_setup_queue(d, 0, 64, 0x10000, 0x90000, 0x10000 + vtb_vring_used_off(64)), 0);
	CHECK(vtb_vdrv_driver_ok(d) != 0);
	CHECK(regs.status & VTB_S_NEEDS_RESET);
}

int main(void)
{
	run(happy);
	run(no_version1);
	run(sneaky_features);
	run(bad_queue);
	return vtb_test_end("test_vdev");
}
