/* scmi workload: an SCMI agent issuing a weighted mix of commands through
 * any engine (engine.h; the virtqueue one is scmi_vq.c).  Each
 * response is checked byte for byte against what DEN0056 says it must be,
 * for the platform vtb_scmi.h describes (its levels, rates, sensor
 * readings): the FE keeps its own account of the platform's state in
 * submission order (the server serves the command queue in order) and
 * builds the expected answers from the spec's bit definitions below, not
 * from the server's code, so a server that misreads the spec cannot agree
 * with itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../workload.h"
#include "vtb_scmi.h"

enum scmi_op {
	OP_SENSOR_READ, OP_SENSOR_DESC, OP_CLOCK_GET, OP_CLOCK_SET, OP_CLOCK_ATTRS,
	OP_CLOCK_RATES, OP_PERF_GET, OP_PERF_SET, OP_PERF_ATTRS, OP_BASE_VERSION,
	OP_BASE_ATTRS, OP_BASE_VENDOR, OP_BASE_SUBVENDOR, OP_BASE_IMPL, OP_BASE_PROTOCOLS,
	OP_PERF_LEVELS, OP_PERF_LIMITS_SET, OP_PERF_LIMITS_GET,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"sensor_read", "sensor_desc", "clock_get", "clock_set", "clock_attrs",
	"clock_rates", "perf_get", "perf_set", "perf_attrs", "base_version",
	"base_attrs", "base_vendor", "base_subvendor", "base_impl", "base_protocols",
	"perf_levels", "perf_limits_set", "perf_limits_get",
};

#define SCMI_EVENT_BUFS 16
#define SCMI_RESP_MAX (8 + VTB_SCMI_MAX_MSG)

/* Parses "name:weight,..." into weights; returns 0 or -1 with a message. */
static int parse_mix(const char *mix, unsigned *w, char *err, size_t n)
{
	char buf[256];
	unsigned total = 0;
	memset(w, 0, OP_COUNT * sizeof(*w));
	snprintf(buf, sizeof(buf), "%s", mix);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':'), *end;
		unsigned long weight = 1;
		if (colon) {
			*colon = 0;
			weight = strtoul(colon + 1, &end, 10);
			if (*end || end == colon + 1 || weight > 1000000)
				return snprintf(err, n, "mix: bad weight '%s' for %s", colon + 1, tok), -1;
		}
		int k = -1;
		for (int i = 0; i < OP_COUNT; i++)
			if (!strcmp(op_names[i], tok))
				k = i;
		if (k < 0) {
			int o = snprintf(err, n, "mix: unknown op '%s'; known:", tok);
			for (int i = 0; i < OP_COUNT && o > 0 && (size_t)o < n; i++)
				o += snprintf(err + o, n - (size_t)o, " %s", op_names[i]);
			return -1;
		}
		w[k] += (unsigned)weight;
		total += (unsigned)weight;
	}
	if (!total)
		return snprintf(err, n, "mix: no op with a weight"), -1;
	return 0;
}

static int scmi_check(const struct vtb_cellp *cp, char *err, size_t n)
{
	unsigned w[OP_COUNT];
	if (parse_mix(cp->mix, w, err, n))
		return -1;
	if (cp->qd > 1024)
		return snprintf(err, n, "qd=%u: SCMI tokens are 10 bits, qd <= 1024", cp->qd), -1;
	return 0;
}

/* ------------------------------------------------------------ BE */
static int scmi_be_init(const struct vtb_cellp *cp, struct vtb_xenv *env, const struct vtb_dev_io *io, void **out)
{
	void *m = calloc(1, vtb_scmi_memsize());
	if (!m)
		return -ENOMEM;
	struct vtb_scmi *s = vtb_scmi_init(m, cp->seed, io);
	if (!s) {
		free(m);
		return -EINVAL;
	}
	env->device_id = VTB_ID_SCMI;
	/* events=0 models a platform with no notification to send: the
	 * device need not offer VIRTIO_SCMI_F_P2A_CHANNELS then (virtio 1.2
	 * 5.17.3.1), and answers as a server without notifications. */
	env->device_features = cp->events ? VTB_BIT(VTB_SCMI_F_P2A_CHANNELS) : 0;
	env->config = NULL;
	env->config_len = 0;
	*out = s;
	return 0;
}

static void scmi_be_start(void *dev, uint64_t f)
{
	vtb_scmi_set_events(dev, f & VTB_BIT(VTB_SCMI_F_P2A_CHANNELS));
}

static int scmi_be_process(void *dev, unsigned budget) { return vtb_scmi_process(dev, budget); }

static uint32_t scmi_be_wake(void *dev) { return vtb_scmi_wake_mask(dev); }

static unsigned scmi_be_stats(void *dev, const char **names, uint64_t *vals)
{
	const struct vtb_scmi_stats *s = vtb_scmi_stats(dev);
	names[0] = "cmds"; vals[0] = s->cmds;
	names[1] = "error_status"; vals[1] = s->errors;
	names[2] = "bad_msgs"; vals[2] = s->bad_msgs;
	names[3] = "notifs"; vals[3] = s->notifs;
	names[4] = "notifs_dropped"; vals[4] = s->notifs_dropped;
	return 5;
}

static void scmi_be_fini(void *dev) { free(dev); }

/* ------------------------------------------------------------ FE */
/* DEN0056 v3.x status codes and attribute bits (cross-checked against
 * Linux's drivers/firmware/arm_scmi), stated here independently of the
 * server's constants. */
#define SPEC_SUCCESS        0
#define SPEC_NOT_SUPPORTED  (-1)
#define SPEC_NOT_FOUND      (-4)
#define SPEC_OUT_OF_RANGE   (-5)
#define SPEC_PROTO_BASE     0x10
#define SPEC_PROTO_PERF     0x13
#define SPEC_PROTO_CLOCK    0x14
#define SPEC_PROTO_SENSOR   0x15
#define SPEC_TYPE_NOTIF     3
#define SPEC_PERF_NOTIFY_LEVEL  0xa
#define SPEC_PERF_LEVEL_CHANGED 0x1
/* PERFORMANCE_DOMAIN_ATTRIBUTES attributes */
#define SPEC_PERF_SET_LIMITS    (1u << 31)
#define SPEC_PERF_SET_LEVEL     (1u << 30)
#define SPEC_PERF_LIMITS_NOTIFY (1u << 29)	/* not offered: not implemented */
#define SPEC_PERF_LEVEL_NOTIFY  (1u << 28)
/* CLOCK_ATTRIBUTES (v1.0): bit 0 enabled */
#define SPEC_CLOCK_ENABLED      (1u << 0)
/* SENSOR_DESCRIPTION_GET attributes_high: [15:11] signed power-of-ten
 * scale, [7:0] type (2: degrees Celsius); millidegrees are scale -3. */
#define SPEC_SENSOR_ATTR_HIGH   ((0x1du << 11) | 2u)
/* Header: id [7:0], type [9:8], protocol [17:10], token [27:18] */
#define SPEC_HDR(id, type, proto, token) \
	((uint32_t)(id) | (uint32_t)(type) << 8 | (uint32_t)(proto) << 10 | (uint32_t)(token) << 18)
/* What this platform answers (its identity and the numbers vtb_scmi.h
 * gives it): versions, one agent, three protocols. */
#define PLAT_AGENT_ID     1	/* the agent that changed a level; the platform is 0 */
#define PLAT_BASE_VERSION 0x20000
#define PLAT_VERSION      0x10000	/* PERF, CLOCK, SENSOR */
#define PLAT_IMPL_VERSION 0x10000
#define PLAT_RATE_LIMIT   1000		/* us */

#define SCMI_EXPECT_NOTIFS 4096

struct scmi_slot {
	struct vtb_io io;	/* first: the engine hands it back; buf: message, rbuf: response */
	uint32_t want_len;
	uint8_t want[SCMI_RESP_MAX];
	uint64_t t_submit;
	bool busy;
};

/* The platform's state as the agent's own commands leave it. */
struct scmi_expect {
	bool events;
	uint64_t seed;
	uint8_t clock_rate[VTB_SCMI_NUM_CLOCKS];
	uint8_t level[VTB_SCMI_NUM_PERF], lmin[VTB_SCMI_NUM_PERF], lmax[VTB_SCMI_NUM_PERF];
	bool notify[VTB_SCMI_NUM_PERF];
	uint64_t reads[VTB_SCMI_NUM_SENSORS];
	uint32_t notif[SCMI_EXPECT_NOTIFS][2];	/* (domain, level) in order */
	unsigned nhead, ncount;
	bool overflow;
};

struct scmi_gen {
	unsigned weight[OP_COUNT];
	unsigned total;
	uint64_t rng;
	bool events;
	struct scmi_expect ex;
	struct vtb_io *ev;	/* notification buffers */
	unsigned nev;
	uint64_t notifs;
	unsigned nslot;
	struct scmi_slot slot[];
};

/* One op's arguments, decoded, so the expectation advances only once the
 * command is on the queue. */
struct scmi_args {
	enum scmi_op op;
	unsigned a, b, c;
};

struct want {
	uint8_t *p;
	uint32_t len;
};

static void w32(struct want *w, uint32_t v)
{
	v = vtb_le32(v);
	memcpy(w->p + w->len, &v, 4);
	w->len += 4;
}

/* A 16-byte NUL-padded name (SCMI_SHORT_NAME_MAX_SIZE): base, then the
 * index in decimal unless it is NO_INDEX.  By hand, not snprintf: this
 * runs per op inside the measured phase. */
#define NO_INDEX 1000u
static void wname(struct want *w, const char *base, unsigned idx)
{
	char n[16] = { 0 };
	unsigned i = 0;
	while (base[i] && i < 12) {
		n[i] = base[i];
		i++;
	}
	if (idx < NO_INDEX) {
		if (idx >= 100)
			n[i++] = (char)('0' + idx / 100);
		if (idx >= 10)
			n[i++] = (char)('0' + idx / 10 % 10);
		n[i] = (char)('0' + idx % 10);
	}
	memcpy(w->p + w->len, n, 16);
	w->len += 16;
}

static void ex_level(struct scmi_expect *ex, unsigned dom, unsigned idx)
{
	if (ex->level[dom] == idx)
		return;		/* no change, no notification */
	ex->level[dom] = (uint8_t)idx;
	if (!ex->notify[dom] || !ex->events)
		return;
	if (ex->ncount == SCMI_EXPECT_NOTIFS) {
		ex->overflow = true;
		return;
	}
	unsigned k = (ex->nhead + ex->ncount++) % SCMI_EXPECT_NOTIFS;
	ex->notif[k][0] = dom;
	ex->notif[k][1] = vtb_scmi_level(dom, idx);
}

/* The response DEN0056 prescribes for op a on the platform in state ex;
 * advances ex.  hdr: the command's header, which the response echoes. */
static uint32_t expect(struct scmi_expect *ex, const struct scmi_args *a, uint32_t hdr, uint8_t *buf)
{
	struct want w = { buf, 0 };
	w32(&w, hdr);
	w32(&w, SPEC_SUCCESS);
	switch (a->op) {
	case OP_SENSOR_READ: {
		uint64_t v = vtb_scmi_sensor_value(ex->seed, a->a, ex->reads[a->a]++);
		w32(&w, (uint32_t)v);
		w32(&w, (uint32_t)(v >> 32));
		break;
	}
	case OP_SENSOR_DESC: {
		unsigned n = VTB_SCMI_NUM_SENSORS - a->a;
		n = n > VTB_SCMI_DESCS_PER_MSG ? VTB_SCMI_DESCS_PER_MSG : n;
		w32(&w, (VTB_SCMI_NUM_SENSORS - a->a - n) << 16 | n);	/* remaining, returned */
		for (unsigned i = a->a; i < a->a + n; i++) {
			w32(&w, i);
			w32(&w, 0);	/* no async read, no trip points */
			w32(&w, SPEC_SENSOR_ATTR_HIGH);
			wname(&w, "temp", i);
		}
		break;
	}
	case OP_CLOCK_GET: {
		uint64_t r = vtb_scmi_rate(a->a, ex->clock_rate[a->a]);
		w32(&w, (uint32_t)r);
		w32(&w, (uint32_t)(r >> 32));
		break;
	}
	case OP_CLOCK_SET:
		ex->clock_rate[a->a] = (uint8_t)a->b;
		break;
	case OP_CLOCK_ATTRS:
		w32(&w, SPEC_CLOCK_ENABLED);
		wname(&w, "clk", a->a);
		break;
	case OP_CLOCK_RATES: {
		unsigned n = VTB_SCMI_NUM_RATES - a->b;
		n = n > VTB_SCMI_RATES_PER_MSG ? VTB_SCMI_RATES_PER_MSG : n;
		w32(&w, (VTB_SCMI_NUM_RATES - a->b - n) << 16 | n);	/* bit 12 clear: a list */
		for (unsigned i = a->b; i < a->b + n; i++) {
			uint64_t r = vtb_scmi_rate(a->a, i);
			w32(&w, (uint32_t)r);
			w32(&w, (uint32_t)(r >> 32));
		}
		break;
	}
	case OP_PERF_GET:
		w32(&w, vtb_scmi_level(a->a, ex->level[a->a]));
		break;
	case OP_PERF_SET:
		if (a->b < ex->lmin[a->a] || a->b > ex->lmax[a->a]) {
			w.len = 4;
			w32(&w, (uint32_t)SPEC_OUT_OF_RANGE);
			break;
		}
		ex_level(ex, a->a, a->b);
		break;
	case OP_PERF_ATTRS:
		w32(&w, SPEC_PERF_SET_LIMITS | SPEC_PERF_SET_LEVEL | (ex->events ? SPEC_PERF_LEVEL_NOTIFY : 0));
		w32(&w, PLAT_RATE_LIMIT);
		w32(&w, (a->a + 1) * 1000000);	/* sustained kHz */
		w32(&w, vtb_scmi_level(a->a, VTB_SCMI_NUM_LEVELS - 1));
		wname(&w, "perf", a->a);
		break;
	case OP_PERF_LEVELS: {
		unsigned n = VTB_SCMI_NUM_LEVELS - a->b;
		n = n > VTB_SCMI_LEVELS_PER_MSG ? VTB_SCMI_LEVELS_PER_MSG : n;
		w32(&w, (VTB_SCMI_NUM_LEVELS - a->b - n) << 16 | n);
		for (unsigned i = a->b; i < a->b + n; i++) {
			w32(&w, vtb_scmi_level(a->a, i));
			w32(&w, vtb_scmi_level_power(a->a, i));
			w32(&w, VTB_SCMI_PERF_LATENCY_US);	/* [15:0] latency */
		}
		break;
	}
	case OP_PERF_LIMITS_SET:	/* b: max, c: min (indices, c <= b) */
		ex->lmax[a->a] = (uint8_t)a->b;
		ex->lmin[a->a] = (uint8_t)a->c;
		if (ex->level[a->a] > a->b)
			ex_level(ex, a->a, a->b);
		else if (ex->level[a->a] < a->c)
			ex_level(ex, a->a, a->c);
		break;
	case OP_PERF_LIMITS_GET:
		w32(&w, vtb_scmi_level(a->a, ex->lmax[a->a]));
		w32(&w, vtb_scmi_level(a->a, ex->lmin[a->a]));
		break;
	case OP_BASE_VERSION:
		w32(&w, PLAT_BASE_VERSION);
		break;
	case OP_BASE_ATTRS:
		w32(&w, 1u << 8 | 3);	/* [15:8] agents, [7:0] protocols */
		break;
	case OP_BASE_VENDOR:
		wname(&w, "vtbench", NO_INDEX);
		break;
	case OP_BASE_SUBVENDOR:
		wname(&w, "proc", NO_INDEX);
		break;
	case OP_BASE_IMPL:
		w32(&w, PLAT_IMPL_VERSION);
		break;
	default:	/* OP_BASE_PROTOCOLS, skip 0 */
		w32(&w, 3);
		w32(&w, SPEC_PROTO_PERF | SPEC_PROTO_CLOCK << 8 | SPEC_PROTO_SENSOR << 16);
		break;
	}
	return w.len;
}

static uint32_t build(struct scmi_gen *s, enum scmi_op op, unsigned token, uint32_t *p, struct scmi_args *a)
{
	uint64_t r = vtb_rand(&s->rng);
	unsigned sensor = r % VTB_SCMI_NUM_SENSORS, clock = r % VTB_SCMI_NUM_CLOCKS;
	unsigned dom = r % VTB_SCMI_NUM_PERF, idx = (r >> 16) % 8, idx2 = (r >> 24) % 8;
	uint32_t proto = SPEC_PROTO_BASE, id = 0, np = 0;
	*a = (struct scmi_args){ .op = op };
	switch (op) {
	case OP_SENSOR_READ: proto = SPEC_PROTO_SENSOR; id = 0x6; p[1] = a->a = sensor; p[2] = 0; np = 2; break;
	case OP_SENSOR_DESC: proto = SPEC_PROTO_SENSOR; id = 0x3; p[1] = a->a = sensor; np = 1; break;
	case OP_CLOCK_GET: proto = SPEC_PROTO_CLOCK; id = 0x6; p[1] = a->a = clock; np = 1; break;
	case OP_CLOCK_SET: {
		a->a = clock;
		a->b = idx % VTB_SCMI_NUM_RATES;
		uint64_t rate = vtb_scmi_rate(clock, a->b);
		proto = SPEC_PROTO_CLOCK; id = 0x5;
		p[1] = 0; p[2] = clock; p[3] = (uint32_t)rate; p[4] = (uint32_t)(rate >> 32); np = 4;
		break;
	}
	case OP_CLOCK_ATTRS: proto = SPEC_PROTO_CLOCK; id = 0x3; p[1] = a->a = clock; np = 1; break;
	case OP_CLOCK_RATES:
		proto = SPEC_PROTO_CLOCK; id = 0x4; p[1] = a->a = clock; p[2] = a->b = idx % VTB_SCMI_NUM_RATES; np = 2;
		break;
	case OP_PERF_GET: proto = SPEC_PROTO_PERF; id = 0x8; p[1] = a->a = dom; np = 1; break;
	case OP_PERF_SET:
		proto = SPEC_PROTO_PERF; id = 0x7; p[1] = a->a = dom;
		a->b = idx % VTB_SCMI_NUM_LEVELS;
		p[2] = vtb_scmi_level(dom, a->b); np = 2;
		break;
	case OP_PERF_ATTRS: proto = SPEC_PROTO_PERF; id = 0x3; p[1] = a->a = dom; np = 1; break;
	case OP_PERF_LEVELS:
		proto = SPEC_PROTO_PERF; id = 0x4; p[1] = a->a = dom; p[2] = a->b = idx % VTB_SCMI_NUM_LEVELS; np = 2;
		break;
	case OP_PERF_LIMITS_SET:	/* domain, range_max, range_min */
		proto = SPEC_PROTO_PERF; id = 0x5; p[1] = a->a = dom;
		a->b = (idx > idx2 ? idx : idx2) % VTB_SCMI_NUM_LEVELS;
		a->c = (idx > idx2 ? idx2 : idx) % VTB_SCMI_NUM_LEVELS;
		p[2] = vtb_scmi_level(dom, a->b); p[3] = vtb_scmi_level(dom, a->c); np = 3;
		break;
	case OP_PERF_LIMITS_GET: proto = SPEC_PROTO_PERF; id = 0x6; p[1] = a->a = dom; np = 1; break;
	case OP_BASE_VERSION: id = 0x0; break;
	case OP_BASE_ATTRS: id = 0x1; break;
	case OP_BASE_VENDOR: id = 0x3; break;
	case OP_BASE_SUBVENDOR: id = 0x4; break;
	case OP_BASE_IMPL: id = 0x5; break;
	default: id = 0x6; p[1] = 0; np = 1; break;
	}
	p[0] = SPEC_HDR(id, 0, proto, token);
	for (uint32_t i = 0; i <= np; i++)
		p[i] = vtb_le32(p[i]);
	return 4 * (np + 1);
}

static int scmi_send(struct vtb_gen *g, struct scmi_slot *sl, uint64_t now)
{
	sl->t_submit = now;
	memset(sl->io.rbuf, 0xa5, SCMI_RESP_MAX);
	return g->eng->queue(g, &sl->io);
}

/* A setup command through slot 0, waited for; returns its status
 * (INT32_MIN if the queue failed) and the response's length in *len. */
static int32_t setup_cmd(struct vtb_gen *g, const uint32_t *m, uint32_t n, uint32_t *len)
{
	struct scmi_gen *s = g->priv;
	struct scmi_slot *sl = &s->slot[0];
	uint32_t st;
	memcpy(sl->io.buf, m, n);
	sl->io.len = n;
	memset(sl->io.rbuf, 0xa5, SCMI_RESP_MAX);
	if (vtb_io_sync(g, &sl->io))
		return INT32_MIN;
	*len = sl->io.res;
	memcpy(&st, (uint8_t *)sl->io.rbuf + 4, 4);
	return (int32_t)vtb_le32(st);
}

static int scmi_fe_init(struct vtb_gen *g)
{
	const struct vtb_cellp *cp = g->cp;
	char err[200];
	struct scmi_gen *s = calloc(1, sizeof(*s) + cp->qd * sizeof(struct scmi_slot));
	if (!s)
		return -ENOMEM;
	g->priv = s;
	int e;
	if (!g->eng)
		g->eng = &vtb_engine_vq_scmi;
	if (g->eng->open && (e = g->eng->open(g)))
		return e;
	if (parse_mix(cp->mix, s->weight, err, sizeof(err)))
		return -EINVAL;
	for (int i = 0; i < OP_COUNT; i++)
		s->total += s->weight[i];
	s->rng = cp->seed | 1;
	s->nslot = cp->qd;
	/* Notifications exist only when VIRTIO_SCMI_F_P2A_CHANNELS was. */
	s->events = cp->events && (g->eng->features(g) & VTB_BIT(VTB_SCMI_F_P2A_CHANNELS));
	s->ex.events = s->events;
	s->ex.seed = cp->seed;
	for (unsigned d = 0; d < VTB_SCMI_NUM_PERF; d++)
		s->ex.level[d] = s->ex.lmax[d] = VTB_SCMI_NUM_LEVELS - 1;	/* from reset */
	for (unsigned i = 0; i < s->nslot; i++) {
		if ((e = g->eng->io_init(g, &s->slot[i].io, VTB_SCMI_Q_CMD, 4 + VTB_SCMI_MAX_MSG, SCMI_RESP_MAX)))
			return e;
		s->slot[i].io.op = VTB_IO_CALL;
	}
	uint32_t len;
	int32_t st;
	if (!s->events) {
		/* Without the event queue the device behaves as a server with no
		 * notification: it refuses the request (NOT_SUPPORTED) and says
		 * the message is not implemented (NOT_FOUND). */
		uint32_t m[3] = { vtb_le32(SPEC_HDR(SPEC_PERF_NOTIFY_LEVEL, 0, SPEC_PROTO_PERF, 0)), 0, vtb_le32(1) };
		if ((st = setup_cmd(g, m, sizeof(m), &len)) != SPEC_NOT_SUPPORTED || len != 8)
			vtb_gen_fail(g, "PERFORMANCE_NOTIFY_LEVEL without P2A channels: len %u status %d, want NOT_SUPPORTED", len, st);
		uint32_t q[2] = { vtb_le32(SPEC_HDR(0x2, 0, SPEC_PROTO_PERF, 0)), vtb_le32(SPEC_PERF_NOTIFY_LEVEL) };
		if ((st = setup_cmd(g, q, sizeof(q), &len)) != SPEC_NOT_FOUND || len != 8)
			vtb_gen_fail(g, "PROTOCOL_MESSAGE_ATTRIBUTES(NOTIFY_LEVEL) without P2A channels: len %u status %d, want NOT_FOUND",
				     len, st);
		return 0;
	}
	/* A notification finding no buffer is dropped (and the expectation
	 * loses step): keep one posted for every command in flight and every
	 * notification not yet reaped, at most the queue. */
	s->nev = 2 * cp->qd > SCMI_EVENT_BUFS ? 2 * cp->qd : SCMI_EVENT_BUFS;
	if (s->nev > cp->qsize)
		s->nev = cp->qsize;
	s->ev = calloc(s->nev, sizeof(*s->ev));
	if (!s->ev)
		return -ENOMEM;
	for (unsigned i = 0; i < s->nev; i++) {
		if ((e = g->eng->io_init(g, &s->ev[i], VTB_SCMI_Q_EVENT, 32, 0)))
			return e;
		s->ev[i].op = VTB_IO_RECV;
		if (g->eng->queue(g, &s->ev[i]))
			return -ENOSPC;
	}
	g->eng->commit(g, VTB_SCMI_Q_EVENT);
	/* Subscribe to level changes on every domain (PERFORMANCE_NOTIFY_LEVEL). */
	for (uint32_t d = 0; d < VTB_SCMI_NUM_PERF; d++) {
		uint32_t m[3] = { vtb_le32(SPEC_HDR(SPEC_PERF_NOTIFY_LEVEL, 0, SPEC_PROTO_PERF, 0)), vtb_le32(d), vtb_le32(1) };
		if ((st = setup_cmd(g, m, sizeof(m), &len)) != SPEC_SUCCESS || len != 8)
			vtb_gen_fail(g, "PERFORMANCE_NOTIFY_LEVEL(%u): len %u status %d", d, len, st);
		s->ex.notify[d] = true;
	}
	return 0;
}

static int scmi_fe_submit(struct vtb_gen *g, uint64_t now)
{
	struct scmi_gen *s = g->priv;
	struct scmi_slot *sl = NULL;
	unsigned token = 0;
	for (unsigned i = 0; i < s->nslot && !sl; i++)
		if (!s->slot[i].busy) {
			sl = &s->slot[i];
			token = i;
		}
	if (!sl)
		return 0;
	unsigned pick = (unsigned)(vtb_rand(&s->rng) % s->total), op = 0;
	while (pick >= s->weight[op])
		pick -= s->weight[op++];
	uint32_t p[1 + VTB_SCMI_MAX_MSG / 4];
	struct scmi_args a;
	sl->io.len = build(s, op, token, p, &a);
	memcpy(sl->io.buf, p, sl->io.len);
	int e = scmi_send(g, sl, now);
	if (e)
		return e == -VTB_ENOSPC ? 0 : e;
	/* The server will see it in this order: advance the expectation now. */
	sl->want_len = expect(&s->ex, &a, vtb_le32(p[0]), sl->want);
	if (s->ex.overflow)
		vtb_gen_fail(g, "scmi: more than %u notifications expected and not yet seen", SCMI_EXPECT_NOTIFS);
	sl->busy = true;
	g->inflight++;
	return 1;
}

static int scmi_fe_reap(struct vtb_gen *g)
{
	struct scmi_gen *s = g->priv;
	const struct vtb_engine_ops *eng = g->eng;
	struct scmi_slot *sl;
	int n = 0;
	while ((sl = (struct scmi_slot *)eng->getevent(g, VTB_SCMI_Q_CMD))) {
		uint32_t len = sl->io.res;
		const uint8_t *resp = sl->io.rbuf;
		if (sl->io.status != VTB_IO_OK || len != sl->want_len || memcmp(resp, sl->want, len)) {
			uint32_t h, st, i = 0;
			memcpy(&h, sl->io.buf, 4);
			memcpy(&st, resp + 4, 4);
			while (i < len && i < sl->want_len && resp[i] == sl->want[i])
				i++;
			vtb_gen_fail(g, "scmi proto 0x%x msg 0x%x: response of %u bytes (status %d) differs from the spec's "
				     "(%u bytes) at byte %u", VTB_SCMI_HDR_PROTO(vtb_le32(h)), VTB_SCMI_HDR_ID(vtb_le32(h)), len,
				     (int32_t)vtb_le32(st), sl->want_len, i);
		}
		sl->busy = false;
		g->inflight--;
		g->done(g, sl->t_submit, sl->io.len + len);
		n++;
	}
	struct vtb_io *ev;
	bool repost = false;
	while (s->events && (ev = eng->getevent(g, VTB_SCMI_Q_EVENT))) {
		uint32_t m[4], len = ev->res;
		memcpy(m, ev->buf, sizeof(m));
		struct scmi_expect *ex = &s->ex;
		if (!ex->ncount) {
			vtb_gen_fail(g, "scmi: notification (len %u) with no level change to report", len);
		} else {
			uint32_t dom = ex->notif[ex->nhead][0], level = ex->notif[ex->nhead][1];
			ex->nhead = (ex->nhead + 1) % SCMI_EXPECT_NOTIFS;
			ex->ncount--;
			/* PERFORMANCE_LEVEL_CHANGED: agent_id, domain_id, level */
			if (len != 16 || vtb_le32(m[0]) != SPEC_HDR(SPEC_PERF_LEVEL_CHANGED, SPEC_TYPE_NOTIF, SPEC_PROTO_PERF, 0) ||
			    vtb_le32(m[1]) != PLAT_AGENT_ID || vtb_le32(m[2]) != dom || vtb_le32(m[3]) != level)
				vtb_gen_fail(g, "scmi: notification (len %u) from agent %u for domain %u level %u, expected agent %u "
					     "domain %u level %u", len, vtb_le32(m[1]), vtb_le32(m[2]), vtb_le32(m[3]),
					     PLAT_AGENT_ID, dom, level);
		}
		s->notifs++;
		if (eng->queue(g, ev))
			return -EPROTO;
		repost = true;
		n++;
	}
	if (repost)
		eng->commit(g, VTB_SCMI_Q_EVENT);
	return eng->broken(g) ? -EPROTO : n;
}

static void scmi_fe_fini(struct vtb_gen *g)
{
	struct scmi_gen *s = g->priv;
	if (g->eng && g->eng->close)
		g->eng->close(g);
	if (!s)
		return;
	free(s->ev);
	free(s);
}

const struct vtb_workload_ops vtb_workload_scmi = {
	.name = "scmi",
	.desc = "virtio-scmi: SCMI server (BASE, PERF, CLOCK, SENSOR) on the cmdq, PERF level notifications on the eventq",
	.virtio_id = VTB_ID_SCMI,
	.nqueues = 2,
	.check = scmi_check,
	.be_init = scmi_be_init,
	.be_start = scmi_be_start,
	.be_process = scmi_be_process,
	.be_wake_mask = scmi_be_wake,
	.be_stats = scmi_be_stats,
	.be_fini = scmi_be_fini,
	.fe_features = VTB_BIT(VTB_SCMI_F_P2A_CHANNELS),
	.fe_init = scmi_fe_init,
	.fe_submit = scmi_fe_submit,
	.fe_reap = scmi_fe_reap,
	.fe_fini = scmi_fe_fini,
};
