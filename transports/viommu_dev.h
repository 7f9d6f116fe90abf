/* The virtio-iommu device of the viommu transport (virtio 1.2 §5.13): its
 * state, its request handler and its translation, as the BE serves them.
 * Internal to transports/viommu.c; exposed so that unit tests can drive
 * the device with crafted requests. */
#ifndef VTB_VIOMMU_DEV_H
#define VTB_VIOMMU_DEV_H

#include "core/vtb_viommu.h"
#include "core/vtb_virtq.h"
#include "platform.h"

#define VTB_VIOMMU_PAGE 4096u
#define VTB_VIOMMU_IOVA_PAGES 65536u	/* a 256 MiB IOVA space */
#define VTB_VIOMMU_ENDPOINT 0u		/* the one endpoint: the BE's device */

struct vtb_viommu_dev {
	struct vtb_plat *plat;
	const struct vtb_dom *fe;	/* whose RAM MAP reaches */
	char *window;			/* IOVA i is reachable at window + i */
	bool attached, bypass;
	uint8_t perm[VTB_VIOMMU_IOVA_PAGES];	/* MAP_F_* of each mapped IOVA page, 0 unmapped */
	struct vtb_seg seg[2];
};

/* Reserves the IOVA window; nothing attached. */
int vtb_viommu_dev_init(struct vtb_viommu_dev *d, struct vtb_plat *p, const struct vtb_dom *fe);
void vtb_viommu_dev_fini(struct vtb_viommu_dev *d);

/* Resolves a request-queue buffer to the device's pointer, or NULL. */
typedef void *(*vtb_viommu_buf_fn)(void *ctx, uint64_t addr, uint32_t len);

/* Serves every request the driver has made available on q, the request
 * queue, whose buffers buf resolves.  Returns how many were served, or <0
 * when the queue itself is malformed (it is then broken, sticky). */
int vtb_viommu_dev_serve(struct vtb_viommu_dev *d, struct vtb_vqdev *q, vtb_viommu_buf_fn buf, void *ctx);

/* The device's pointer to [iova, iova+len) if every page of it is mapped
 * and allows the access (write: a device write; else a device read). */
void *vtb_viommu_dev_at(struct vtb_viommu_dev *d, uint64_t iova, uint64_t len, bool write);

/* The MAP flags the FE gives a buffer the device reads (device_writes
 * false) or writes. */
uint32_t vtb_viommu_dma_flags(bool device_writes);

#endif
