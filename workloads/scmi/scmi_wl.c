/* scmi workload: an SCMI agent issuing a weighted mix of commands.  Each
 * response is checked byte for byte against a mirror of the server that
 * the FE advances in submission order (the server serves the command queue
 * in order, so the mirror's state is the server's at that point). */
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
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"sensor_read", "sensor_desc", "clock_get", "clock_set", "clock_attrs",
	"clock_rates", "perf_get", "perf_set", "perf_attrs", "base_version",
	"base_attrs", "base_vendor", "base_subvendor", "base_impl", "base_protocols",
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
	env->device_features = VTB_BIT(VTB_SCMI_F_P2A_CHANNELS);
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
struct scmi_slot {
	uint8_t *msg, *resp;
	uint64_t msg_gpa, resp_gpa;
	uint32_t msg_len;
	uint32_t want_len;
	uint8_t want[SCMI_RESP_MAX];
	uint64_t t_submit;
	bool busy;
};

struct scmi_gen {
	unsigned weight[OP_COUNT];
	unsigned total;
	uint64_t rng;
	bool events;
	struct vtb_scmi *mirror;
	struct vtb_dev_io nullio;
	uint8_t **ev;
	uint64_t *ev_gpa;
	unsigned nev;
	uint64_t notifs;
	unsigned nslot;
	struct scmi_slot slot[];
};

static int null_pop(void *c, unsigned q, struct vtb_req *r) { (void)c; (void)q; (void)r; return 0; }
static int null_push(void *c, struct vtb_req *r, uint32_t w) { (void)c; (void)r; (void)w; return 0; }

static uint32_t build(struct scmi_gen *s, enum scmi_op op, unsigned token, uint32_t *p)
{
	uint64_t r = vtb_rand(&s->rng);
	unsigned sensor = r % VTB_SCMI_NUM_SENSORS, clock = r % VTB_SCMI_NUM_CLOCKS;
	unsigned dom = r % VTB_SCMI_NUM_PERF, idx = (r >> 16) % 8;
	uint32_t proto = VTB_SCMI_PROTO_BASE, id = 0, np = 0;
	switch (op) {
	case OP_SENSOR_READ: proto = VTB_SCMI_PROTO_SENSOR; id = VTB_SCMI_SENSOR_READING_GET; p[1] = sensor; p[2] = 0; np = 2; break;
	case OP_SENSOR_DESC: proto = VTB_SCMI_PROTO_SENSOR; id = VTB_SCMI_SENSOR_DESCRIPTION_GET; p[1] = sensor; np = 1; break;
	case OP_CLOCK_GET: proto = VTB_SCMI_PROTO_CLOCK; id = VTB_SCMI_CLOCK_RATE_GET; p[1] = clock; np = 1; break;
	case OP_CLOCK_SET: {
		uint64_t rate = vtb_scmi_rate(clock, idx % VTB_SCMI_NUM_RATES);
		proto = VTB_SCMI_PROTO_CLOCK; id = VTB_SCMI_CLOCK_RATE_SET;
		p[1] = 0; p[2] = clock; p[3] = (uint32_t)rate; p[4] = (uint32_t)(rate >> 32); np = 4;
		break;
	}
	case OP_CLOCK_ATTRS: proto = VTB_SCMI_PROTO_CLOCK; id = VTB_SCMI_CLOCK_ATTRIBUTES; p[1] = clock; np = 1; break;
	case OP_CLOCK_RATES: proto = VTB_SCMI_PROTO_CLOCK; id = VTB_SCMI_CLOCK_DESCRIBE_RATES; p[1] = clock; p[2] = idx % VTB_SCMI_NUM_RATES; np = 2; break;
	case OP_PERF_GET: proto = VTB_SCMI_PROTO_PERF; id = VTB_SCMI_PERF_LEVEL_GET; p[1] = dom; np = 1; break;
	case OP_PERF_SET: proto = VTB_SCMI_PROTO_PERF; id = VTB_SCMI_PERF_LEVEL_SET; p[1] = dom; p[2] = vtb_scmi_level(dom, idx % VTB_SCMI_NUM_LEVELS); np = 2; break;
	case OP_PERF_ATTRS: proto = VTB_SCMI_PROTO_PERF; id = VTB_SCMI_PERF_DOMAIN_ATTRIBUTES; p[1] = dom; np = 1; break;
	case OP_BASE_VERSION: id = VTB_SCMI_PROTOCOL_VERSION; break;
	case OP_BASE_ATTRS: id = VTB_SCMI_PROTOCOL_ATTRIBUTES; break;
	case OP_BASE_VENDOR: id = VTB_SCMI_BASE_DISCOVER_VENDOR; break;
	case OP_BASE_SUBVENDOR: id = VTB_SCMI_BASE_DISCOVER_SUB_VENDOR; break;
	case OP_BASE_IMPL: id = VTB_SCMI_BASE_DISCOVER_IMPL_VERSION; break;
	default: id = VTB_SCMI_BASE_DISCOVER_LIST_PROTOCOLS; p[1] = 0; np = 1; break;
	}
	p[0] = VTB_SCMI_HDR(id, VTB_SCMI_TYPE_CMD, proto, token);
	for (uint32_t i = 0; i <= np; i++)
		p[i] = vtb_le32(p[i]);
	return 4 * (np + 1);
}

static int scmi_send(struct vtb_gen *g, struct scmi_slot *sl, uint64_t now)
{
	struct vtb_sg sg[2] = { { sl->msg_gpa, sl->msg_len }, { sl->resp_gpa, SCMI_RESP_MAX } };
	sl->t_submit = now;
	memset(sl->resp, 0xa5, SCMI_RESP_MAX);
	return g->t->fe_add(g->x, VTB_SCMI_Q_CMD, sg, 1, 1, sl);
}

static int post_event(struct vtb_gen *g, unsigned i)
{
	struct scmi_gen *s = g->priv;
	struct vtb_sg sg = { s->ev_gpa[i], 32 };
	return g->t->fe_add(g->x, VTB_SCMI_Q_EVENT, &sg, 0, 1, s->ev[i]);
}

static int scmi_fe_init(struct vtb_gen *g)
{
	const struct vtb_cellp *cp = g->cp;
	char err[200];
	struct scmi_gen *s = calloc(1, sizeof(*s) + cp->qd * sizeof(struct scmi_slot));
	if (!s)
		return -ENOMEM;
	g->priv = s;
	if (parse_mix(cp->mix, s->weight, err, sizeof(err)))
		return -EINVAL;
	for (int i = 0; i < OP_COUNT; i++)
		s->total += s->weight[i];
	s->rng = cp->seed | 1;
	s->nslot = cp->qd;
	s->events = cp->events && (g->env->features & VTB_BIT(VTB_SCMI_F_P2A_CHANNELS));
	s->nullio = (struct vtb_dev_io){ NULL, null_pop, null_push };
	s->mirror = vtb_scmi_init(calloc(1, vtb_scmi_memsize()), cp->seed, &s->nullio);
	if (!s->mirror)
		return -ENOMEM;
	vtb_scmi_set_events(s->mirror, s->events);
	for (unsigned i = 0; i < s->nslot; i++) {
		void *va;
		if (vtb_fe_alloc(g->env, 4 + VTB_SCMI_MAX_MSG, 8, &s->slot[i].msg_gpa, &va))
			return -ENOMEM;
		s->slot[i].msg = va;
		if (vtb_fe_alloc(g->env, SCMI_RESP_MAX, 8, &s->slot[i].resp_gpa, &va))
			return -ENOMEM;
		s->slot[i].resp = va;
	}
	if (!s->events)
		return 0;
	/* A notification finding no buffer is dropped (and the mirror loses
	 * step): keep one posted for every command in flight and every
	 * notification not yet reaped, at most the queue. */
	s->nev = 2 * cp->qd > SCMI_EVENT_BUFS ? 2 * cp->qd : SCMI_EVENT_BUFS;
	if (s->nev > cp->qsize)
		s->nev = cp->qsize;
	s->ev = calloc(s->nev, sizeof(*s->ev));
	s->ev_gpa = calloc(s->nev, sizeof(*s->ev_gpa));
	if (!s->ev || !s->ev_gpa)
		return -ENOMEM;
	for (unsigned i = 0; i < s->nev; i++) {
		void *va;
		if (vtb_fe_alloc(g->env, 32, 8, &s->ev_gpa[i], &va))
			return -ENOMEM;
		s->ev[i] = va;
		if (post_event(g, i))
			return -ENOSPC;
	}
	g->t->fe_kick(g->x, VTB_SCMI_Q_EVENT);
	/* Subscribe to level changes on every domain (PERFORMANCE_NOTIFY_LEVEL). */
	for (uint32_t d = 0; d < VTB_SCMI_NUM_PERF; d++) {
		struct scmi_slot *sl = &s->slot[0];
		uint32_t p[3] = { vtb_le32(VTB_SCMI_HDR(VTB_SCMI_PERF_NOTIFY_LEVEL, 0, VTB_SCMI_PROTO_PERF, 0)),
				  vtb_le32(d), vtb_le32(1) };
		uint32_t len, st;
		memcpy(sl->msg, p, sizeof(p));
		vtb_scmi_handle(s->mirror, p, sizeof(p), sl->want, SCMI_RESP_MAX);
		struct vtb_sg sg[2] = { { sl->msg_gpa, sizeof(p) }, { sl->resp_gpa, SCMI_RESP_MAX } };
		if (vtb_gen_sync(g, VTB_SCMI_Q_CMD, sg, 1, 1, &len))
			return -EPROTO;
		memcpy(&st, sl->resp + 4, 4);
		if (len != 8 || st != 0)
			vtb_gen_fail(g, "PERFORMANCE_NOTIFY_LEVEL(%u): len %u status %d", d, len, (int32_t)vtb_le32(st));
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
	sl->msg_len = build(s, op, token, p);
	memcpy(sl->msg, p, sl->msg_len);
	int e = scmi_send(g, sl, now);
	if (e)
		return e == -VTB_ENOSPC ? 0 : e;
	/* The server will see it in this order: advance the mirror now. */
	sl->want_len = vtb_scmi_handle(s->mirror, p, sl->msg_len, sl->want, SCMI_RESP_MAX);
	sl->busy = true;
	g->inflight++;
	return 1;
}

static int scmi_fe_reap(struct vtb_gen *g)
{
	struct scmi_gen *s = g->priv;
	struct scmi_slot *sl;
	uint32_t len;
	int n = 0;
	while ((sl = g->t->fe_get(g->x, VTB_SCMI_Q_CMD, &len))) {
		if (len != sl->want_len || memcmp(sl->resp, sl->want, len)) {
			uint32_t h, st;
			memcpy(&h, sl->msg, 4);
			memcpy(&st, sl->resp + 4, 4);
			vtb_gen_fail(g, "scmi proto 0x%x msg 0x%x: response of %u bytes (status %d) differs from the server's state (%u bytes)",
				     VTB_SCMI_HDR_PROTO(vtb_le32(h)), VTB_SCMI_HDR_ID(vtb_le32(h)), len,
				     (int32_t)vtb_le32(st), sl->want_len);
		}
		sl->busy = false;
		g->inflight--;
		g->done(g, sl->t_submit, sl->msg_len + len);
		n++;
	}
	uint8_t *ev;
	bool repost = false;
	while (s->events && (ev = g->t->fe_get(g->x, VTB_SCMI_Q_EVENT, &len))) {
		uint32_t m[4], dom, level;
		memcpy(m, ev, sizeof(m));
		if (!vtb_scmi_take_notif(s->mirror, &dom, &level))
			vtb_gen_fail(g, "scmi: unexpected notification");
		else if (len != 16 || vtb_le32(m[0]) != VTB_SCMI_HDR(VTB_SCMI_PERF_LEVEL_CHANGED, VTB_SCMI_TYPE_NOTIF, VTB_SCMI_PROTO_PERF, 0) ||
			 vtb_le32(m[2]) != dom || vtb_le32(m[3]) != level)
			vtb_gen_fail(g, "scmi: notification (len %u) for domain %u level %u, expected domain %u level %u",
				     len, vtb_le32(m[2]), vtb_le32(m[3]), dom, level);
		s->notifs++;
		unsigned i = 0;
		while (s->ev[i] != ev)
			i++;
		if (post_event(g, i))
			return -EPROTO;
		repost = true;
		n++;
	}
	if (repost)
		g->t->fe_kick(g->x, VTB_SCMI_Q_EVENT);
	return g->t->fe_broken(g->x) ? -EPROTO : n;
}

static void scmi_fe_fini(struct vtb_gen *g)
{
	struct scmi_gen *s = g->priv;
	if (!s)
		return;
	free(s->mirror);
	free(s->ev);
	free(s->ev_gpa);
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
