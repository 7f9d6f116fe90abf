/* The frames of a qemu-platform net cell, as vtb_guest sends them through
 * the guest's NIC and the harness's peer (harness/qemu.c) checks, counts
 * and echoes them: one definition for both sides.
 *
 *   0  dst MAC (the peer)     6  src MAC (the guest)    12 ethertype
 *   14 seq, little-endian 64  22 flags                  23 0
 *   24 payload: the boot's block from byte (seq % VTB_GN_SLOTS) * 8
 *
 * The payload is a slice of one pseudo-random block made once from the
 * boot's seed, so filling a frame costs the guest a memcpy, as it costs an
 * application, and any byte the path changes is caught.
 *
 * rx turns the direction round: a pull frame from the guest (flags
 * VTB_GN_PULL, VTB_GN_MIN bytes) carries at 24 the number of frames it
 * asks for and at 28 their size (both little-endian 32, the size as
 * vtb_gn_size takes it), the block's bytes from 32; the peer answers with
 * that many frames of its own stream (seq from 0 for the boot), the MACs
 * the other way round, laid out as above. */
#ifndef VTB_GUEST_NET_H
#define VTB_GUEST_NET_H

#include <stdbool.h>
#include <stdint.h>

#define VTB_GN_ETHERTYPE 0x88b5u	/* IEEE 802 local experimental */
#define VTB_GN_HDR 24u
#define VTB_GN_MIN 60u
#define VTB_GN_MAX 9014u
#define VTB_GN_SLOTS 1024u
#define VTB_GN_BLOCK (VTB_GN_SLOTS * 8u + VTB_GN_MAX)
#define VTB_GN_ECHO 1u		/* the peer sends it back, MACs swapped */
#define VTB_GN_FENCE 2u		/* echoed, not counted: everything before it has arrived */
#define VTB_GN_PULL 4u		/* not counted: send me N frames of size S */
#define VTB_GN_PULL_COUNT 24u
#define VTB_GN_PULL_SIZE 28u
#define VTB_GN_PULL_DATA 32u
#define VTB_GN_IMIX (-1)	/* the cell's size: 7:4:1 of 64, 594, 1518 */

static const uint8_t vtb_gn_guest_mac[6] = { 0x52, 0x54, 0x00, 0x76, 0x74, 0x01 };
static const uint8_t vtb_gn_peer_mac[6] = { 0x52, 0x54, 0x00, 0x76, 0x74, 0x02 };

static inline uint32_t vtb_gn_size(int size, uint64_t seq)
{
	static const uint16_t imix[12] = { 64, 594, 64, 64, 1518, 64, 594, 64, 64, 594, 64, 594 };
	return size == VTB_GN_IMIX ? imix[seq % 12] : (uint32_t)size;
}

static inline void vtb_gn_block(uint8_t *block, uint64_t seed)
{
	for (uint32_t i = 0; i < VTB_GN_BLOCK; i += 8) {
		uint64_t x = seed ^ ((uint64_t)i << 20) ^ 0x6e6574ull;
		x += 0x9e3779b97f4a7c15ULL;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
		x ^= x >> 31;
		for (uint32_t b = 0; b < 8 && i + b < VTB_GN_BLOCK; b++)
			block[i + b] = (uint8_t)(x >> (8 * b));
	}
}

static inline const uint8_t *vtb_gn_payload(const uint8_t *block, uint64_t seq)
{
	return block + (seq % VTB_GN_SLOTS) * 8u;
}

static inline void vtb_gn_le32(uint8_t *p, uint32_t v)
{
	for (int b = 0; b < 4; b++)
		p[b] = (uint8_t)(v >> (8 * b));
}

static inline uint32_t vtb_gn_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A frame of len bytes (VTB_GN_MIN..VTB_GN_MAX) from src to dst. */
static inline void vtb_gn_frame_to(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint32_t len,
				   const uint8_t *block, uint64_t seq, uint8_t flags)
{
	__builtin_memcpy(f, dst, 6);
	__builtin_memcpy(f + 6, src, 6);
	f[12] = VTB_GN_ETHERTYPE >> 8;
	f[13] = VTB_GN_ETHERTYPE & 0xff;
	for (int b = 0; b < 8; b++)
		f[14 + b] = (uint8_t)(seq >> (8 * b));
	f[22] = flags;
	f[23] = 0;
	__builtin_memcpy(f + VTB_GN_HDR, vtb_gn_payload(block, seq), len - VTB_GN_HDR);
}

/* A frame of len bytes from the guest to the peer. */
static inline void vtb_gn_frame(uint8_t *f, uint32_t len, const uint8_t *block, uint64_t seq, uint8_t flags)
{
	vtb_gn_frame_to(f, vtb_gn_peer_mac, vtb_gn_guest_mac, len, block, seq, flags);
}

/* The guest's pull: count frames of size (as vtb_gn_size takes it). */
static inline void vtb_gn_pull(uint8_t *f, const uint8_t *block, uint64_t seq, uint32_t count, int size)
{
	vtb_gn_frame(f, VTB_GN_MIN, block, seq, VTB_GN_PULL);
	vtb_gn_le32(f + VTB_GN_PULL_COUNT, count);
	vtb_gn_le32(f + VTB_GN_PULL_SIZE, (uint32_t)size);
}

static inline uint64_t vtb_gn_seq(const uint8_t *f)
{
	uint64_t s = 0;
	for (int b = 7; b >= 0; b--)
		s = s << 8 | f[14 + b];
	return s;
}

/* What the peer does with a frame from the guest (vtb_gn_take): the
 * harness's peer over a socket and vtbench serve's net model (mode=guest)
 * are the same peer. */
struct vtb_gn_taken {
	bool other;		/* not vtb_guest's: counted, never echoed */
	bool lost;		/* the planted fault dropped it */
	bool bad;		/* a header or payload byte changed */
	bool counted;		/* a data frame: one frame, len bytes */
	bool echo;		/* send it back: its MACs are swapped in place */
	uint64_t gap;		/* frames missing before it */
	uint32_t pull_count;	/* a good pull: send this many frames... */
	int pull_size;		/* ...of this size (vtb_gn_size's) */
};

#define VTB_GN_PULL_MAX 4096u	/* frames one pull may ask for: a guest's qd is at most 256 */

/* Classifies frame f (len bytes) against the boot's block and the next
 * sequence number expected (*next_seq, advanced).  plant: NULL, or the
 * planted fault's count of data frames, every tenth of which is lost. */
static inline struct vtb_gn_taken vtb_gn_take(uint8_t *f, uint32_t len, const uint8_t *block, uint64_t *next_seq,
					      uint64_t *plant)
{
	struct vtb_gn_taken t = { 0 };
	if (len < VTB_GN_HDR || len > VTB_GN_MAX || ((unsigned)f[12] << 8 | f[13]) != VTB_GN_ETHERTYPE ||
	    __builtin_memcmp(f, vtb_gn_peer_mac, 6)) {
		t.other = true;
		return t;
	}
	uint64_t seq = vtb_gn_seq(f);
	uint8_t flags = f[22];
	bool pull = flags & VTB_GN_PULL;
	if (plant && !(flags & (VTB_GN_ECHO | VTB_GN_FENCE | VTB_GN_PULL)) && ++*plant % 10 == 0) {
		t.lost = true;
		return t;
	}
	if (seq != *next_seq)
		t.gap = seq > *next_seq ? seq - *next_seq : 1;
	*next_seq = seq + 1;
	uint32_t from = pull ? VTB_GN_PULL_DATA : VTB_GN_HDR;	/* a pull's count and size replace payload */
	if (__builtin_memcmp(f + 6, vtb_gn_guest_mac, 6) || f[23] || (pull && len != VTB_GN_MIN) ||
	    __builtin_memcmp(f + from, vtb_gn_payload(block, seq) + (from - VTB_GN_HDR), len - from)) {
		t.bad = true;
		if (pull)
			return t;	/* unanswered: its count may be what changed */
	}
	if (pull) {
		uint32_t count = vtb_gn_get32(f + VTB_GN_PULL_COUNT);
		int size = (int)vtb_gn_get32(f + VTB_GN_PULL_SIZE);
		if (!count || count > VTB_GN_PULL_MAX ||
		    (size != VTB_GN_IMIX && (size < (int)VTB_GN_MIN || size > (int)VTB_GN_MAX)))
			t.bad = true;	/* more than a window, or a size no cell has: none */
		else
			t.pull_count = count, t.pull_size = size;
		return t;
	}
	t.counted = !(flags & VTB_GN_FENCE);
	if (flags & (VTB_GN_ECHO | VTB_GN_FENCE)) {
		uint8_t mac[6];
		__builtin_memcpy(mac, f, 6);
		__builtin_memcpy(f, f + 6, 6);
		__builtin_memcpy(f + 6, mac, 6);
		t.echo = true;
	}
	return t;
}

#endif
