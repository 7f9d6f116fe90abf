#include "vtb_blk.h"

struct vtb_blk {
	struct vtb_dev_io io;
	struct vtb_blk_storage st;
	uint64_t capacity;	/* bytes */
	char id[VTB_BLK_ID_BYTES];
	struct vtb_blk_stats stats;
};

size_t vtb_blk_memsize(void)
{
	return sizeof(struct vtb_blk);
}

struct vtb_blk *vtb_blk_init(void *mem, uint64_t capacity, const struct vtb_blk_storage *st,
			     const struct vtb_dev_io *io, const char *id)
{
	if (!mem || !st || !io || capacity == 0 || capacity % VTB_BLK_SECTOR)
		return NULL;
	struct vtb_blk *b = mem;
	vtb_memset(b, 0, sizeof(*b));
	b->io = *io;
	b->st = *st;
	b->capacity = capacity;
	for (unsigned i = 0; id && id[i] && i < VTB_BLK_ID_BYTES; i++)
		b->id[i] = id[i];
	return b;
}

void vtb_blk_config(const struct vtb_blk *b, struct vtb_blk_config *c)
{
	vtb_memset(c, 0, sizeof(*c));
	c->capacity = vtb_le64(b->capacity / VTB_BLK_SECTOR);
	c->seg_max = vtb_le32(VTB_REQ_MAX_SEG - 2);
	c->blk_size = vtb_le32(VTB_BLK_SECTOR);
	c->num_queues = vtb_le16(1);
	c->max_discard_sectors = vtb_le32(VTB_BLK_MAX_DWZ_SECTORS);
	c->max_discard_seg = vtb_le32(VTB_BLK_MAX_DWZ_SEG);
	c->discard_sector_alignment = vtb_le32(1);
	c->max_write_zeroes_sectors = vtb_le32(VTB_BLK_MAX_DWZ_SECTORS);
	c->max_write_zeroes_seg = vtb_le32(VTB_BLK_MAX_DWZ_SEG);
	c->write_zeroes_may_unmap = 1;
}

/* Walks the data part of a request: readable bytes after the header (OUT)
 * or writable bytes before the status byte (IN), one storage call per
 * contiguous piece. */
static int blk_data_io(struct vtb_blk *b, const struct vtb_req *r, uint64_t off, bool in,
		       uint32_t len)
{
	unsigned first = in ? r->nout : 0, end = in ? r->nout + r->nin : r->nout;
	uint32_t skip = in ? 0 : (uint32_t)sizeof(struct vtb_blk_outhdr);
	uint32_t done = 0;
	for (unsigned i = first; i < end && done < len; i++) {
		uint32_t l = r->iov[i].len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		uint32_t n = l - skip;
		if (n > len - done)
			n = len - done;
		char *p = (char *)r->iov[i].base + skip;
		int e = in ? b->st.read(b->st.ctx, off + done, p, n)
			   : b->st.write(b->st.ctx, off + done, p, n);
		if (e)
			return e;
		done += n;
		skip = 0;
	}
	return done == len ? 0 : -VTB_EIO;
}

static uint8_t blk_dwz(struct vtb_blk *b, const struct vtb_req *r, bool zeroes)
{
	uint32_t bytes = r->out_bytes - (uint32_t)sizeof(struct vtb_blk_outhdr);
	if (bytes == 0 || bytes % sizeof(struct vtb_blk_dwz) ||
	    bytes / sizeof(struct vtb_blk_dwz) > VTB_BLK_MAX_DWZ_SEG)
		return VTB_BLK_S_UNSUPP;
	for (uint32_t k = 0; k < bytes / sizeof(struct vtb_blk_dwz); k++) {
		struct vtb_blk_dwz s;
		vtb_req_read(r, (uint32_t)(sizeof(struct vtb_blk_outhdr) + k * sizeof(s)), &s, sizeof(s));
		uint64_t sector = vtb_le64(s.sector);
		uint32_t n = vtb_le32(s.num_sectors), flags = vtb_le32(s.flags);
		/* §5.2.6.2: discard must not set unmap; no other flag is defined. */
		if ((flags & ~VTB_BLK_WZ_FLAG_UNMAP) || (!zeroes && flags) || n > VTB_BLK_MAX_DWZ_SECTORS)
			return VTB_BLK_S_UNSUPP;
		if (sector > b->capacity / VTB_BLK_SECTOR ||
		    !vtb_range_ok(sector * VTB_BLK_SECTOR, (uint64_t)n * VTB_BLK_SECTOR, b->capacity))
			return VTB_BLK_S_IOERR;
		int e = zeroes ? b->st.write_zeroes(b->st.ctx, sector * VTB_BLK_SECTOR, (uint64_t)n * VTB_BLK_SECTOR)
			       : b->st.discard(b->st.ctx, sector * VTB_BLK_SECTOR, (uint64_t)n * VTB_BLK_SECTOR);
		if (e)
			return VTB_BLK_S_IOERR;
	}
	return VTB_BLK_S_OK;
}

/* Zeroes the writable bytes from off to the status byte. */
static void blk_zero_in(const struct vtb_req *r, uint32_t off)
{
	uint32_t end = r->in_bytes - 1;
	for (unsigned i = r->nout; i < (unsigned)r->nout + r->nin && off < end; i++) {
		uint32_t l = r->iov[i].len;
		if (off >= l) {
			off -= l;
			end -= l;
			continue;
		}
		uint32_t n = (end < l ? end : l) - off;
		vtb_memset((char *)r->iov[i].base + off, 0, n);
		end -= l < end ? l : end;
		off = 0;
	}
}

uint32_t vtb_blk_handle(struct vtb_blk *b, const struct vtb_req *r)
{
	struct vtb_blk_outhdr h;
	uint8_t status = VTB_BLK_S_IOERR;
	uint32_t filled = 0;	/* writable bytes the request itself wrote */

	/* Without a header and a status byte there is nothing to answer. */
	if (r->out_bytes < sizeof(h) || r->in_bytes < 1) {
		b->stats.ioerr++;
		return 0;
	}
	vtb_req_read(r, 0, &h, sizeof(h));
	uint32_t type = vtb_le32(h.type);
	uint64_t sector = vtb_le64(h.sector);
	b->stats.reqs[type < 15 ? type : 15]++;

	switch (type) {
	case VTB_BLK_T_IN:
	case VTB_BLK_T_OUT: {
		bool in = type == VTB_BLK_T_IN;
		uint32_t len = in ? r->in_bytes - 1 : r->out_bytes - (uint32_t)sizeof(h);
		if ((in && r->out_bytes != sizeof(h)) || len % VTB_BLK_SECTOR ||
		    sector > b->capacity / VTB_BLK_SECTOR ||
		    !vtb_range_ok(sector * VTB_BLK_SECTOR, len, b->capacity))
			break;
		if (blk_data_io(b, r, sector * VTB_BLK_SECTOR, in, len))
			break;
		if (in) {
			b->stats.bytes_read += len;
			filled = len;
		} else {
			b->stats.bytes_written += len;
		}
		status = VTB_BLK_S_OK;
		break;
	}
	case VTB_BLK_T_FLUSH:
		status = b->st.flush(b->st.ctx) ? VTB_BLK_S_IOERR : VTB_BLK_S_OK;
		break;
	case VTB_BLK_T_GET_ID: {
		uint32_t n = r->in_bytes - 1 < VTB_BLK_ID_BYTES ? r->in_bytes - 1 : VTB_BLK_ID_BYTES;
		vtb_req_write(r, 0, b->id, n);
		filled = n;	/* the rest is the NUL padding */
		status = VTB_BLK_S_OK;
		break;
	}
	case VTB_BLK_T_DISCARD:
	case VTB_BLK_T_WRITE_ZEROES:
		status = blk_dwz(b, r, type == VTB_BLK_T_WRITE_ZEROES);
		break;
	default:
		status = VTB_BLK_S_UNSUPP;
		break;
	}
	if (status == VTB_BLK_S_IOERR)
		b->stats.ioerr++;
	else if (status == VTB_BLK_S_UNSUPP)
		b->stats.unsupp++;
	/* The status byte ends the writable part, so a used length that
	 * covers it covers all of it, and the device MUST have written every
	 * byte the used length counts (virtio 1.2 2.7.8.2; the driver may not
	 * trust a byte past it, 2.7.8.3).  A failed read, an unsupported
	 * request with a data-in part, a short ID: the bytes the request did
	 * not write are zeroed, so the length is true and the driver sees no
	 * stale memory (the data of a failed request is undefined anyway).
	 * Reporting only what was written would leave the status outside the
	 * used length; QEMU's in_len without the fill is what the spec's
	 * legacy note calls the historical mistake. */
	if (filled < r->in_bytes - 1)
		blk_zero_in(r, filled);
	vtb_req_write(r, r->in_bytes - 1, &status, 1);
	return r->in_bytes;
}

int vtb_blk_process(struct vtb_blk *b, unsigned budget)
{
	struct vtb_req r;
	unsigned n = 0;
	while (n < budget) {
		int got = b->io.pop(b->io.ctx, 0, &r);
		if (got < 0)
			return got;
		if (!got)
			break;
		int e = b->io.push(b->io.ctx, &r, vtb_blk_handle(b, &r));
		if (e)
			return e;
		n++;
	}
	return (int)n;
}

const struct vtb_blk_stats *vtb_blk_stats(const struct vtb_blk *b)
{
	return &b->stats;
}
