/* vhost-user wire protocol (QEMU docs/interop/vhost-user.rst): the message
 * header, the payloads a backend of blk, net and scmi receives, request
 * numbers, protocol feature bits.  Every field is little-endian (the host's
 * order on the hosts vhost-user runs on); layouts pinned below and compared
 * with <linux/vhost_types.h> where Linux has the same struct (test_uapi). */
#ifndef VTB_VHU_PROTO_H
#define VTB_VHU_PROTO_H

#include "../core/vtb_compiler.h"

/* Front-end requests */
enum vtb_vhu_request {
	VTB_VHU_GET_FEATURES = 1,
	VTB_VHU_SET_FEATURES = 2,
	VTB_VHU_SET_OWNER = 3,
	VTB_VHU_RESET_OWNER = 4,
	VTB_VHU_SET_MEM_TABLE = 5,
	VTB_VHU_SET_LOG_BASE = 6,
	VTB_VHU_SET_LOG_FD = 7,
	VTB_VHU_SET_VRING_NUM = 8,
	VTB_VHU_SET_VRING_ADDR = 9,
	VTB_VHU_SET_VRING_BASE = 10,
	VTB_VHU_GET_VRING_BASE = 11,
	VTB_VHU_SET_VRING_KICK = 12,
	VTB_VHU_SET_VRING_CALL = 13,
	VTB_VHU_SET_VRING_ERR = 14,
	VTB_VHU_GET_PROTOCOL_FEATURES = 15,
	VTB_VHU_SET_PROTOCOL_FEATURES = 16,
	VTB_VHU_GET_QUEUE_NUM = 17,
	VTB_VHU_SET_VRING_ENABLE = 18,
	VTB_VHU_SEND_RARP = 19,
	VTB_VHU_NET_SET_MTU = 20,
	VTB_VHU_SET_BACKEND_REQ_FD = 21,
	VTB_VHU_IOTLB_MSG = 22,
	VTB_VHU_SET_VRING_ENDIAN = 23,
	VTB_VHU_GET_CONFIG = 24,
	VTB_VHU_SET_CONFIG = 25,
	VTB_VHU_CREATE_CRYPTO_SESSION = 26,
	VTB_VHU_CLOSE_CRYPTO_SESSION = 27,
	VTB_VHU_POSTCOPY_ADVISE = 28,
	VTB_VHU_POSTCOPY_LISTEN = 29,
	VTB_VHU_POSTCOPY_END = 30,
	VTB_VHU_GET_INFLIGHT_FD = 31,
	VTB_VHU_SET_INFLIGHT_FD = 32,
	VTB_VHU_GPU_SET_SOCKET = 33,
	VTB_VHU_RESET_DEVICE = 34,
	VTB_VHU_VRING_KICK = 35,
	VTB_VHU_GET_MAX_MEM_SLOTS = 36,
	VTB_VHU_ADD_MEM_REG = 37,
	VTB_VHU_REM_MEM_REG = 38,
	VTB_VHU_SET_STATUS = 39,
	VTB_VHU_GET_STATUS = 40,
	VTB_VHU_REQ_MAX = 41,	/* names known up to here */
};

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES) */
#define VTB_VHU_PF_MQ             0
#define VTB_VHU_PF_LOG_SHMFD      1
#define VTB_VHU_PF_RARP           2
#define VTB_VHU_PF_REPLY_ACK      3
#define VTB_VHU_PF_NET_MTU        4
#define VTB_VHU_PF_BACKEND_REQ    5
#define VTB_VHU_PF_CROSS_ENDIAN   6
#define VTB_VHU_PF_CRYPTO_SESSION 7
#define VTB_VHU_PF_PAGEFAULT      8
#define VTB_VHU_PF_CONFIG         9
#define VTB_VHU_PF_BACKEND_SEND_FD 10
#define VTB_VHU_PF_HOST_NOTIFIER  11
#define VTB_VHU_PF_INFLIGHT_SHMFD 12
#define VTB_VHU_PF_RESET_DEVICE   13
#define VTB_VHU_PF_INBAND_NOTIFICATIONS 14
#define VTB_VHU_PF_CONFIGURE_MEM_SLOTS 15
#define VTB_VHU_PF_STATUS         16

/* The virtio feature bit that says protocol features exist (bit 30, an
 * unused transport bit vhost-user took). */
#define VTB_VHU_F_PROTOCOL_FEATURES 30

/* Header flags */
#define VTB_VHU_VERSION      0x1u
#define VTB_VHU_VERSION_MASK 0x3u
#define VTB_VHU_FLAG_REPLY   (1u << 2)
#define VTB_VHU_FLAG_NEED_REPLY (1u << 3)

/* SET_VRING_KICK/CALL/ERR u64: ring index, and "no fd" (polling) */
#define VTB_VHU_VRING_IDX_MASK 0xffu
#define VTB_VHU_VRING_NOFD     (1u << 8)

/* SET_VRING_ADDR flags */
#define VTB_VHU_VRING_F_LOG 1u

#define VTB_VHU_MAX_REGIONS 8	/* VHOST_MEMORY_BASELINE_NREGIONS */
#define VTB_VHU_MAX_CONFIG  256	/* VHOST_USER_MAX_CONFIG_SIZE */
#define VTB_VHU_MAX_FDS     VTB_VHU_MAX_REGIONS	/* most fds one message carries */

struct vtb_vhu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;		/* payload bytes after the header */
};
_Static_assert(sizeof(struct vtb_vhu_hdr) == 12, "vhost-user header is 12 bytes");
_Static_assert(offsetof(struct vtb_vhu_hdr, flags) == 4, "hdr.flags");
_Static_assert(offsetof(struct vtb_vhu_hdr, size) == 8, "hdr.size");

struct vtb_vhu_vring_state {
	uint32_t index;
	uint32_t num;
};
_Static_assert(sizeof(struct vtb_vhu_vring_state) == 8, "vring_state");
_Static_assert(offsetof(struct vtb_vhu_vring_state, num) == 4, "vring_state.num");

struct vtb_vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;		/* front-end user addresses */
	uint64_t used;
	uint64_t avail;
	uint64_t log;		/* guest address of the used ring, for logging */
};
_Static_assert(sizeof(struct vtb_vhu_vring_addr) == 40, "vring_addr");
_Static_assert(offsetof(struct vtb_vhu_vring_addr, desc) == 8, "vring_addr.desc");
_Static_assert(offsetof(struct vtb_vhu_vring_addr, used) == 16, "vring_addr.used");
_Static_assert(offsetof(struct vtb_vhu_vring_addr, avail) == 24, "vring_addr.avail");
_Static_assert(offsetof(struct vtb_vhu_vring_addr, log) == 32, "vring_addr.log");

struct vtb_vhu_region {
	uint64_t gpa;		/* guest_phys_addr */
	uint64_t size;		/* memory_size */
	uint64_t uva;		/* userspace_addr: the front-end's address of gpa */
	uint64_t mmap_offset;	/* where gpa sits in the fd */
};
_Static_assert(sizeof(struct vtb_vhu_region) == 32, "memory region");
_Static_assert(offsetof(struct vtb_vhu_region, size) == 8, "region.memory_size");
_Static_assert(offsetof(struct vtb_vhu_region, uva) == 16, "region.userspace_addr");
_Static_assert(offsetof(struct vtb_vhu_region, mmap_offset) == 24, "region.mmap_offset");

struct vtb_vhu_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vtb_vhu_region regions[VTB_VHU_MAX_REGIONS];
};
_Static_assert(offsetof(struct vtb_vhu_memory, regions) == 8, "memory.regions");
_Static_assert(sizeof(struct vtb_vhu_memory) == 8 + 32 * VTB_VHU_MAX_REGIONS, "memory table");

struct vtb_vhu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[VTB_VHU_MAX_CONFIG];
};
#define VTB_VHU_CONFIG_HDR 12u
_Static_assert(offsetof(struct vtb_vhu_config, size) == 4, "config.size");
_Static_assert(offsetof(struct vtb_vhu_config, payload) == VTB_VHU_CONFIG_HDR, "config.payload");

/* The largest payload accepted: a message larger than any request's
 * payload cannot be valid and the stream cannot be resynchronised. */
#define VTB_VHU_MAX_PAYLOAD 4096u
_Static_assert(sizeof(struct vtb_vhu_memory) <= VTB_VHU_MAX_PAYLOAD, "memory table fits");
_Static_assert(sizeof(struct vtb_vhu_config) <= VTB_VHU_MAX_PAYLOAD, "config fits");

/* A request's name ("SET_MEM_TABLE"), or "UNKNOWN". */
const char *vtb_vhu_req_name(uint32_t request);

#endif
