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
#define VTB_VIOMMU_MAX_SEG 64u		/* descriptors per request: the queue size */

/* One endpoint, so at most one domain exists at a time: a domain is
 * created by the ATTACH that puts the endpoint in it and ceases to exist
 * when the endpoint leaves (§5.13.6.4). */
struct vtb_viommu_dev {
	struct vtb_plat *plat;
	const struct vtb_dom *fe;	/* whose RAM MAP reaches */
	struct vtb_viommu_config cfg;	/* as the device presents it */
	uint64_t features;		/* offered (VTB_BIT(VTB_VIOMMU_F_*)) */
	char *window;			/* IOVA i is reachable at window + i */
	bool attached;			/* the endpoint is in domain `domain` */
	bool bypass;			/* which is a bypass domain */
	uint32_t domain;
	bool broken;			/* the request queue was malformed (sticky) */
	/* Per IOVA page: MAP_F_READ/WRITE of its mapping, and
	 * VTB_VIOMMU_PG_MAPPED, VTB_VIOMMU_PG_FIRST (first page of a
	 * mapping: where one MAP's range starts). */
	uint8_t pg[VTB_VIOMMU_IOVA_PAGES];
	struct vtb_seg seg[VTB_VIOMMU_MAX_SEG];
};
#define VTB_VIOMMU_PG_MAPPED 0x10u
#define VTB_VIOMMU_PG_FIRST  0x20u

/* Reserves the IOVA window and sets the configuration the device
 * presents; the endpoint is not attached (§5.13.5). */
int vtb_viommu_dev_init(struct vtb_viommu_dev *d, struct vtb_plat *p, const struct vtb_dom *fe);
void vtb_viommu_dev_fini(struct vtb_viommu_dev *d);

/* Resolves a request-queue buffer to the device's pointer, or NULL. */
typedef void *(*vtb_viommu_buf_fn)(void *ctx, uint64_t addr, uint32_t len);

/* Serves every request the driver has made available on q, the request
 * queue, whose buffers buf resolves.  Returns how many were served, or <0
 * when the queue is malformed (a bad ring, or a buffer out of the device's
 * reach): the device is then broken, sticky, and serves nothing more.
 * Malformed requests are answered (or returned unwritten), not that. */
int vtb_viommu_dev_serve(struct vtb_viommu_dev *d, struct vtb_vqdev *q, vtb_viommu_buf_fn buf, void *ctx);

/* The device's pointer to [iova, iova+len) if every page of it is mapped
 * and allows the access (write: a device write; else a device read). */
void *vtb_viommu_dev_at(struct vtb_viommu_dev *d, uint64_t iova, uint64_t len, bool write);

/* The MAP flags the FE gives a buffer the device reads (device_writes
 * false) or writes. */
uint32_t vtb_viommu_dma_flags(bool device_writes);

#endif
