/* Domain reports: what a domain encodes is what the harness decodes, field
 * for field; anything else (cut short, a byte changed, another kind, a
 * count the reader does not have) is refused and never read past its
 * length. */
#include <errno.h>
#include <string.h>

#include "../../ci/vtb_test.h"
#include "../report.h"

static uint8_t buf[VTB_REPORT_MAX];

static void fill_fe(struct vtb_fe_report *r)
{
	vtb_fe_report_init(r);
	r->ops = 123456;
	r->bytes = 505000000;
	r->verify_errors = 3;
	r->seconds = 0.125;
	r->cpu_s = 0.0625;
	r->slice_ns = 3.75e6;
	r->steal_s[1] = 0.001;
	r->d.copies = 7;
	r->d.xport_ops = 99;
	r->d.waits = 1ull << 40;
	for (uint64_t v = 100; v < 5000000; v = v * 3 / 2)
		vtb_hist_add(&r->hist, v);
	vtb_hist_add(&r->usdt_user, 777);
	r->nslices = 32;
	for (unsigned i = 0; i < VTB_SLICES; i++) {
		r->slice_ops[i] = 1000 + i;
		r->slice_dur_ns[i] = 3.75e6 + i;
	}
	r->perf.sw = true;
	r->perf.v[0] = 42;
	snprintf(r->perf.why, sizeof(r->perf.why), "no PMU in this VM");
}

static void fill_be(struct vtb_be_report *r)
{
	memset(r, 0, sizeof(*r));
	r->d.maps = 5;
	r->d.unmaps_keep_va = 4;
	r->cpu_s = 0.1;
	r->perf.hw = true;
	r->ndev = 3;
	for (unsigned i = 0; i < 3; i++) {
		snprintf(r->dev_name[i], sizeof(r->dev_name[i]), "stat%u", i);
		r->dev_val[i] = 10 * i + 1;
	}
}

static void test_roundtrip(void)
{
	struct vtb_fe_report a, b;
	fill_fe(&a);
	size_t n = vtb_fe_report_encode(&a, buf, sizeof(buf));
	CHECK(n > 0 && n < sizeof(buf));
	CHECK_EQ(vtb_fe_report_decode(buf, n, &b), 0);
	CHECK(b.ops == a.ops && b.bytes == a.bytes && b.verify_errors == a.verify_errors);
	CHECK(b.seconds == a.seconds && b.cpu_s == a.cpu_s && b.slice_ns == a.slice_ns);
	CHECK(b.steal_s[0] == -1 && b.steal_s[1] == a.steal_s[1]);
	CHECK(!memcmp(&b.d, &a.d, sizeof(a.d)));
	CHECK(!memcmp(&b.hist, &a.hist, sizeof(a.hist)));
	CHECK(!memcmp(&b.usdt_user, &a.usdt_user, sizeof(a.usdt_user)));
	CHECK(b.nslices == 32 && !memcmp(b.slice_ops, a.slice_ops, sizeof(a.slice_ops)) &&
	      !memcmp(b.slice_dur_ns, a.slice_dur_ns, sizeof(a.slice_dur_ns)));
	CHECK(b.perf.sw && !b.perf.hw && b.perf.v[0] == 42 && !strcmp(b.perf.why, a.perf.why));

	struct vtb_be_report c, d;
	fill_be(&c);
	n = vtb_be_report_encode(&c, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ(vtb_be_report_decode(buf, n, &d), 0);
	CHECK(!memcmp(&d.d, &c.d, sizeof(c.d)) && d.cpu_s == c.cpu_s && d.perf.hw);
	CHECK_EQ(d.ndev, 3);
	CHECK(!strcmp(d.dev_name[2], "stat2") && d.dev_val[2] == 21);

	/* Into the cell's figures. */
	struct vtb_cell_result r;
	memset(&r, 0, sizeof(r));
	vtb_report_merge(&r, &b, &d);
	CHECK(r.ops == a.ops && r.d[0].copies == 7 && r.d[1].maps == 5 && r.cpu_s[1] == 0.1);
	CHECK(r.ndev == 3 && r.dev_names[1] && !strcmp(r.dev_names[1], "stat1") && r.dev_vals[1] == 11);
	memset(&r, 0, sizeof(r));
	vtb_report_merge(&r, NULL, NULL);
	CHECK(r.ops == 0 && r.steal_s[0] == -1 && r.ndev == 0);
}

/* Every prefix of a report, and every report with one byte changed in its
 * header or counts, is refused or decodes to a consistent report. */
static void test_refused(void)
{
	struct vtb_fe_report a, b;
	fill_fe(&a);
	size_t n = vtb_fe_report_encode(&a, buf, sizeof(buf));
	unsigned refused = 0;
	for (size_t len = 0; len < n; len++)
		refused += vtb_fe_report_decode(buf, len, &b) == -EPROTO;
	CHECK_EQ(refused, n);
	/* One more byte than the header says. */
	CHECK_EQ(vtb_fe_report_decode(buf, n + 1, &b), -EPROTO);
	/* Another kind of report. */
	struct vtb_be_report c;
	CHECK_EQ(vtb_be_report_decode(buf, n, &c), -EPROTO);
	/* Too small a buffer to encode into. */
	CHECK_EQ(vtb_fe_report_encode(&a, buf, n - 1), 0);
	n = vtb_fe_report_encode(&a, buf, sizeof(buf));
	for (size_t i = 0; i < n; i++) {
		uint8_t keep = buf[i];
		buf[i] ^= 0x5a;
		int e = vtb_fe_report_decode(buf, n, &b);
		if (!e) {
			/* A changed value, not a changed shape: still self-consistent. */
			uint64_t total = 0;
			for (unsigned k = 0; k < VTB_HIST_BUCKETS; k++)
				total += b.hist.b[k];
			CHECK(total == b.hist.count && b.nslices <= VTB_SLICES);
		} else {
			CHECK_EQ(e, -EPROTO);
		}
		buf[i] = keep;
	}
	/* The header's magic, version and length are each checked. */
	for (size_t i = 0; i < 12; i++) {
		buf[i] ^= 1;
		CHECK_EQ(vtb_fe_report_decode(buf, n, &b), -EPROTO);
		buf[i] ^= 1;
	}
	/* A BE claiming more device stats than the harness has room for. */
	struct vtb_be_report d;
	fill_be(&d);
	d.ndev = VTB_DEV_STATS;
	n = vtb_be_report_encode(&d, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ(vtb_be_report_decode(buf, n, &c), 0);
	CHECK_EQ(c.ndev, VTB_DEV_STATS);
}

int main(void)
{
	test_roundtrip();
	test_refused();
	return vtb_test_end("test_report");
}
