/* Xen grant table v1 (xen/include/public/grant_table.h), the parts a
 * frontend and the hypervisor's checks need.  Freestanding; layouts pinned
 * here and compared with the Xen header in transports/tests/test_uapi.c. */
#ifndef VTB_GRANT_H
#define VTB_GRANT_H

#include "vtb_compiler.h"

struct vtb_grant_entry_v1 {
	uint16_t flags;		/* GTF_*: [XEN, GST] */
	uint16_t domid;		/* the domain being granted access [GST] */
	uint32_t frame;		/* the frame it may map or access [GST] */
};
_Static_assert(sizeof(struct vtb_grant_entry_v1) == 8, "grant_entry_v1 is 8 bytes");
_Static_assert(offsetof(struct vtb_grant_entry_v1, domid) == 2, "grant_entry_v1.domid");
_Static_assert(offsetof(struct vtb_grant_entry_v1, frame) == 4, "grant_entry_v1.frame");

#define VTB_GTF_invalid       0u
#define VTB_GTF_permit_access 1u
#define VTB_GTF_type_mask     3u
#define VTB_GTF_readonly      (1u << 2)
#define VTB_GTF_reading       (1u << 3)
#define VTB_GTF_writing       (1u << 4)

#define VTB_GNTST_okay              0
#define VTB_GNTST_general_error     (-1)
#define VTB_GNTST_bad_domain        (-2)
#define VTB_GNTST_bad_gntref        (-3)
#define VTB_GNTST_bad_page          (-9)
#define VTB_GNTST_permission_denied (-8)
#define VTB_GNTST_bad_copy_arg      (-10)

#define VTB_GNTTABOP_map_grant_ref   0
#define VTB_GNTTABOP_unmap_grant_ref 1
#define VTB_GNTTABOP_copy            5

#define VTB_GNTTAB_NR_RESERVED_ENTRIES 8	/* kept for the toolstack */
#define VTB_XEN_PAGE_SHIFT 12
#define VTB_XEN_PAGE_SIZE (1u << VTB_XEN_PAGE_SHIFT)

/* Linux drivers/xen/grant-dma-ops.c: a device address names a grant. */
#define VTB_GRANT_DMA_ADDR_OFF (1ull << 63)
static inline uint64_t vtb_grant_to_dma(uint32_t gref)
{
	return VTB_GRANT_DMA_ADDR_OFF | ((uint64_t)gref << VTB_XEN_PAGE_SHIFT);
}
static inline bool vtb_dma_is_grant(uint64_t addr)
{
	return addr & VTB_GRANT_DMA_ADDR_OFF;
}
static inline uint64_t vtb_dma_to_gref(uint64_t addr)
{
	return (addr & ~VTB_GRANT_DMA_ADDR_OFF) >> VTB_XEN_PAGE_SHIFT;
}

/* The hypervisor's check before a map or copy: 0, or a GNTST_* status. */
static inline int vtb_grant_check(uint16_t flags, uint16_t domid, uint16_t who, bool write)
{
	if ((flags & VTB_GTF_type_mask) != VTB_GTF_permit_access)
		return VTB_GNTST_bad_gntref;
	if (domid != who)
		return VTB_GNTST_permission_denied;
	if (write && (flags & VTB_GTF_readonly))
		return VTB_GNTST_permission_denied;
	return VTB_GNTST_okay;
}

#endif
