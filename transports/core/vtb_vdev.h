/* Device status, feature negotiation and config space (virtio 1.2 §2.1-2.5,
 * §3.1) over a register block in memory both sides reach.  The block has
 * virtio-mmio's registers; a register write is made visible by bumping
 * `req`, and the device answers by setting `ack` (the MMIO trap, as a
 * message).  The device side validates everything the driver wrote. */
#ifndef VTB_VDEV_H
#define VTB_VDEV_H

#include "vtb_virtio.h"

#define VTB_VDEV_MAGIC 0x76627476u	/* "vtbv" */
#define VTB_VDEV_VERSION 1u
#define VTB_VDEV_MAX_QUEUES 8
#define VTB_VDEV_CONFIG_MAX 256

struct vtb_vdev_queue {
	uint32_t num_max;	/* device: largest size it accepts */
	uint32_t num;		/* driver */
	uint32_t ready;		/* driver */
	uint32_t reserved;
	uint64_t desc;		/* driver: guest addresses of the three parts */
	uint64_t driver;
	uint64_t device;
};

struct vtb_vdev_regs {
	uint32_t magic;
	uint32_t version;
	uint32_t device_id;
	uint32_t vendor_id;
	uint32_t num_queues;
	uint32_t config_generation;
	uint32_t config_len;
	uint32_t status;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t req;
	uint32_t ack;
	uint32_t reserved[2];
	struct vtb_vdev_queue queue[VTB_VDEV_MAX_QUEUES];
	uint8_t config[VTB_VDEV_CONFIG_MAX];
};
_Static_assert(offsetof(struct vtb_vdev_regs, device_features) == 32, "regs.device_features");
_Static_assert(offsetof(struct vtb_vdev_regs, req) == 48, "regs.req");
_Static_assert(offsetof(struct vtb_vdev_regs, queue) == 64, "regs.queue");
_Static_assert(sizeof(struct vtb_vdev_queue) == 40, "regs.queue entry");
_Static_assert(offsetof(struct vtb_vdev_regs, config) == 64 + 8 * 40, "regs.config");

/* What the device accepted once the driver set DRIVER_OK. */
struct vtb_vdev_state {
	uint64_t features;	/* negotiated */
	uint32_t status;
	bool live;		/* DRIVER_OK accepted */
	bool broken;		/* driver wrote nonsense: NEEDS_RESET */
	struct {
		uint16_t num;
		uint64_t desc, driver, device;
	} q[VTB_VDEV_MAX_QUEUES];
};

/* Device side. */
int vtb_vdev_publish(struct vtb_vdev_regs *r, uint32_t device_id, uint64_t features,
		     uint32_t nqueues, uint32_t num_max, const void *config, uint32_t config_len);
/* Handles one pending driver write, if any. Returns 1 if one was handled,
 * 0 if none was pending. */
int vtb_vdev_service(struct vtb_vdev_regs *r, struct vtb_vdev_state *st);
/* Serves the driver's register writes until it sets DRIVER_OK (0) or the
 * device refuses its setup (-EPROTO, NEEDS_RESET).  side, if not NULL,
 * serves a channel the device needs during setup (a virtio-iommu's request
 * queue) each round and returns how many requests it served; idle runs
 * after a round in which nothing was pending. */
int vtb_vdev_wait_live(struct vtb_vdev_regs *r, struct vtb_vdev_state *st, int (*side)(void *ctx),
		       void (*idle)(void *ctx), void *ctx);
/* Bad input from the driver, found by the device at any time: it needs a
 * reset (virtio 1.2 §2.1.2).  Sticky: st->broken makes vtb_vdev_service
 * answer every later write with NEEDS_RESET, and the status says so now.
 * Returns err, so a failing path can return vtb_vdev_fail(..., err). */
int vtb_vdev_fail(struct vtb_vdev_regs *r, struct vtb_vdev_state *st, int err);
/* Config space changed (the device's side of a config interrupt). */
void vtb_vdev_config_update(struct vtb_vdev_regs *r, const void *config, uint32_t off, uint32_t len);

/* Driver side: each call writes registers, bumps req and waits for ack
 * with relax() between polls. */
typedef void (*vtb_relax_fn)(void *ctx);
struct vtb_vdrv {
	struct vtb_vdev_regs *r;
	vtb_relax_fn relax;
	void *ctx;
	uint32_t seq;
};
int vtb_vdrv_reset(struct vtb_vdrv *d);
/* ACKNOWLEDGE, DRIVER, then offers wanted & device features; returns the
 * accepted set in *out, or -EPROTO if the device refused FEATURES_OK. */
int vtb_vdrv_negotiate(struct vtb_vdrv *d, uint64_t wanted, uint64_t *out);
int vtb_vdrv_setup_queue(struct vtb_vdrv *d, uint32_t q, uint16_t num, uint64_t desc,
			 uint64_t driver, uint64_t device);
int vtb_vdrv_driver_ok(struct vtb_vdrv *d);
/* Reads config with the generation check of §2.5.1. */
void vtb_vdrv_config_read(struct vtb_vdrv *d, uint32_t off, void *buf, uint32_t len);

#endif
