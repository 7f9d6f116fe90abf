/* The virtio-iommu device of the viommu transport against the device
 * requirements of virtio 1.2 §5.13.6 and what Linux's virtio-iommu driver
 * sends: requests go through a real request queue (the driver side of the
 * core adds them, the device pops and answers them), in crafted framings. */
#include <string.h>
#include <sys/mman.h>

#include "../../ci/vtb_test.h"
#include "procdom.h"
#include "../viommu_dev.h"

#define RAM (4u << 20)		/* FE RAM */
#define NUM 64			/* request queue entries */
#define BASE 0x40000ull		/* where the request region sits in FE address terms */
#define BUF 0x4000u		/* request buffers: offset in the region */
#define PG VTB_VIOMMU_PAGE

#ifndef VTB_VIOMMU_T_PROBE
#define VTB_VIOMMU_T_PROBE 5
#endif

static _Alignas(4096) uint8_t region[0x8000];
static _Alignas(16) uint8_t drv_mem[1 << 14], dev_mem[1 << 14];
static struct vtb_vqd *drv;
static struct vtb_vqdev *devq;
static struct vtb_viommu_dev D;
static struct vtb_dom fe;
static uint8_t *fe_ram;
static struct vtb_plat_counters ctr;
static struct vtb_plat plat = { &vtb_platform_proc, &ctr, NULL };
static int tok;

/* The device reaches the request region only. */
static void *rbuf(void *ctx, uint64_t addr, uint32_t len)
{
	(void)ctx;
	if (addr < BASE || addr - BASE > sizeof(region) || len > sizeof(region) - (addr - BASE))
		return NULL;
	return region + (addr - BASE);
}

/* A fresh device and request queue. */
static void setup(void)
{
	vtb_viommu_dev_fini(&D);
	CHECK_EQ(vtb_viommu_dev_init(&D, &plat, &fe), 0);
	memset(region, 0, sizeof(region));
	CHECK(vtb_vqd_memsize(NUM) <= sizeof(drv_mem) && vtb_vqdev_memsize(NUM) <= sizeof(dev_mem));
	CHECK(vtb_vring_bytes(NUM) <= BUF);
	struct vtb_vqd_params dp = { .num = NUM, .ring = region };
	struct vtb_vqdev_params vp = { .num = NUM, .desc = region, .avail = region + vtb_vring_avail_off(NUM),
				       .used = region + vtb_vring_used_off(NUM) };
	drv = vtb_vqd_init(drv_mem, &dp);
	devq = vtb_vqdev_init(dev_mem, &vp);
	CHECK(drv && devq);
}

/* Offers one chain: the first nout lengths device-readable (carrying req's
 * bytes in order), the next nin device-writable (prefilled with 0xee).
 * Returns the first writable byte after the device answered, the used
 * length in *used; -1000 - r if the device did not serve it (r < 0: it
 * found the queue malformed). */
static int sendv(const void *req, const uint32_t *len, unsigned nout, unsigned nin, uint32_t *used,
		 uint64_t bad_addr_seg)
{
	struct vtb_sg sg[NUM];
	uint32_t off = 0, outb = 0;
	for (unsigned i = 0; i < nout + nin; i++) {
		sg[i].addr = BASE + BUF + off;
		sg[i].len = len[i];
		if (i == bad_addr_seg)
			sg[i].addr = BASE + sizeof(region) + 0x1000;
		off += len[i];
		if (i < nout)
			outb += len[i];
	}
	memcpy(region + BUF, req, outb);
	memset(region + BUF + outb, 0xee, off - outb + 4);
	CHECK_EQ(vtb_vqd_add(drv, sg, nout, nin, &tok, false), 0);
	vtb_vqd_kick_prepare(drv);
	int r = vtb_viommu_dev_serve(&D, devq, rbuf, NULL);
	if (r != 1)
		return -1000 + r;
	*used = ~0u;
	CHECK(vtb_vqd_get_used(drv, used) == &tok);
	return region[BUF + outb];
}

/* Linux's framing: everything but the tail readable, the tail writable.
 * Returns the status, -1 if the buffers came back unwritten (used length
 * 0, the tail untouched), -2 for any other used length. */
static int req(const void *r, size_t size)
{
	uint32_t len[2] = { (uint32_t)size - 4, 4 }, used;
	int st = sendv(r, len, 1, 1, &used, ~0ull);
	if (st < 0)
		return st;
	if (used == 0)
		return st == 0xee ? -1 : -3;
	return used == 4 ? st : -2;
}

static int attach_ep(uint32_t domain, uint32_t endpoint, uint32_t flags)
{
	struct vtb_viommu_attach a = { .head.type = VTB_VIOMMU_T_ATTACH, .domain = vtb_le32(domain),
				       .endpoint = vtb_le32(endpoint), .flags = vtb_le32(flags) };
	return req(&a, sizeof(a));
}

static int attach(uint32_t domain, uint32_t flags) { return attach_ep(domain, VTB_VIOMMU_ENDPOINT, flags); }

/* struct virtio_iommu_req_detach, spelled out here. */
struct t_detach {
	struct vtb_viommu_head head;
	uint32_t domain, endpoint;
	uint8_t reserved[8];
	struct vtb_viommu_tail tail;
};

static int detach_ep(uint32_t domain, uint32_t endpoint, uint8_t reserved)
{
	struct t_detach d = { .head.type = VTB_VIOMMU_T_DETACH, .domain = vtb_le32(domain),
			      .endpoint = vtb_le32(endpoint), .reserved = { reserved } };
	return req(&d, sizeof(d));
}

static int map(uint32_t domain, uint64_t start, uint64_t end, uint64_t phys, uint32_t flags)
{
	struct vtb_viommu_map m = { .head.type = VTB_VIOMMU_T_MAP, .domain = vtb_le32(domain),
				    .virt_start = vtb_le64(start), .virt_end = vtb_le64(end),
				    .phys_start = vtb_le64(phys), .flags = vtb_le32(flags) };
	return req(&m, sizeof(m));
}

static int unmap(uint32_t domain, uint64_t start, uint64_t end)
{
	struct vtb_viommu_unmap u = { .head.type = VTB_VIOMMU_T_UNMAP, .domain = vtb_le32(domain),
				      .virt_start = vtb_le64(start), .virt_end = vtb_le64(end) };
	return req(&u, sizeof(u));
}

static bool readable(uint64_t iova, uint64_t len) { return vtb_viommu_dev_at(&D, iova, len, false); }
static bool writable(uint64_t iova, uint64_t len) { return vtb_viommu_dev_at(&D, iova, len, true); }

#define R VTB_VIOMMU_MAP_F_READ
#define W VTB_VIOMMU_MAP_F_WRITE

/* §5.13.6.5.2: misaligned virt_start, phys_start or virt_end + 1: RANGE. */
static void test_map(void)
{
	setup();
	CHECK_EQ(attach(1, 0), VTB_VIOMMU_S_OK);
	CHECK_EQ(map(1, 0x1001, 0x1fff, 0x3000, R), VTB_VIOMMU_S_RANGE);
	CHECK_EQ(map(1, 0x1000, 0x1ffe, 0x3000, R), VTB_VIOMMU_S_RANGE);
	CHECK_EQ(map(1, 0x1000, 0x1fff, 0x3800, R), VTB_VIOMMU_S_RANGE);
	CHECK_EQ(map(1, 0x1800, 0x27ff, 0x3800, R), VTB_VIOMMU_S_RANGE);
	CHECK(!readable(0x1000, 1) && !readable(0x2000, 1));
	CHECK_EQ(map(1, 0x1000, 0x1fff, 0x3000, 8), VTB_VIOMMU_S_INVAL);	/* unknown flag */
	CHECK_EQ(map(1, 0x1000, 0x1fff, 0x3000, 4), VTB_VIOMMU_S_INVAL);	/* MMIO: F_MMIO not offered */
	CHECK_EQ(map(2, 0x1000, 0x1fff, 0x3000, R), VTB_VIOMMU_S_NOENT);
	CHECK_EQ(map(1, 0x2000, 0x0fff, 0x3000, R), VTB_VIOMMU_S_INVAL);	/* virt_end below virt_start */
	CHECK_EQ(map(1, (uint64_t)VTB_VIOMMU_IOVA_PAGES * PG, (uint64_t)VTB_VIOMMU_IOVA_PAGES * PG + 0xfff, 0, R),
		 VTB_VIOMMU_S_RANGE);	/* outside input_range */
	CHECK_EQ(map(1, 0x1000, 0x1fff, RAM, R), VTB_VIOMMU_S_RANGE);	/* outside guest RAM */
	CHECK_EQ(map(1, 0x1000, 0x2fff, 0x3000, R | W), VTB_VIOMMU_S_OK);
	CHECK(readable(0x1000, 0x2000));
	CHECK_EQ(map(1, 0x2000, 0x2fff, 0x9000, R), VTB_VIOMMU_S_INVAL);	/* overlaps */
}

/* §5.13.6.6: an UNMAP removes the mappings it covers wholly; one that
 * would split a mapping fails with RANGE and removes nothing. */
static void test_unmap(void)
{
	setup();
	CHECK_EQ(attach(1, 0), VTB_VIOMMU_S_OK);
	CHECK_EQ(unmap(1, 0, 0x4fff), VTB_VIOMMU_S_OK);		/* example (1) */
	CHECK_EQ(map(1, 0x10000, 0x13fff, 0x10000, R), VTB_VIOMMU_S_OK);
	CHECK_EQ(unmap(1, 0x10000, 0x11fff), VTB_VIOMMU_S_RANGE);	/* example (4) */
	CHECK(readable(0x10000, 0x4000));
	CHECK_EQ(unmap(1, 0x11000, 0x13fff), VTB_VIOMMU_S_RANGE);
	CHECK_EQ(unmap(1, 0x10800, 0x13fff), VTB_VIOMMU_S_RANGE);
	CHECK_EQ(unmap(1, 0x10000, 0x13ffe), VTB_VIOMMU_S_RANGE);
	CHECK(readable(0x10000, 0x4000));
	/* Two adjacent mappings: each is its own. */
	CHECK_EQ(map(1, 0x14000, 0x14fff, 0x20000, R), VTB_VIOMMU_S_OK);
	CHECK_EQ(unmap(1, 0x10000, 0x147ff), VTB_VIOMMU_S_RANGE);	/* a whole, b split: nothing */
	CHECK(readable(0x10000, 0x5000));
	CHECK_EQ(unmap(1, 0xf000, 0x13fff), VTB_VIOMMU_S_OK);	/* example (5)/(6) */
	CHECK(!readable(0x10000, 1) && !readable(0x13fff, 1));
	CHECK(readable(0x14000, 0x1000));
	/* A range spilling past the input range (Linux never sends one, a
	 * driver may): what it covers goes. */
	CHECK_EQ(map(1, 0x20000, 0x20fff, 0x30000, R), VTB_VIOMMU_S_OK);
	CHECK_EQ(unmap(1, 0x13800, ~0ull), VTB_VIOMMU_S_OK);	/* starts in unmapped space */
	CHECK(!readable(0x14000, 1) && !readable(0x20000, 1));
	CHECK_EQ(unmap(1, 0x2000, 0x1fff), VTB_VIOMMU_S_INVAL);
	CHECK_EQ(unmap(2, 0, 0xfff), VTB_VIOMMU_S_NOENT);
}

/* Bypass domains (§5.13.6.5.2, §5.13.6.6.2): MAP and UNMAP are INVAL. */
static void test_bypass(void)
{
	setup();
	CHECK_EQ(attach(1, VTB_VIOMMU_ATTACH_F_BYPASS), VTB_VIOMMU_S_OK);
	CHECK(readable(0x3000, 0x1000) && writable(RAM - 0x1000, 0x1000));
	CHECK_EQ(map(1, RAM, RAM + 0xfff, 0, R), VTB_VIOMMU_S_INVAL);
	CHECK_EQ(unmap(1, 0, 0xfff), VTB_VIOMMU_S_INVAL);
	CHECK(readable(0, 0x1000));
	CHECK_EQ(attach(1, 0), VTB_VIOMMU_S_INVAL);	/* flag inconsistent with the domain */
	CHECK(readable(0, 0x1000));
	CHECK_EQ(detach_ep(1, VTB_VIOMMU_ENDPOINT, 0), VTB_VIOMMU_S_OK);
	CHECK(!readable(0, 1));		/* unattached, not in bypass mode */
}

/* §5.13.6.3.2 */
static void test_attach(void)
{
	setup();
	struct vtb_viommu_attach a = { .head.type = VTB_VIOMMU_T_ATTACH, .domain = vtb_le32(1),
				       .endpoint = vtb_le32(VTB_VIOMMU_ENDPOINT), .reserved = { 0, 0, 1, 0 } };
	CHECK_EQ(req(&a, sizeof(a)), VTB_VIOMMU_S_INVAL);
	CHECK_EQ(attach(1, 2), VTB_VIOMMU_S_INVAL);		/* unknown flag */
	CHECK_EQ(attach_ep(1, 5, 0), VTB_VIOMMU_S_NOENT);	/* no such endpoint */
	CHECK_EQ(map(1, 0x1000, 0x1fff, 0, R), VTB_VIOMMU_S_NOENT);	/* nothing was created */
	CHECK_EQ(attach(7, 0), VTB_VIOMMU_S_OK);		/* creates domain 7 */
	CHECK_EQ(map(7, 0x1000, 0x1fff, 0, R), VTB_VIOMMU_S_OK);
	CHECK_EQ(map(1, 0x3000, 0x3fff, 0, R), VTB_VIOMMU_S_NOENT);
	CHECK_EQ(attach(7, 0), VTB_VIOMMU_S_OK);		/* already there: mappings stay */
	CHECK(readable(0x1000, 0x1000));
	/* Moving the endpoint detaches it from 7 first; 7 is left without
	 * endpoints and ceases to exist, with its mappings. */
	CHECK_EQ(attach(9, 0), VTB_VIOMMU_S_OK);
	CHECK(!readable(0x1000, 1));
	CHECK_EQ(map(7, 0x1000, 0x1fff, 0, R), VTB_VIOMMU_S_NOENT);
	CHECK_EQ(map(9, 0x1000, 0x1fff, 0, R), VTB_VIOMMU_S_OK);
	CHECK_EQ(attach(9, VTB_VIOMMU_ATTACH_F_BYPASS), VTB_VIOMMU_S_INVAL);
	CHECK(readable(0x1000, 0x1000));
#ifdef VTB_VIOMMU_F_DOMAIN_RANGE
	/* A device that advertises fewer domains refuses ids outside them. */
	D.cfg.domain_range.start = vtb_le32(1);
	D.cfg.domain_range.end = vtb_le32(15);
	CHECK_EQ(attach(16, 0), VTB_VIOMMU_S_RANGE);
	CHECK_EQ(attach(0, 0), VTB_VIOMMU_S_RANGE);
	CHECK(readable(0x1000, 0x1000));		/* still attached to 9 */
	CHECK_EQ(attach(15, 0), VTB_VIOMMU_S_OK);
#endif
}

/* §5.13.6.4.2 */
static void test_detach(void)
{
	setup();
	CHECK_EQ(detach_ep(3, VTB_VIOMMU_ENDPOINT, 0), VTB_VIOMMU_S_INVAL);	/* not attached */
	CHECK_EQ(attach(3, 0), VTB_VIOMMU_S_OK);
	CHECK_EQ(map(3, 0x1000, 0x1fff, 0, R), VTB_VIOMMU_S_OK);
	CHECK_EQ(detach_ep(3, 5, 0), VTB_VIOMMU_S_NOENT);
	CHECK_EQ(detach_ep(4, VTB_VIOMMU_ENDPOINT, 0), VTB_VIOMMU_S_INVAL);
	CHECK(readable(0x1000, 0x1000));
	CHECK_EQ(detach_ep(3, VTB_VIOMMU_ENDPOINT, 0xff), VTB_VIOMMU_S_OK);	/* reserved ignored */
	CHECK(!readable(0x1000, 1));
	CHECK_EQ(map(3, 0x1000, 0x1fff, 0, R), VTB_VIOMMU_S_NOENT);	/* the domain is gone */
	CHECK_EQ(detach_ep(3, VTB_VIOMMU_ENDPOINT, 0), VTB_VIOMMU_S_INVAL);
	CHECK_EQ(attach(3, 0), VTB_VIOMMU_S_OK);			/* a new, empty domain 3 */
	CHECK(!readable(0x1000, 1));
	CHECK_EQ(map(3, 0x1000, 0x1fff, 0, R), VTB_VIOMMU_S_OK);
}

/* §5.13.6.2: an unrecognized type is returned unwritten, used length 0;
 * so is a PROBE when F_PROBE is not offered (§5.13.6.7.2). */
static void test_unknown(void)
{
	setup();
	uint8_t r[32] = { 0x7f };
	CHECK_EQ(req(r, sizeof(r)), -1);
	r[0] = 0;
	CHECK_EQ(req(r, sizeof(r)), -1);
	uint8_t probe[4 + 4 + 64 + 4] = { VTB_VIOMMU_T_PROBE };
	CHECK_EQ(req(probe, sizeof(probe)), -1);
	CHECK(!vtb_vqdev_broken(devq));
	CHECK_EQ(attach(1, 0), VTB_VIOMMU_S_OK);
}

/* §2.7.4.1: no assumption about the arrangement of descriptors.  A request
 * is a byte stream; one whose writable part cannot hold the tail comes back
 * unwritten (§5.13.6), one whose readable part is short for its type gets
 * INVAL; neither breaks the queue.  Only a buffer the device cannot reach
 * does. */
static void test_framing(void)
{
	setup();
	uint32_t used;
	CHECK_EQ(attach(1, 0), VTB_VIOMMU_S_OK);
	struct vtb_viommu_map m = { .head.type = VTB_VIOMMU_T_MAP, .domain = vtb_le32(1),
				    .virt_start = vtb_le64(0x1000), .virt_end = vtb_le64(0x1fff),
				    .phys_start = vtb_le64(0x5000), .flags = vtb_le32(R) };
	/* 36 readable bytes in three pieces, the tail in two. */
	CHECK_EQ(sendv(&m, (uint32_t[]){ 1, 7, 28, 2, 2 }, 3, 2, &used, ~0ull), VTB_VIOMMU_S_OK);
	CHECK_EQ(used, 4);
	CHECK_EQ(region[BUF + 36 + 1], 0);	/* tail reserved, zeroed */
	CHECK_EQ(region[BUF + 36 + 2], 0);
	CHECK(readable(0x1000, 0x1000));
	/* One readable descriptor with the head only, then the body: 4 + 32. */
	m.virt_start = vtb_le64(0x3000);
	m.virt_end = vtb_le64(0x3fff);
	CHECK_EQ(sendv(&m, (uint32_t[]){ 4, 32, 4 }, 2, 1, &used, ~0ull), VTB_VIOMMU_S_OK);
	CHECK(readable(0x3000, 0x1000));
	/* Readable part short for a MAP: INVAL, nothing mapped. */
	m.virt_start = vtb_le64(0x6000);
	m.virt_end = vtb_le64(0x6fff);
	CHECK_EQ(sendv(&m, (uint32_t[]){ 20, 4 }, 1, 1, &used, ~0ull), VTB_VIOMMU_S_INVAL);
	CHECK_EQ(used, 4);
	CHECK_EQ(sendv(&m, (uint32_t[]){ 4 }, 0, 1, &used, ~0ull), VTB_VIOMMU_S_INVAL);	/* no head */
	CHECK(!readable(0x6000, 1));
	/* Writable part too short for the tail, or none: returned unwritten. */
	CHECK_EQ(sendv(&m, (uint32_t[]){ 36, 3 }, 1, 1, &used, ~0ull), 0xee);
	CHECK_EQ(used, 0);
	CHECK_EQ(sendv(&m, (uint32_t[]){ 36, 1, 1, 1 }, 1, 3, &used, ~0ull), 0xee);
	CHECK_EQ(used, 0);
	CHECK_EQ(sendv(&m, (uint32_t[]){ 36 }, 1, 0, &used, ~0ull), 0xee);
	CHECK_EQ(used, 0);
	CHECK(!readable(0x6000, 1));
	CHECK(!vtb_vqdev_broken(devq));
	CHECK_EQ(attach(1, 0), VTB_VIOMMU_S_OK);
	/* A descriptor outside what the device reaches: a malformed queue. */
	CHECK(sendv(&m, (uint32_t[]){ 36, 4 }, 1, 1, &used, 1) < -1000);
	CHECK(D.broken);
	CHECK(vtb_viommu_dev_serve(&D, devq, rbuf, NULL) < 0);	/* sticky */
}

/* The FE maps as dma-iommu does (dma_info_to_prot): DMA_TO_DEVICE READ
 * only, DMA_FROM_DEVICE WRITE only; the device's translation enforces the
 * flags (§5.13.6.5.2: no writes without WRITE; reads without READ are
 * refused too, as the host can enforce them). */
static void test_permissions(void)
{
	setup();
	CHECK_EQ(vtb_viommu_dma_flags(false), R);
	CHECK_EQ(vtb_viommu_dma_flags(true), W);
	CHECK_EQ(attach(1, 0), VTB_VIOMMU_S_OK);
	memcpy(fe_ram + 0x5000, "device reads this", 18);
	CHECK_EQ(map(1, 0x1000, 0x1fff, 0x5000, vtb_viommu_dma_flags(false)), VTB_VIOMMU_S_OK);
	CHECK_EQ(map(1, 0x2000, 0x2fff, 0x6000, vtb_viommu_dma_flags(true)), VTB_VIOMMU_S_OK);
	CHECK_EQ(map(1, 0x3000, 0x3fff, 0x7000, R | W), VTB_VIOMMU_S_OK);
	CHECK_EQ(map(1, 0x4000, 0x4fff, 0x8000, 0), VTB_VIOMMU_S_OK);
	const char *ro = vtb_viommu_dev_at(&D, 0x1000, 18, false);
	CHECK(ro && !memcmp(ro, "device reads this", 18));
	CHECK(!writable(0x1000, 1));
	char *wo = vtb_viommu_dev_at(&D, 0x2010, 16, true);
	CHECK(wo != NULL);
	if (wo)
		memcpy(wo, "device wrote it", 16);
	CHECK(!memcmp(fe_ram + 0x6010, "device wrote it", 16));
	CHECK(!readable(0x2000, 1));
	CHECK(readable(0x3000, 0x1000) && writable(0x3000, 0x1000));
	CHECK(!readable(0x4000, 1) && !writable(0x4000, 1));
	CHECK(!writable(0x1fff, 2) && !readable(0x2fff, 2));	/* across pages of unlike rights */
	CHECK(readable(0x3000, 1) && !readable(0x2fff, 0x1001));
}

int main(void)
{
	CHECK_EQ(vtb_proc_dom_create(&fe, 0, RAM), 0);
	fe_ram = vtb_proc_dom_map_own(&fe);
	CHECK(fe_ram != NULL);
	if (!fe_ram)
		return vtb_test_end("test_viommu");
	test_map();
	test_unmap();
	test_bypass();
	test_attach();
	test_detach();
	test_unknown();
	test_framing();
	test_permissions();
	vtb_viommu_dev_fini(&D);
	vtb_proc_dom_destroy(&fe);
	return vtb_test_end("test_viommu");
}
