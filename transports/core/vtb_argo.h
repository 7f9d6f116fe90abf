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

/* Xen's MAX_ARGO_MESSAGE_SIZE: no iov, and no message, may be longer. */
#define VTB_ARGO_MAX_MSG_SIZE \
	(VTB_ARGO_MAX_RING_SIZE - (uint32_t)sizeof(struct vtb_argo_msg_hdr) - VTB_ARGO_MSG_SLOT_SIZE)

/* The largest payload a ring of len bytes ever takes: a message must leave
 * one slot free, so that rx == tx always means empty (ringbuf_insert's
 * -EMSGSIZE check; fill_ring_data's max_message_size). */
static inline uint32_t vtb_argo_ring_max_msg(uint32_t len)
{
	return len - (uint32_t)sizeof(struct vtb_argo_msg_hdr) - VTB_ARGO_MSG_SLOT_SIZE;
}

/* The receiver's rx_ptr as Xen uses it (get_sanitized_ring): rounded up to
 * a slot, and 0 once that reaches the ring's end.  Never an error: a bad
 * rx_ptr only hurts the receiver's own ring. */
static inline uint32_t vtb_argo_rx_sanitize(uint32_t rx, uint32_t len)
{
	rx = vtb_argo_roundup(rx);	/* 32-bit, as Xen's: wraps to 0 near the top */
	return rx >= len ? 0 : rx;
}

/* Free bytes between tx and (sanitized) rx; a ring with rx == tx is empty. */
static inline uint32_t vtb_argo_free(uint32_t len, uint32_t rx, uint32_t tx)
{
	return rx == tx ? len : rx > tx ? rx - tx : len - (tx - rx);
}

/* ringbuf_insert's space check for a payload of n bytes: the header and the
 * rounded payload must stay below the free space (-EAGAIN otherwise). */
static inline bool vtb_argo_fits(uint32_t len, uint32_t rx, uint32_t tx, uint32_t n)
{
	return (uint64_t)sizeof(struct vtb_argo_msg_hdr) + vtb_argo_roundup(n) < vtb_argo_free(len, rx, tx);
}

/* ringbuf_payload_space: the largest payload that fits now (what notify
 * compares with a waiting sender's length). */
static inline uint32_t vtb_argo_payload_space(uint32_t len, uint32_t rx, uint32_t tx)
{
	uint32_t f = vtb_argo_free(len, rx, tx);
	uint32_t keep = (uint32_t)sizeof(struct vtb_argo_msg_hdr) + VTB_ARGO_MSG_SLOT_SIZE;
	return f > keep ? f - keep : 0;
}

#endif
