/* Xen Argo ring layout (xen/include/public/argo.h), pinned and compared with
 * the Xen header in transports/tests/test_uapi.c.  Freestanding. */
#ifndef VTB_ARGO_H
#define VTB_ARGO_H

#include "vtb_compiler.h"

#define VTB_ARGO_MAXIOV 8u
#define VTB_ARGO_MSG_SLOT_SIZE 0x10u
#define VTB_ARGO_MAX_RING_SIZE 0x1000000u
#define VTB_ARGO_OP_register_ring 1
#define VTB_ARGO_OP_sendv 3
#define VTB_ARGO_OP_notify 4

struct vtb_argo_addr {
	uint32_t aport;
	uint16_t domain_id;
	uint16_t pad;
};
_Static_assert(sizeof(struct vtb_argo_addr) == 8, "xen_argo_addr");

struct vtb_argo_ring {
	uint32_t rx_ptr;	/* receiver: where it will read next */
	uint32_t tx_ptr;	/* hypervisor: where it will write next */
	uint8_t reserved[56];
	uint8_t ring[];
};
_Static_assert(offsetof(struct vtb_argo_ring, tx_ptr) == 4, "xen_argo_ring.tx_ptr");
_Static_assert(offsetof(struct vtb_argo_ring, ring) == 64, "xen_argo_ring header is 64 bytes");

struct vtb_argo_msg_hdr {
	uint32_t len;		/* header + payload bytes */
	struct vtb_argo_addr source;
	uint32_t message_type;
};
_Static_assert(sizeof(struct vtb_argo_msg_hdr) == 16, "xen_argo_ring_message_header");
_Static_assert(offsetof(struct vtb_argo_msg_hdr, message_type) == 12, "msg_hdr.message_type");

static inline uint32_t vtb_argo_roundup(uint32_t n)
{
	return (n + VTB_ARGO_MSG_SLOT_SIZE - 1) & ~(VTB_ARGO_MSG_SLOT_SIZE - 1);
}

/* Bytes a sender may still place: one slot stays free so rx == tx is empty. */
static inline uint32_t vtb_argo_space(uint32_t len, uint32_t rx, uint32_t tx)
{
	uint32_t used = tx >= rx ? tx - rx : len - (rx - tx);
	return len - used - VTB_ARGO_MSG_SLOT_SIZE;
}

#endif
