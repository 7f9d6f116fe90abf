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
#define VTB_GTF_sub_page      (1u << 8)	/* v2 sub-page grant: copy only, never mapped */

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

/* ---- the hypervisor's side (xen/common/grant_table.c, v1 tables) ----
 * The shared entry is the guest's; the active entry is the hypervisor's
 * private shadow of a pinned grant: who pinned it, which frame it was
 * pinned on (read once, after the pin is in the shared entry), and how
 * many mappings or copies hold it.  One active entry per reference; the
 * caller serialises calls on one active entry (Xen: its spinlock). */
struct vtb_grant_active {
	uint32_t pin;		/* VTB_GNTPIN_*: host write pins, host read pins */
	uint16_t domid;		/* the domain that pinned it */
	uint32_t frame;		/* the frame pinned */
};

#define VTB_GNTPIN_hstw_inc  (1u << 0)
#define VTB_GNTPIN_hstw_mask (0xffu << 0)
#define VTB_GNTPIN_hstr_inc  (1u << 8)
#define VTB_GNTPIN_hstr_mask (0xffu << 8)
#define VTB_GNTPIN_overflow  0x80808080u	/* a counter's top bit: refuse before it wraps */

/* flags and domid, compared and swapped as one 32-bit word. */
union vtb_grant_combo {
	uint32_t raw;
	struct {
		uint16_t flags;
		uint16_t domid;
	};
};
typedef uint32_t __attribute__((may_alias)) vtb_grant_raw32;
_Static_assert(sizeof(union vtb_grant_combo) == 4, "grant_combo is the entry's first word");

/* _set_status_v1: check type and domid and set GTF_reading (and, for a
 * write pin, GTF_writing) in one cmpxchg of {flags, domid}, so the guest
 * cannot revoke or retarget the entry between the check and the pin.  A
 * map also refuses GTF_sub_page (sub-page grants are copy only).  Already
 * pinned, only the readonly bit is checked (the active entry holds the
 * rest).  Bounded retries: a guest rewriting the entry faster than we can
 * cmpxchg must not livelock us.  Every refusal is GNTST_general_error. */
static inline int vtb_grant_set_status(struct vtb_grant_entry_v1 *e, const struct vtb_grant_active *act,
				       uint16_t ldomid, bool readonly, bool mapflag)
{
	vtb_grant_raw32 *raw = (vtb_grant_raw32 *)(void *)e;
	uint16_t mask = (uint16_t)(VTB_GTF_type_mask | (mapflag ? VTB_GTF_sub_page : 0));
	union vtb_grant_combo cur = { .raw = __atomic_load_n(raw, __ATOMIC_RELAXED) };
	for (unsigned retries = 0;; retries++) {
		if (!act->pin && ((cur.flags & mask) != VTB_GTF_permit_access || cur.domid != ldomid))
			return VTB_GNTST_general_error;
		union vtb_grant_combo nw = cur;
		nw.flags |= VTB_GTF_reading;
		if (!readonly) {
			nw.flags |= VTB_GTF_writing;
			if (cur.flags & VTB_GTF_readonly)
				return VTB_GNTST_general_error;
		}
		/* Full barrier, as Xen's guest_cmpxchg: the frame is read after. */
		if (__atomic_compare_exchange_n(raw, &cur.raw, nw.raw, false, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
			return VTB_GNTST_okay;
		if (retries == 4)
			return VTB_GNTST_general_error;	/* "shared grant entry is unstable" */
	}
}

/* Drop what one pin set, as Xen's unmap and copy release do: GTF_writing
 * when the last write pin goes, GTF_reading when the last pin goes. */
static inline void vtb_grant_unpin(struct vtb_grant_entry_v1 *e, struct vtb_grant_active *act, bool readonly)
{
	uint16_t clear = 0;
	act->pin -= readonly ? VTB_GNTPIN_hstr_inc : VTB_GNTPIN_hstw_inc;
	if (!readonly && !(act->pin & VTB_GNTPIN_hstw_mask))
		clear |= VTB_GTF_writing;
	if (!act->pin)
		clear |= VTB_GTF_reading;
	if (clear)
		__atomic_fetch_and(&e->flags, (uint16_t)~clear, __ATOMIC_SEQ_CST);
}

/* One host pin for a map (mapflag) or a copy: the part map_grant_ref and
 * acquire_grant_for_copy share.  nframes bounds the granting domain's
 * frames (get_paged_frame: GNTST_bad_page).  On success *frame is the
 * frame the pin holds.  The caller checks the reference against the
 * table size (GNTST_bad_gntref) first. */
static inline int vtb_grant_pin(struct vtb_grant_entry_v1 *e, struct vtb_grant_active *act, uint16_t ldomid,
				bool readonly, bool mapflag, uint64_t nframes, uint32_t *frame)
{
	/* v1 active entries are never sub-page, so a pinned entry maps. */
	if (act->pin && (act->domid != ldomid || (act->pin & VTB_GNTPIN_overflow)))
		return VTB_GNTST_general_error;
	if (!act->pin || (!readonly && !(act->pin & VTB_GNTPIN_hstw_mask))) {
		int rc = vtb_grant_set_status(e, act, ldomid, readonly, mapflag);
		if (rc)
			return rc;
		if (!act->pin) {
			uint32_t f = VTB_READ_ONCE(e->frame);
			if (f >= nframes) {
				/* unlock_out_clear: nothing holds the entry */
				__atomic_fetch_and(&e->flags, (uint16_t)~(VTB_GTF_reading | VTB_GTF_writing),
						   __ATOMIC_SEQ_CST);
				return VTB_GNTST_bad_page;
			}
			act->frame = f;
			act->domid = ldomid;
		}
	}
	act->pin += readonly ? VTB_GNTPIN_hstr_inc : VTB_GNTPIN_hstw_inc;
	*frame = act->frame;
	return VTB_GNTST_okay;
}

/* ---- the granting guest's side (Linux drivers/xen/grant-table.c) ---- */

/* gnttab_end_foreign_access_ref_v1: clear the entry only while nobody has
 * it pinned; false (the grant stays, the caller defers) otherwise. */
static inline bool vtb_grant_end_access(struct vtb_grant_entry_v1 *e)
{
	uint16_t f = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
	do {
		if (f & (VTB_GTF_reading | VTB_GTF_writing))
			return false;
	} while (!__atomic_compare_exchange_n(&e->flags, &f, (uint16_t)0, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
	return true;
}

/* Bytes of a GNTTABOP_copy op starting here: Xen refuses an op whose
 * either side crosses its page (GNTST_bad_copy_arg), so a copy splits at
 * the granted side's page boundaries and the local buffer's. */
static inline uint32_t vtb_grant_copy_piece(uint64_t grant_off, uint64_t local_off, uint32_t left)
{
	uint32_t g = VTB_XEN_PAGE_SIZE - (uint32_t)(grant_off & (VTB_XEN_PAGE_SIZE - 1));
	uint32_t l = VTB_XEN_PAGE_SIZE - (uint32_t)(local_off & (VTB_XEN_PAGE_SIZE - 1));
	uint32_t p = g < l ? g : l;
	return p < left ? p : left;
}

#endif
