/* virtio-net device model (virtio 1.2 §5.1): one RX/TX queue pair, the
 * 12-byte v1 header, backend modes sink, source and echo.  Freestanding. */
#ifndef VTB_NET_H
#define VTB_NET_H

#include "../../transports/core/vtb_devio.h"
#include "../../transports/core/vtb_virtio.h"

#define VTB_NET_F_MTU    3
#define VTB_NET_F_MAC    5
#define VTB_NET_F_STATUS 16

#define VTB_NET_Q_RX 0
#define VTB_NET_Q_TX 1

#define VTB_NET_ETHERTYPE 0x88b5u	/* IEEE local experimental */
#define VTB_NET_MIN_FRAME 60u
#define VTB_NET_ETH_HDR 14u	/* the least echo returns */
#define VTB_NET_MAX_FRAME 9014u
#define VTB_NET_IMIX (-1)

struct vtb_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
_Static_assert(sizeof(struct vtb_net_hdr_v1) == 12, "virtio_net_hdr_v1 is 12 bytes");
_Static_assert(offsetof(struct vtb_net_hdr_v1, hdr_len) == 2, "net_hdr.hdr_len");
_Static_assert(offsetof(struct vtb_net_hdr_v1, csum_start) == 6, "net_hdr.csum_start");
_Static_assert(offsetof(struct vtb_net_hdr_v1, num_buffers) == 10, "net_hdr.num_buffers");

struct vtb_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));
_Static_assert(offsetof(struct vtb_net_config, status) == 6, "netcfg.status");
_Static_assert(offsetof(struct vtb_net_config, mtu) == 10, "netcfg.mtu");

/* GUEST: the peer of a qemu-platform net cell (harness/guest_net.h): the
 * guest's data frames counted and checked, its echo and fence frames sent
 * back, its pulls answered with frames of the peer's own stream. */
enum vtb_net_mode { VTB_NET_SINK, VTB_NET_SOURCE, VTB_NET_ECHO, VTB_NET_GUEST };

struct vtb_net_stats {
	uint64_t tx_frames, tx_bytes;	/* taken from the TX queue */
	uint64_t rx_frames, rx_bytes;	/* delivered into RX buffers */
	uint64_t drops;			/* RX buffer too small */
	uint64_t bad_frames;		/* malformed TX chains */
	uint64_t verify_errors;		/* sink: payload mismatch */
	/* GUEST: what the harness's peer counts (harness/qemu.c's net_counts) */
	uint64_t peer_frames, peer_bytes, peer_bad, peer_gaps, peer_other;
	uint64_t peer_pulls, peer_sent, peer_sent_bytes;
};

#define VTB_NET_FEATURES (VTB_BIT(VTB_NET_F_MTU) | VTB_BIT(VTB_NET_F_MAC) | VTB_BIT(VTB_NET_F_STATUS))

/* Frame layout both domains agree on: dst, src, ethertype, le64 seq, then
 * the pattern stream for seq over the rest. */
#define VTB_NET_PAYLOAD_OFF 22u
uint32_t vtb_net_frame_size(int size, uint64_t seq);	/* size or VTB_NET_IMIX */
void vtb_net_frame_fill(uint64_t seed, uint64_t seq, void *frame, uint32_t len);
/* 0 if frame is the one for its seq (stored in *seq), else -EPROTO. */
int vtb_net_frame_check(uint64_t seed, const void *frame, uint32_t len, bool full, uint64_t *seq);

struct vtb_net;
size_t vtb_net_memsize(void);
/* size: frame bytes for source mode (or VTB_NET_IMIX); verify: sink checks
 * payloads; seed: the stream's, and GUEST's boot block. */
struct vtb_net *vtb_net_init(void *mem, enum vtb_net_mode mode, int size, uint64_t seed,
			     bool verify, const struct vtb_dev_io *io);
void vtb_net_config(const struct vtb_net *n, struct vtb_net_config *cfg);
int vtb_net_process(struct vtb_net *n, unsigned budget);
/* Bit q set: a buffer added to queue q would let the model make progress. */
uint32_t vtb_net_wake_mask(const struct vtb_net *n);
const struct vtb_net_stats *vtb_net_stats(const struct vtb_net *n);

#endif
