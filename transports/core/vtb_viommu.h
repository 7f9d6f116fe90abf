/* virtio-iommu requests and configuration (virtio 1.2 §5.13), pinned and compared with
 * <linux/virtio_iommu.h> in transports/tests/test_uapi.c.  Freestanding. */
#ifndef VTB_VIOMMU_H
#define VTB_VIOMMU_H

#include "vtb_compiler.h"

/* Feature bits (§5.13.3) */
#define VTB_VIOMMU_F_INPUT_RANGE   0
#define VTB_VIOMMU_F_DOMAIN_RANGE  1
#define VTB_VIOMMU_F_MAP_UNMAP     2
#define VTB_VIOMMU_F_BYPASS        3
#define VTB_VIOMMU_F_PROBE         4
#define VTB_VIOMMU_F_MMIO          5
#define VTB_VIOMMU_F_BYPASS_CONFIG 6

#define VTB_VIOMMU_T_ATTACH 0x01
#define VTB_VIOMMU_T_DETACH 0x02
#define VTB_VIOMMU_T_MAP    0x03
#define VTB_VIOMMU_T_UNMAP  0x04
#define VTB_VIOMMU_T_PROBE  0x05

#define VTB_VIOMMU_S_OK     0x00
#define VTB_VIOMMU_S_IOERR  0x01
#define VTB_VIOMMU_S_UNSUPP 0x02
#define VTB_VIOMMU_S_DEVERR 0x03
#define VTB_VIOMMU_S_INVAL  0x04
#define VTB_VIOMMU_S_RANGE  0x05
#define VTB_VIOMMU_S_NOENT  0x06
#define VTB_VIOMMU_S_FAULT  0x07
#define VTB_VIOMMU_S_NOMEM  0x08

#define VTB_VIOMMU_ATTACH_F_BYPASS 1u
#define VTB_VIOMMU_MAP_F_READ  1u
#define VTB_VIOMMU_MAP_F_WRITE 2u
#define VTB_VIOMMU_MAP_F_MMIO  4u

/* Device configuration layout (§5.13.4), little-endian. */
struct vtb_viommu_range_64 {
	uint64_t start, end;
};
struct vtb_viommu_range_32 {
	uint32_t start, end;
};
struct vtb_viommu_config {
	uint64_t page_size_mask;
	struct vtb_viommu_range_64 input_range;
	struct vtb_viommu_range_32 domain_range;
	uint32_t probe_size;
	uint8_t bypass;
	uint8_t reserved[3];
};
_Static_assert(sizeof(struct vtb_viommu_config) == 40, "config");
_Static_assert(offsetof(struct vtb_viommu_config, domain_range) == 24, "config.domain_range");
_Static_assert(offsetof(struct vtb_viommu_config, bypass) == 36, "config.bypass");

struct vtb_viommu_head {
	uint8_t type;
	uint8_t reserved[3];
};
struct vtb_viommu_tail {
	uint8_t status;
	uint8_t reserved[3];
};

struct vtb_viommu_attach {
	struct vtb_viommu_head head;
	uint32_t domain;
	uint32_t endpoint;
	uint32_t flags;
	uint8_t reserved[4];
	struct vtb_viommu_tail tail;
};
_Static_assert(sizeof(struct vtb_viommu_attach) == 24, "req_attach");
_Static_assert(offsetof(struct vtb_viommu_attach, flags) == 12, "req_attach.flags");

struct vtb_viommu_detach {
	struct vtb_viommu_head head;
	uint32_t domain;
	uint32_t endpoint;
	uint8_t reserved[8];
	struct vtb_viommu_tail tail;
};
_Static_assert(sizeof(struct vtb_viommu_detach) == 24, "req_detach");
_Static_assert(offsetof(struct vtb_viommu_detach, endpoint) == 8, "req_detach.endpoint");

struct vtb_viommu_map {
	struct vtb_viommu_head head;
	uint32_t domain;
	uint64_t virt_start;
	uint64_t virt_end;	/* inclusive */
	uint64_t phys_start;
	uint32_t flags;
	struct vtb_viommu_tail tail;
};
_Static_assert(sizeof(struct vtb_viommu_map) == 40, "req_map");
_Static_assert(offsetof(struct vtb_viommu_map, virt_start) == 8, "req_map.virt_start");
_Static_assert(offsetof(struct vtb_viommu_map, phys_start) == 24, "req_map.phys_start");
_Static_assert(offsetof(struct vtb_viommu_map, flags) == 32, "req_map.flags");
_Static_assert(offsetof(struct vtb_viommu_map, tail) == 36, "req_map.tail");

struct vtb_viommu_unmap {
	struct vtb_viommu_head head;
	uint32_t domain;
	uint64_t virt_start;
	uint64_t virt_end;	/* inclusive */
	uint8_t reserved[4];
	struct vtb_viommu_tail tail;
};
_Static_assert(sizeof(struct vtb_viommu_unmap) == 32, "req_unmap");
_Static_assert(offsetof(struct vtb_viommu_unmap, tail) == 28, "req_unmap.tail");

#endif
