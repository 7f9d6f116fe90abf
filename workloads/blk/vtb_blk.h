/* virtio-blk device model (virtio 1.2 §5.2).  Freestanding; storage is
 * reached through hooks, queues through struct vtb_dev_io. */
#ifndef VTB_BLK_H
#define VTB_BLK_H

#include "../../transports/core/vtb_devio.h"
#include "../../transports/core/vtb_virtio.h"

#define VTB_BLK_F_SIZE_MAX     1
#define VTB_BLK_F_SEG_MAX      2
#define VTB_BLK_F_BLK_SIZE     6
#define VTB_BLK_F_FLUSH        9
#define VTB_BLK_F_DISCARD      13
#define VTB_BLK_F_WRITE_ZEROES 14

#define VTB_BLK_T_IN           0
#define VTB_BLK_T_OUT          1
#define VTB_BLK_T_FLUSH        4
#define VTB_BLK_T_GET_ID       8
#define VTB_BLK_T_DISCARD      11
#define VTB_BLK_T_WRITE_ZEROES 13

#define VTB_BLK_S_OK     0
#define VTB_BLK_S_IOERR  1
#define VTB_BLK_S_UNSUPP 2

#define VTB_BLK_SECTOR 512u
#define VTB_BLK_ID_BYTES 20
#define VTB_BLK_WZ_FLAG_UNMAP 1u
#define VTB_BLK_MAX_DWZ_SEG 16u
#define VTB_BLK_MAX_DWZ_SECTORS (1u << 22)

struct vtb_blk_outhdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};
_Static_assert(sizeof(struct vtb_blk_outhdr) == 16, "blk header is 16 bytes");
_Static_assert(offsetof(struct vtb_blk_outhdr, ioprio) == 4, "outhdr.ioprio");
_Static_assert(offsetof(struct vtb_blk_outhdr, sector) == 8, "outhdr.sector");

struct vtb_blk_dwz {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};
_Static_assert(sizeof(struct vtb_blk_dwz) == 16, "discard/write-zeroes segment");
_Static_assert(offsetof(struct vtb_blk_dwz, num_sectors) == 8, "dwz.num_sectors");
_Static_assert(offsetof(struct vtb_blk_dwz, flags) == 12, "dwz.flags");

struct vtb_blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t wce;
	uint8_t unused;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));	/* as in the uapi header */
_Static_assert(offsetof(struct vtb_blk_config, seg_max) == 12, "blkcfg.seg_max");
_Static_assert(offsetof(struct vtb_blk_config, blk_size) == 20, "blkcfg.blk_size");
_Static_assert(offsetof(struct vtb_blk_config, num_queues) == 34, "blkcfg.num_queues");
_Static_assert(offsetof(struct vtb_blk_config, max_discard_sectors) == 36, "blkcfg.max_discard_sectors");
_Static_assert(offsetof(struct vtb_blk_config, write_zeroes_may_unmap) == 56, "blkcfg.wz_may_unmap");
_Static_assert(sizeof(struct vtb_blk_config) == 60, "blk config through unused1");

/* Backing storage: byte offsets, always inside the capacity. */
struct vtb_blk_storage {
	void *ctx;
	int (*read)(void *ctx, uint64_t off, void *buf, uint32_t len);
	int (*write)(void *ctx, uint64_t off, const void *buf, uint32_t len);
	int (*flush)(void *ctx);
	int (*discard)(void *ctx, uint64_t off, uint64_t len);
	int (*write_zeroes)(void *ctx, uint64_t off, uint64_t len);
};

struct vtb_blk_stats {
	uint64_t reqs[16];	/* by type, types >= 15 in [15] */
	uint64_t ioerr;
	uint64_t unsupp;
	uint64_t bytes_read;
	uint64_t bytes_written;
};

struct vtb_blk;

#define VTB_BLK_FEATURES (VTB_BIT(VTB_BLK_F_SEG_MAX) | VTB_BIT(VTB_BLK_F_BLK_SIZE) | \
			  VTB_BIT(VTB_BLK_F_FLUSH) | VTB_BIT(VTB_BLK_F_DISCARD) | \
			  VTB_BIT(VTB_BLK_F_WRITE_ZEROES))

size_t vtb_blk_memsize(void);
/* capacity in bytes, a multiple of 512; id up to 20 bytes (not NUL-terminated on the wire). */
struct vtb_blk *vtb_blk_init(void *mem, uint64_t capacity, const struct vtb_blk_storage *st,
			     const struct vtb_dev_io *io, const char *id);
void vtb_blk_config(const struct vtb_blk *b, struct vtb_blk_config *cfg);
/* Serves up to budget requests; returns how many, or <0 if the queue broke. */
int vtb_blk_process(struct vtb_blk *b, unsigned budget);
/* One request, already popped; returns its used length: the whole
 * device-writable part, which the status byte ends, every byte of it
 * written (what a failed or short request did not fill is zeroed). */
uint32_t vtb_blk_handle(struct vtb_blk *b, const struct vtb_req *r);
const struct vtb_blk_stats *vtb_blk_stats(const struct vtb_blk *b);

#endif
