/* Domain reports as bytes: a header (magic, version, kind, payload
 * length), then every field little-endian in a fixed order, each array
 * preceded by its length so a reader built differently refuses it. */
#include <errno.h>
#include <string.h>

#include "report.h"

#define MAGIC 0x52425456u	/* "VTBR" */
#define VERSION 1u
enum { KIND_FE = 1, KIND_BE = 2 };
#define HDR 12u

struct wr {
	uint8_t *p;
	size_t n, cap;
	int over;
};

struct rd {
	const uint8_t *p;
	size_t n, len;
	int bad;
};

static void put_u64(struct wr *w, uint64_t v)
{
	if (w->n + 8 > w->cap) {
		w->over = 1;
		return;
	}
	for (int i = 0; i < 8; i++)
		w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static void put_f64(struct wr *w, double d)
{
	uint64_t v;
	memcpy(&v, &d, sizeof(v));
	put_u64(w, v);
}

static void put_bytes(struct wr *w, const void *b, size_t len)
{
	put_u64(w, len);
	if (w->over || w->n + len > w->cap) {
		w->over = 1;
		return;
	}
	memcpy(w->p + w->n, b, len);
	w->n += len;
}

static uint64_t get_u64(struct rd *r)
{
	uint64_t v = 0;
	if (r->bad || r->n + 8 > r->len) {
		r->bad = 1;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[r->n++] << (8 * i);
	return v;
}

static double get_f64(struct rd *r)
{
	uint64_t v = get_u64(r);
	double d;
	memcpy(&d, &v, sizeof(d));
	return d;
}

/* A count that must be exactly want (an array of the reader's size). */
static void get_count(struct rd *r, uint64_t want)
{
	if (get_u64(r) != want)
		r->bad = 1;
}

/* A string field: at most cap - 1 bytes, always terminated. */
static void get_str(struct rd *r, char *out, size_t cap)
{
	uint64_t len = get_u64(r);
	if (r->bad || len >= cap || len > r->len - r->n) {
		r->bad = 1;
		out[0] = 0;
		return;
	}
	memcpy(out, r->p + r->n, len);
	out[len] = 0;
	r->n += len;
}

static void put_str(struct wr *w, const char *s, size_t cap)
{
	put_bytes(w, s, strnlen(s, cap - 1));
}

static void put_counters(struct wr *w, const struct vtb_plat_counters *c)
{
	uint64_t v[sizeof(*c) / 8];
	memcpy(v, c, sizeof(v));
	put_u64(w, sizeof(v) / 8);
	for (size_t i = 0; i < sizeof(v) / 8; i++)
		put_u64(w, v[i]);
}

static void get_counters(struct rd *r, struct vtb_plat_counters *c)
{
	uint64_t v[sizeof(*c) / 8];
	get_count(r, sizeof(v) / 8);
	for (size_t i = 0; i < sizeof(v) / 8; i++)
		v[i] = get_u64(r);
	memcpy(c, v, sizeof(v));
}

static void put_hist(struct wr *w, const struct vtb_hist *h)
{
	put_u64(w, h->count);
	put_u64(w, h->min);
	put_u64(w, h->max);
	put_f64(w, h->sum);
	/* Sparse: most of a cell's latencies fill a few dozen buckets. */
	uint64_t used = 0;
	for (unsigned i = 0; i < VTB_HIST_BUCKETS; i++)
		used += h->b[i] != 0;
	put_u64(w, VTB_HIST_BUCKETS);
	put_u64(w, used);
	for (unsigned i = 0; i < VTB_HIST_BUCKETS; i++)
		if (h->b[i]) {
			put_u64(w, i);
			put_u64(w, h->b[i]);
		}
}

static void get_hist(struct rd *r, struct vtb_hist *h)
{
	uint64_t total = 0;
	h->count = get_u64(r);
	h->min = get_u64(r);
	h->max = get_u64(r);
	h->sum = get_f64(r);
	memset(h->b, 0, sizeof(h->b));
	get_count(r, VTB_HIST_BUCKETS);
	uint64_t used = get_u64(r), next = 0;
	if (used > VTB_HIST_BUCKETS)
		r->bad = 1;
	for (uint64_t k = 0; k < used && !r->bad; k++) {
		uint64_t i = get_u64(r), v = get_u64(r);
		/* Each bucket once, in order, never empty. */
		if (i < next || i >= VTB_HIST_BUCKETS || !v || total + v < total) {
			r->bad = 1;
			break;
		}
		h->b[i] = v;
		total += v;
		next = i + 1;
	}
	/* The percentiles walk the buckets up to count. */
	if (total != h->count)
		r->bad = 1;
}

static void put_perf(struct wr *w, const struct vtb_perf_result *p)
{
	put_u64(w, (uint64_t)p->sw | (uint64_t)p->hw << 1 | (uint64_t)p->user_only << 2);
	put_u64(w, VTB_PC_N);
	for (unsigned i = 0; i < VTB_PC_N; i++)
		put_u64(w, p->v[i]);
	put_str(w, p->why, sizeof(p->why));
}

static void get_perf(struct rd *r, struct vtb_perf_result *p)
{
	uint64_t f = get_u64(r);
	if (f > 7)
		r->bad = 1;
	p->sw = f & 1;
	p->hw = f & 2;
	p->user_only = f & 4;
	get_count(r, VTB_PC_N);
	for (unsigned i = 0; i < VTB_PC_N; i++)
		p->v[i] = get_u64(r);
	get_str(r, p->why, sizeof(p->why));
}

static void put_header(struct wr *w, unsigned kind)
{
	if (w->cap < HDR) {
		w->over = 1;
		return;
	}
	uint32_t h[3] = { MAGIC, VERSION | kind << 16, 0 };
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 4; i++)
			w->p[w->n++] = (uint8_t)(h[k] >> (8 * i));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The payload's length into the header; the bytes written or 0. */
static size_t finish(struct wr *w)
{
	if (w->over || w->n - HDR > UINT32_MAX)
		return 0;
	uint32_t len = (uint32_t)(w->n - HDR);
	for (int i = 0; i < 4; i++)
		w->p[8 + i] = (uint8_t)(len >> (8 * i));
	return w->n;
}

static int open_rd(struct rd *r, const uint8_t *buf, size_t len, unsigned kind)
{
	*r = (struct rd){ .p = buf, .n = HDR, .len = len };
	if (len < HDR || le32(buf) != MAGIC || le32(buf + 4) != (VERSION | kind << 16) || le32(buf + 8) != len - HDR)
		return -EPROTO;
	return 0;
}

void vtb_fe_report_init(struct vtb_fe_report *r)
{
	memset(r, 0, sizeof(*r));
	r->steal_s[0] = r->steal_s[1] = -1;
	vtb_hist_reset(&r->hist);
	vtb_hist_reset(&r->usdt_user);
}

size_t vtb_fe_report_encode(const struct vtb_fe_report *r, uint8_t *buf, size_t cap)
{
	struct wr w = { buf, 0, cap, 0 };
	put_header(&w, KIND_FE);
	put_u64(&w, r->ops);
	put_u64(&w, r->bytes);
	put_u64(&w, r->verify_errors);
	put_f64(&w, r->seconds);
	put_f64(&w, r->cpu_s);
	put_f64(&w, r->slice_ns);
	put_f64(&w, r->steal_s[0]);
	put_f64(&w, r->steal_s[1]);
	put_counters(&w, &r->d);
	put_hist(&w, &r->hist);
	put_hist(&w, &r->usdt_user);
	put_u64(&w, r->nslices);
	put_u64(&w, VTB_SLICES);
	for (unsigned i = 0; i < VTB_SLICES; i++) {
		put_u64(&w, r->slice_ops[i]);
		put_f64(&w, r->slice_dur_ns[i]);
	}
	put_perf(&w, &r->perf);
	return finish(&w);
}

int vtb_fe_report_decode(const uint8_t *buf, size_t len, struct vtb_fe_report *r)
{
	struct rd d;
	memset(r, 0, sizeof(*r));
	if (open_rd(&d, buf, len, KIND_FE))
		return -EPROTO;
	r->ops = get_u64(&d);
	r->bytes = get_u64(&d);
	r->verify_errors = get_u64(&d);
	r->seconds = get_f64(&d);
	r->cpu_s = get_f64(&d);
	r->slice_ns = get_f64(&d);
	r->steal_s[0] = get_f64(&d);
	r->steal_s[1] = get_f64(&d);
	get_counters(&d, &r->d);
	get_hist(&d, &r->hist);
	get_hist(&d, &r->usdt_user);
	uint64_t ns = get_u64(&d);
	r->nslices = ns <= VTB_SLICES ? (uint32_t)ns : 0;
	if (ns > VTB_SLICES)
		d.bad = 1;
	get_count(&d, VTB_SLICES);
	for (unsigned i = 0; i < VTB_SLICES; i++) {
		uint64_t o = get_u64(&d);
		if (o > UINT32_MAX)
			d.bad = 1;
		r->slice_ops[i] = (uint32_t)o;
		r->slice_dur_ns[i] = get_f64(&d);
	}
	get_perf(&d, &r->perf);
	if (d.bad || d.n != d.len) {
		memset(r, 0, sizeof(*r));
		return -EPROTO;
	}
	return 0;
}

size_t vtb_be_report_encode(const struct vtb_be_report *r, uint8_t *buf, size_t cap)
{
	struct wr w = { buf, 0, cap, 0 };
	put_header(&w, KIND_BE);
	put_counters(&w, &r->d);
	put_f64(&w, r->cpu_s);
	put_perf(&w, &r->perf);
	uint32_t n = r->ndev < VTB_DEV_STATS ? r->ndev : VTB_DEV_STATS;
	put_u64(&w, n);
	for (unsigned i = 0; i < n; i++) {
		put_str(&w, r->dev_name[i], sizeof(r->dev_name[i]));
		put_u64(&w, r->dev_val[i]);
	}
	return finish(&w);
}

int vtb_be_report_decode(const uint8_t *buf, size_t len, struct vtb_be_report *r)
{
	struct rd d;
	memset(r, 0, sizeof(*r));
	if (open_rd(&d, buf, len, KIND_BE))
		return -EPROTO;
	get_counters(&d, &r->d);
	r->cpu_s = get_f64(&d);
	get_perf(&d, &r->perf);
	uint64_t n = get_u64(&d);
	if (n > VTB_DEV_STATS)
		d.bad = 1;
	for (unsigned i = 0; i < n && !d.bad; i++) {
		get_str(&d, r->dev_name[i], sizeof(r->dev_name[i]));
		r->dev_val[i] = get_u64(&d);
	}
	r->ndev = d.bad ? 0 : (uint32_t)n;
	if (d.bad || d.n != d.len) {
		memset(r, 0, sizeof(*r));
		return -EPROTO;
	}
	return 0;
}

void vtb_report_merge(struct vtb_cell_result *out, const struct vtb_fe_report *fe, const struct vtb_be_report *be)
{
	out->steal_s[0] = out->steal_s[1] = -1;
	if (fe) {
		out->ops = fe->ops;
		out->bytes = fe->bytes;
		out->verify_errors = fe->verify_errors;
		out->seconds = fe->seconds;
		out->cpu_s[0] = fe->cpu_s;
		out->slice_ns = fe->slice_ns;
		out->steal_s[0] = fe->steal_s[0];
		out->steal_s[1] = fe->steal_s[1];
		out->d[0] = fe->d;
		out->hist = fe->hist;
		out->usdt_user = fe->usdt_user;
		out->nslices = fe->nslices;
		memcpy(out->slice_ops, fe->slice_ops, sizeof(out->slice_ops));
		memcpy(out->slice_dur_ns, fe->slice_dur_ns, sizeof(out->slice_dur_ns));
		out->perf[0] = fe->perf;
	}
	if (be) {
		out->d[1] = be->d;
		out->cpu_s[1] = be->cpu_s;
		out->perf[1] = be->perf;
		out->ndev = be->ndev;
		for (unsigned i = 0; i < be->ndev && i < VTB_DEV_STATS; i++) {
			memcpy(out->dev_name_buf[i], be->dev_name[i], sizeof(out->dev_name_buf[i]));
			out->dev_names[i] = out->dev_name_buf[i];
			out->dev_vals[i] = be->dev_val[i];
		}
	}
}
