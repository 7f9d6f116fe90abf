/* virtio 1.2 wire layouts (split virtqueue, status, common feature bits).
 * Pinned with _Static_assert; transports/tests/test_uapi.c compares every
 * field with <linux/virtio_ring.h>. */
#ifndef VTB_VIRTIO_H
#define VTB_VIRTIO_H

#include "vtb_compiler.h"

/* Device status (virtio 1.2 §2.1) */
#define VTB_S_ACKNOWLEDGE  1u
#define VTB_S_DRIVER       2u
#define VTB_S_DRIVER_OK    4u
#define VTB_S_FEATURES_OK  8u
#define VTB_S_NEEDS_RESET  64u
#define VTB_S_FAILED       128u

/* Reserved feature bits (§6) */
#define VTB_F_INDIRECT_DESC   28
#define VTB_F_EVENT_IDX       29
#define VTB_F_VERSION_1       32
#define VTB_F_ACCESS_PLATFORM 33
#define VTB_F_RING_PACKED     34
#define VTB_F_IN_ORDER        35

#define VTB_BIT(n) (1ull << (n))

/* Device IDs (§5) */
#define VTB_ID_NET   1
#define VTB_ID_BLOCK 2
#define VTB_ID_SCMI  32

/* Split virtqueue (§2.7) */
#define VTB_DESC_F_NEXT     1u
#define VTB_DESC_F_WRITE    2u
#define VTB_DESC_F_INDIRECT 4u
#define VTB_AVAIL_F_NO_INTERRUPT 1u
#define VTB_USED_F_NO_NOTIFY     1u
#define VTB_VQ_MAX_SIZE 32768u

struct vtb_vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vtb_vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* then: uint16_t used_event */
};

struct vtb_vring_used_elem {
	uint32_t id;	/* 32-bit on the wire, only 16 meaningful */
	uint32_t len;
};

struct vtb_vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vtb_vring_used_elem ring[];	/* then: uint16_t avail_event */
};

_Static_assert(sizeof(struct vtb_vring_desc) == 16, "desc is 16 bytes");
_Static_assert(offsetof(struct vtb_vring_desc, addr) == 0, "desc.addr");
_Static_assert(offsetof(struct vtb_vring_desc, len) == 8, "desc.len");
_Static_assert(offsetof(struct vtb_vring_desc, flags) == 12, "desc.flags");
_Static_assert(offsetof(struct vtb_vring_desc, next) == 14, "desc.next");
_Static_assert(sizeof(struct vtb_vring_avail) == 4, "avail header");
_Static_assert(offsetof(struct vtb_vring_avail, idx) == 2, "avail.idx");
_Static_assert(offsetof(struct vtb_vring_avail, ring) == 4, "avail.ring");
_Static_assert(sizeof(struct vtb_vring_used_elem) == 8, "used elem");
_Static_assert(offsetof(struct vtb_vring_used_elem, len) == 4, "used_elem.len");
_Static_assert(sizeof(struct vtb_vring_used) == 4, "used header");
_Static_assert(offsetof(struct vtb_vring_used, idx) == 2, "used.idx");
_Static_assert(offsetof(struct vtb_vring_used, ring) == 4, "used.ring");

/* Packed virtqueue (§2.8) */
#define VTB_PDESC_F_AVAIL (1u << 7)
#define VTB_PDESC_F_USED  (1u << 15)
#define VTB_RING_EVENT_FLAGS_ENABLE  0x0u
#define VTB_RING_EVENT_FLAGS_DISABLE 0x1u
#define VTB_RING_EVENT_FLAGS_DESC    0x2u

struct vtb_pvq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
_Static_assert(sizeof(struct vtb_pvq_desc) == 16, "pvirtq_desc is 16 bytes");
_Static_assert(offsetof(struct vtb_pvq_desc, id) == 12, "pvirtq_desc.id");
_Static_assert(offsetof(struct vtb_pvq_desc, flags) == 14, "pvirtq_desc.flags");

struct vtb_pvq_event {
	uint16_t off_wrap;	/* descriptor offset [14:0], wrap counter [15] */
	uint16_t flags;
};
_Static_assert(sizeof(struct vtb_pvq_event) == 4, "pvirtq_event_suppress");

/* The spec's vring_need_event(): notify iff new_idx has passed event_idx
 * since old_idx, in 16-bit modular arithmetic. */
static inline bool vtb_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

#endif
