/* Fat virtqueue wire layout: see transports/fatvq.md.  Freestanding. */
#ifndef VTB_FATVQ_H
#define VTB_FATVQ_H

#include "vtb_compiler.h"

#define VTB_FATVQ_REQ 1u
#define VTB_FATVQ_CMP 2u
#define VTB_FATVQ_PAD 3u
#define VTB_FATVQ_ALIGN 16u
#define VTB_FATVQ_DEFAULT_BYTES (512u << 10)

struct vtb_fatvq_ring {
	uint32_t prod;		/* producer: bytes produced, free-running */
	uint32_t need_kick;	/* consumer: notify me */
	uint8_t reserved0[56];
	uint32_t cons;		/* consumer: bytes released, free-running */
	uint32_t need_space;	/* producer: notify me when space frees */
	uint8_t reserved1[56];
	uint8_t data[];
};
_Static_assert(offsetof(struct vtb_fatvq_ring, need_kick) == 4, "fatvq ring.need_kick");
_Static_assert(offsetof(struct vtb_fatvq_ring, cons) == 64, "fatvq ring.cons on its own line");
_Static_assert(offsetof(struct vtb_fatvq_ring, need_space) == 68, "fatvq ring.need_space");
_Static_assert(offsetof(struct vtb_fatvq_ring, data) == 128, "fatvq ring.data");

struct vtb_fatvq_ent {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint32_t id;
	uint32_t aux;
};
_Static_assert(sizeof(struct vtb_fatvq_ent) == 16, "fatvq entry header");
_Static_assert(offsetof(struct vtb_fatvq_ent, len) == 4, "fatvq ent.len");
_Static_assert(offsetof(struct vtb_fatvq_ent, id) == 8, "fatvq ent.id");
_Static_assert(offsetof(struct vtb_fatvq_ent, aux) == 12, "fatvq ent.aux");

/* Bytes an entry with payload space p occupies. */
static inline uint32_t vtb_fatvq_ent_bytes(uint32_t p)
{
	return (uint32_t)sizeof(struct vtb_fatvq_ent) + ((p + VTB_FATVQ_ALIGN - 1) & ~(VTB_FATVQ_ALIGN - 1));
}

static inline uint64_t vtb_fatvq_ring_size(uint32_t data_bytes)
{
	return sizeof(struct vtb_fatvq_ring) + (uint64_t)data_bytes;
}

/* Producer: place an entry of need bytes at *prod (writing a PAD first if it
 * would cross the end).  Returns the counter value of the entry, and moves
 * *prod past it; false if the ring lacks the space.  Publishing is the
 * caller's (a release store of prod). */
static inline bool vtb_fatvq_reserve(struct vtb_fatvq_ring *r, uint32_t size, uint32_t *prod,
				     uint32_t cons, uint32_t need, uint32_t *at)
{
	uint32_t off = *prod & (size - 1);
	uint32_t pad = off + need > size ? size - off : 0;
	if (size - (*prod - cons) < pad + need)
		return false;
	if (pad) {
		struct vtb_fatvq_ent p = { vtb_le16(VTB_FATVQ_PAD), 0,
					   vtb_le32(pad - (uint32_t)sizeof(struct vtb_fatvq_ent)), 0, 0 };
		vtb_memcpy(r->data + off, &p, sizeof(p));
		*prod += pad;
	}
	*at = *prod;
	*prod += need;
	return true;
}

/* Consumer: the header at counter c, read once; false if a PAD was skipped
 * (c advanced) and true with *e filled otherwise.  -1 on a malformed PAD. */
static inline int vtb_fatvq_peek(const struct vtb_fatvq_ring *r, uint32_t size, uint32_t *c,
				 struct vtb_fatvq_ent *e)
{
	uint32_t off = *c & (size - 1);
	vtb_memcpy(e, r->data + off, sizeof(*e));	/* one read of the shared header */
	e->type = vtb_le16(e->type);
	e->flags = vtb_le16(e->flags);
	e->len = vtb_le32(e->len);
	e->id = vtb_le32(e->id);
	e->aux = vtb_le32(e->aux);
	if (e->type != VTB_FATVQ_PAD)
		return 1;
	if (e->len != size - off - (uint32_t)sizeof(*e))
		return -1;
	*c += size - off;
	return 0;
}

#endif
