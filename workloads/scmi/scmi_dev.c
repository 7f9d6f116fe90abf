#include "vtb_scmi.h"
#include "../vtb_pattern.h"

#define SCMI_PENDING_NOTIFS 64

struct vtb_scmi {
	struct vtb_dev_io io;
	uint64_t seed;
	bool events;
	uint8_t clock_rate[VTB_SCMI_NUM_CLOCKS];	/* index into the rate table */
	uint8_t perf_level[VTB_SCMI_NUM_PERF];
	uint8_t perf_min[VTB_SCMI_NUM_PERF], perf_max[VTB_SCMI_NUM_PERF];	/* limits, level indices */
	bool clock_off[VTB_SCMI_NUM_CLOCKS];
	bool perf_notify[VTB_SCMI_NUM_PERF];
	uint64_t sensor_reads[VTB_SCMI_NUM_SENSORS];
	/* Notifications waiting for an event buffer, a ring of (domain, level). */
	uint32_t pend[SCMI_PENDING_NOTIFS][2];
	unsigned pend_head, pend_count;
	struct vtb_scmi_stats stats;
	uint8_t msg[4 + VTB_SCMI_MAX_MSG];
	uint8_t resp[8 + VTB_SCMI_MAX_MSG];
};

static const uint8_t protocols[] = { VTB_SCMI_PROTO_PERF, VTB_SCMI_PROTO_CLOCK, VTB_SCMI_PROTO_SENSOR };

uint64_t vtb_scmi_sensor_value(uint64_t seed, unsigned sensor, uint64_t n)
{
	/* Around 40 degrees C in millidegrees, jittered. */
	return 40000 + vtb_mix64(seed ^ vtb_mix64(((uint64_t)sensor << 48) ^ n)) % 5000;
}

size_t vtb_scmi_memsize(void)
{
	return sizeof(struct vtb_scmi);
}

struct vtb_scmi *vtb_scmi_init(void *mem, uint64_t seed, const struct vtb_dev_io *io)
{
	if (!mem || !io)
		return NULL;
	struct vtb_scmi *s = mem;
	vtb_memset(s, 0, sizeof(*s));
	s->io = *io;
	s->seed = seed;
	for (unsigned d = 0; d < VTB_SCMI_NUM_PERF; d++) {
		s->perf_level[d] = VTB_SCMI_NUM_LEVELS - 1;
		s->perf_max[d] = VTB_SCMI_NUM_LEVELS - 1;
	}
	return s;
}

void vtb_scmi_set_events(struct vtb_scmi *s, bool events)
{
	s->events = events;
}

/* Response builder: status then return values, little-endian words. */
struct scmi_out {
	uint8_t *p;
	uint32_t len, cap;
	bool overflow;
};

static void put32(struct scmi_out *o, uint32_t v)
{
	if (o->len + 4 > o->cap) {
		o->overflow = true;
		return;
	}
	v = vtb_le32(v);
	vtb_memcpy(o->p + o->len, &v, 4);
	o->len += 4;
}

static void putname(struct scmi_out *o, const char *name, unsigned idx)
{
	char n[16] = { 0 };
	unsigned i = 0;
	for (; name[i] && i < 12; i++)
		n[i] = name[i];
	if (idx < 100) {
		if (idx >= 10)
			n[i++] = (char)('0' + idx / 10);
		n[i++] = (char)('0' + idx % 10);
	}
	if (o->len + 16 > o->cap) {
		o->overflow = true;
		return;
	}
	vtb_memcpy(o->p + o->len, n, 16);
	o->len += 16;
}

static uint32_t get32(const uint8_t *params, unsigned i)
{
	uint32_t v;
	vtb_memcpy(&v, params + 4 * i, 4);
	return vtb_le32(v);
}

static void queue_notif(struct vtb_scmi *s, unsigned dom, uint32_t level)
{
	if (s->pend_count == SCMI_PENDING_NOTIFS) {
		s->stats.notifs_dropped++;
		return;
	}
	unsigned slot = (s->pend_head + s->pend_count++) % SCMI_PENDING_NOTIFS;
	s->pend[slot][0] = dom;
	s->pend[slot][1] = level;
}

/* Each handler writes return values after the status; returns the status.
 * np: number of 32-bit parameter words present. */
static int32_t scmi_base(struct vtb_scmi *s, unsigned id, const uint8_t *pa, unsigned np, struct scmi_out *o)
{
	(void)s;
	switch (id) {
	case VTB_SCMI_PROTOCOL_VERSION:
		put32(o, 0x20000);
		return 0;
	case VTB_SCMI_PROTOCOL_ATTRIBUTES:
		put32(o, (1u << 8) | sizeof(protocols));	/* one agent */
		return 0;
	case VTB_SCMI_PROTOCOL_MESSAGE_ATTRIBUTES:
		if (np < 1)
			return VTB_SCMI_PROTOCOL_ERROR;
		if (get32(pa, 0) > VTB_SCMI_BASE_DISCOVER_LIST_PROTOCOLS)
			return VTB_SCMI_NOT_FOUND;
		put32(o, 0);
		return 0;
	case VTB_SCMI_BASE_DISCOVER_VENDOR:
		putname(o, "vtbench", 100);
		return 0;
	case VTB_SCMI_BASE_DISCOVER_SUB_VENDOR:
		putname(o, "proc", 100);
		return 0;
	case VTB_SCMI_BASE_DISCOVER_IMPL_VERSION:
		put32(o, 0x00010000);
		return 0;
	case VTB_SCMI_BASE_DISCOVER_LIST_PROTOCOLS: {
		if (np < 1)
			return VTB_SCMI_PROTOCOL_ERROR;
		uint32_t skip = get32(pa, 0);
		if (skip > sizeof(protocols))
			return VTB_SCMI_INVALID_PARAMS;
		uint32_t n = (uint32_t)sizeof(protocols) - skip;
		put32(o, n);
		for (uint32_t w = 0; w < (n + 3) / 4; w++) {
			uint32_t v = 0;
			for (uint32_t b = 0; b < 4 && w * 4 + b < n; b++)
				v |= (uint32_t)protocols[skip + w * 4 + b] << (8 * b);
			put32(o, v);
		}
		return 0;
	}
	}
	return VTB_SCMI_NOT_SUPPORTED;
}

/* A level index change from the agent's LEVEL_SET or LIMITS_SET: the
 * level-changed notification is sent only when the level does change
 * (DEN0056 PERFORMANCE_LEVEL_CHANGED), to a subscriber, over an eventq. */
static void perf_change(struct vtb_scmi *s, unsigned dom, unsigned idx)
{
	if (s->perf_level[dom] == idx)
		return;
	s->perf_level[dom] = (uint8_t)idx;
	if (s->perf_notify[dom] && s->events)
		queue_notif(s, dom, vtb_scmi_level(dom, idx));
}

/* The index of a level in the domain's table; NUM_LEVELS if none. */
static unsigned perf_index(unsigned dom, uint32_t level)
{
	unsigned i = 0;
	while (i < VTB_SCMI_NUM_LEVELS && vtb_scmi_level(dom, i) != level)
		i++;
	return i;
}

static bool perf_implemented(const struct vtb_scmi *s, uint32_t id)
{
	if (id <= VTB_SCMI_PERF_LEVEL_GET)
		return true;	/* 0..2 common, 3..8 the domain commands */
	/* PERFORMANCE_NOTIFY_LIMITS is not implemented; NOTIFY_LEVEL only
	 * with an event queue to carry the notifications. */
	return id == VTB_SCMI_PERF_NOTIFY_LEVEL && s->events;
}

static int32_t scmi_perf(struct vtb_scmi *s, unsigned id, const uint8_t *pa, unsigned np, struct scmi_out *o)
{
	if (id == VTB_SCMI_PROTOCOL_VERSION) {
		put32(o, 0x10000);
		return 0;
	}
	if (id == VTB_SCMI_PROTOCOL_ATTRIBUTES) {
		/* [15:0] domains; bit 16 clear: power costs in an abstract scale */
		put32(o, VTB_SCMI_NUM_PERF);
		put32(o, 0);	/* statistics shared memory: none */
		put32(o, 0);
		put32(o, 0);
		return 0;
	}
	if (id == VTB_SCMI_PROTOCOL_MESSAGE_ATTRIBUTES) {
		if (np < 1)
			return VTB_SCMI_PROTOCOL_ERROR;
		if (!perf_implemented(s, get32(pa, 0)))
			return VTB_SCMI_NOT_FOUND;
		put32(o, 0);	/* bit 0 clear: no fast channel */
		return 0;
	}
	if (!perf_implemented(s, id))
		return VTB_SCMI_NOT_SUPPORTED;
	unsigned need = id == VTB_SCMI_PERF_LIMITS_SET ? 3 :
			id == VTB_SCMI_PERF_LEVEL_SET || id == VTB_SCMI_PERF_NOTIFY_LEVEL ||
			id == VTB_SCMI_PERF_DESCRIBE_LEVELS ? 2 : 1;
	if (np < need)
		return VTB_SCMI_PROTOCOL_ERROR;
	uint32_t dom = get32(pa, 0);
	if (dom >= VTB_SCMI_NUM_PERF)
		return VTB_SCMI_NOT_FOUND;
	switch (id) {
	case VTB_SCMI_PERF_DOMAIN_ATTRIBUTES:
		/* The level-changed notification only over an event queue;
		 * limits-changed is not implemented. */
		put32(o, VTB_SCMI_PERF_DOM_SET_LIMITS | VTB_SCMI_PERF_DOM_SET_LEVEL |
			 (s->events ? VTB_SCMI_PERF_DOM_LEVEL_NOTIFY : 0));
		put32(o, 1000);			/* [19:0] rate limit, us */
		put32(o, (dom + 1) * 1000000);	/* sustained freq, kHz */
		put32(o, vtb_scmi_level(dom, VTB_SCMI_NUM_LEVELS - 1));
		putname(o, "perf", dom);
		return 0;
	case VTB_SCMI_PERF_DESCRIBE_LEVELS: {
		/* domain, level_index; an index past the table is
		 * INVALID_PARAMETERS, as in Arm's SCP firmware.  Few levels a
		 * message, so that a driver's remaining/returned loop runs. */
		uint32_t first = get32(pa, 1);
		if (first >= VTB_SCMI_NUM_LEVELS)
			return VTB_SCMI_INVALID_PARAMS;
		uint32_t n = VTB_SCMI_NUM_LEVELS - first;
		if (n > VTB_SCMI_LEVELS_PER_MSG)
			n = VTB_SCMI_LEVELS_PER_MSG;
		/* remaining [31:16], returned [11:0]; then per level: the
		 * level, its power cost, attributes ([15:0] latency, us) */
		put32(o, ((VTB_SCMI_NUM_LEVELS - first - n) << 16) | n);
		for (uint32_t i = first; i < first + n; i++) {
			put32(o, vtb_scmi_level(dom, i));
			put32(o, vtb_scmi_level_power(dom, i));
			put32(o, VTB_SCMI_PERF_LATENCY_US);
		}
		return 0;
	}
	case VTB_SCMI_PERF_LIMITS_SET: {
		/* domain, range_max, range_min.  As Arm's SCP firmware does:
		 * min above max is INVALID_PARAMETERS, a bound that is not one
		 * of the domain's levels OUT_OF_RANGE; a current level outside
		 * the new range moves to the nearest bound. */
		uint32_t max = get32(pa, 1), min = get32(pa, 2);
		if (min > max)
			return VTB_SCMI_INVALID_PARAMS;
		unsigned imax = perf_index(dom, max), imin = perf_index(dom, min);
		if (imax == VTB_SCMI_NUM_LEVELS || imin == VTB_SCMI_NUM_LEVELS)
			return VTB_SCMI_OUT_OF_RANGE;
		s->perf_min[dom] = (uint8_t)imin;
		s->perf_max[dom] = (uint8_t)imax;
		if (s->perf_level[dom] < imin)
			perf_change(s, dom, imin);
		else if (s->perf_level[dom] > imax)
			perf_change(s, dom, imax);
		return 0;
	}
	case VTB_SCMI_PERF_LIMITS_GET:
		put32(o, vtb_scmi_level(dom, s->perf_max[dom]));
		put32(o, vtb_scmi_level(dom, s->perf_min[dom]));
		return 0;
	case VTB_SCMI_PERF_LEVEL_GET:
		put32(o, vtb_scmi_level(dom, s->perf_level[dom]));
		return 0;
	case VTB_SCMI_PERF_NOTIFY_LEVEL:
		if (get32(pa, 1) & ~1u)
			return VTB_SCMI_INVALID_PARAMS;
		s->perf_notify[dom] = get32(pa, 1) & 1;
		return 0;
	default: {	/* LEVEL_SET: a level of the table, inside the limits */
		unsigned i = perf_index(dom, get32(pa, 1));
		if (i < s->perf_min[dom] || i > s->perf_max[dom])
			return VTB_SCMI_OUT_OF_RANGE;
		perf_change(s, dom, i);
		return 0;
	}
	}
}

static int32_t scmi_clock(struct vtb_scmi *s, unsigned id, const uint8_t *pa, unsigned np, struct scmi_out *o)
{
	switch (id) {
	case VTB_SCMI_PROTOCOL_VERSION:
		put32(o, 0x10000);
		return 0;
	case VTB_SCMI_PROTOCOL_ATTRIBUTES:
		put32(o, VTB_SCMI_NUM_CLOCKS);	/* no async rate changes */
		return 0;
	case VTB_SCMI_PROTOCOL_MESSAGE_ATTRIBUTES:
		if (np < 1)
			return VTB_SCMI_PROTOCOL_ERROR;
		/* CLOCK v1.0 has no notifications (CLOCK_RATE_NOTIFY is v2.0) */
		if (get32(pa, 0) > VTB_SCMI_CLOCK_CONFIG_SET)
			return VTB_SCMI_NOT_FOUND;
		put32(o, 0);
		return 0;
	case VTB_SCMI_CLOCK_ATTRIBUTES:
	case VTB_SCMI_CLOCK_RATE_GET: {
		if (np < 1)
			return VTB_SCMI_PROTOCOL_ERROR;
		uint32_t c = get32(pa, 0);
		if (c >= VTB_SCMI_NUM_CLOCKS)
			return VTB_SCMI_NOT_FOUND;
		if (id == VTB_SCMI_CLOCK_ATTRIBUTES) {
			put32(o, !s->clock_off[c]);	/* bit 0: enabled */
			putname(o, "clk", c);
		} else {
			uint64_t r = vtb_scmi_rate(c, s->clock_rate[c]);
			put32(o, (uint32_t)r);
			put32(o, (uint32_t)(r >> 32));
		}
		return 0;
	}
	case VTB_SCMI_CLOCK_DESCRIBE_RATES: {
		if (np < 2)
			return VTB_SCMI_PROTOCOL_ERROR;
		uint32_t c = get32(pa, 0), first = get32(pa, 1);
		if (c >= VTB_SCMI_NUM_CLOCKS)
			return VTB_SCMI_NOT_FOUND;
		if (first >= VTB_SCMI_NUM_RATES)
			return VTB_SCMI_OUT_OF_RANGE;
		uint32_t n = VTB_SCMI_NUM_RATES - first;
		if (n > VTB_SCMI_RATES_PER_MSG)
			n = VTB_SCMI_RATES_PER_MSG;
		/* remaining [31:16], discrete list (bit 12 clear), returned [11:0] */
		put32(o, ((VTB_SCMI_NUM_RATES - first - n) << 16) | n);
		for (uint32_t i = 0; i < n; i++) {
			uint64_t r = vtb_scmi_rate(c, first + i);
			put32(o, (uint32_t)r);
			put32(o, (uint32_t)(r >> 32));
		}
		return 0;
	}
	case VTB_SCMI_CLOCK_CONFIG_SET: {
		/* clock_id, attributes: bit 0 enable, [31:1] reserved in v1.0 */
		if (np < 2)
			return VTB_SCMI_PROTOCOL_ERROR;
		uint32_t c = get32(pa, 0), attrs = get32(pa, 1);
		if (c >= VTB_SCMI_NUM_CLOCKS)
			return VTB_SCMI_NOT_FOUND;
		if (attrs & ~1u)
			return VTB_SCMI_INVALID_PARAMS;
		s->clock_off[c] = !(attrs & 1);
		return 0;
	}
	case VTB_SCMI_CLOCK_RATE_SET: {
		if (np < 4)
			return VTB_SCMI_PROTOCOL_ERROR;
		uint32_t flags = get32(pa, 0), c = get32(pa, 1);
		uint64_t r = get32(pa, 2) | ((uint64_t)get32(pa, 3) << 32);
		if (flags & 1)	/* async: we advertise none */
			return VTB_SCMI_NOT_SUPPORTED;
		if (c >= VTB_SCMI_NUM_CLOCKS)
			return VTB_SCMI_NOT_FOUND;
		for (unsigned i = 0; i < VTB_SCMI_NUM_RATES; i++) {
			if (vtb_scmi_rate(c, i) == r) {
				s->clock_rate[c] = (uint8_t)i;
				return 0;
			}
		}
		return VTB_SCMI_OUT_OF_RANGE;
	}
	}
	return VTB_SCMI_NOT_SUPPORTED;
}

static int32_t scmi_sensor(struct vtb_scmi *s, unsigned id, const uint8_t *pa, unsigned np, struct scmi_out *o)
{
	switch (id) {
	case VTB_SCMI_PROTOCOL_VERSION:
		put32(o, 0x10000);
		return 0;
	case VTB_SCMI_PROTOCOL_ATTRIBUTES:
		put32(o, VTB_SCMI_NUM_SENSORS);	/* no async reads */
		put32(o, 0);
		put32(o, 0);
		put32(o, 0);
		return 0;
	case VTB_SCMI_PROTOCOL_MESSAGE_ATTRIBUTES:
		if (np < 1)
			return VTB_SCMI_PROTOCOL_ERROR;
		if (get32(pa, 0) != VTB_SCMI_SENSOR_DESCRIPTION_GET &&
		    get32(pa, 0) != VTB_SCMI_SENSOR_READING_GET && get32(pa, 0) > 2)
			return VTB_SCMI_NOT_FOUND;
		put32(o, 0);
		return 0;
	case VTB_SCMI_SENSOR_DESCRIPTION_GET: {
		if (np < 1)
			return VTB_SCMI_PROTOCOL_ERROR;
		uint32_t first = get32(pa, 0);
		if (first >= VTB_SCMI_NUM_SENSORS)
			return VTB_SCMI_INVALID_PARAMS;
		uint32_t n = VTB_SCMI_NUM_SENSORS - first;
		if (n > VTB_SCMI_DESCS_PER_MSG)
			n = VTB_SCMI_DESCS_PER_MSG;
		put32(o, ((VTB_SCMI_NUM_SENSORS - first - n) << 16) | n);
		for (uint32_t i = 0; i < n; i++) {
			put32(o, first + i);
			put32(o, 0);		/* no async, no trip points */
			put32(o, 2 | (0x1du << 11));	/* degrees C, scale 10^-3 */
			putname(o, "temp", first + i);
		}
		return 0;
	}
	case VTB_SCMI_SENSOR_READING_GET: {
		if (np < 2)
			return VTB_SCMI_PROTOCOL_ERROR;
		uint32_t id_ = get32(pa, 0), flags = get32(pa, 1);
		if (id_ >= VTB_SCMI_NUM_SENSORS)
			return VTB_SCMI_NOT_FOUND;
		if (flags & 1)
			return VTB_SCMI_NOT_SUPPORTED;
		uint64_t v = vtb_scmi_sensor_value(s->seed, id_, s->sensor_reads[id_]++);
		put32(o, (uint32_t)v);
		put32(o, (uint32_t)(v >> 32));
		return 0;
	}
	}
	return VTB_SCMI_NOT_SUPPORTED;
}

uint32_t vtb_scmi_handle(struct vtb_scmi *s, const void *msg, uint32_t len, void *resp, uint32_t cap)
{
	uint32_t hdr;
	if (len < 4 || cap < 8) {
		s->stats.bad_msgs++;
		return 0;
	}
	vtb_memcpy(&hdr, msg, 4);
	hdr = vtb_le32(hdr);
	const uint8_t *pa = (const uint8_t *)msg + 4;
	unsigned np = (len - 4) / 4;
	struct scmi_out o = { .p = resp, .len = 8, .cap = cap };
	int32_t st;

	s->stats.cmds++;
	if (VTB_SCMI_HDR_TYPE(hdr) != VTB_SCMI_TYPE_CMD || (len - 4) % 4 || len - 4 > VTB_SCMI_MAX_MSG)
		st = VTB_SCMI_PROTOCOL_ERROR;
	else if (VTB_SCMI_HDR_PROTO(hdr) == VTB_SCMI_PROTO_BASE)
		st = scmi_base(s, VTB_SCMI_HDR_ID(hdr), pa, np, &o);
	else if (VTB_SCMI_HDR_PROTO(hdr) == VTB_SCMI_PROTO_PERF)
		st = scmi_perf(s, VTB_SCMI_HDR_ID(hdr), pa, np, &o);
	else if (VTB_SCMI_HDR_PROTO(hdr) == VTB_SCMI_PROTO_CLOCK)
		st = scmi_clock(s, VTB_SCMI_HDR_ID(hdr), pa, np, &o);
	else if (VTB_SCMI_HDR_PROTO(hdr) == VTB_SCMI_PROTO_SENSOR)
		st = scmi_sensor(s, VTB_SCMI_HDR_ID(hdr), pa, np, &o);
	else
		st = VTB_SCMI_NOT_SUPPORTED;
	if (o.overflow)		/* the driver's response buffer is too small */
		st = VTB_SCMI_PROTOCOL_ERROR;
	if (st)
		o.len = 8;	/* failed commands return only the status */
	if (st)
		s->stats.errors++;
	uint32_t h = vtb_le32(hdr), stv = vtb_le32((uint32_t)st);
	vtb_memcpy(resp, &h, 4);
	vtb_memcpy((uint8_t *)resp + 4, &stv, 4);
	return o.len;
}

static int scmi_deliver_notifs(struct vtb_scmi *s)
{
	struct vtb_req r;
	while (s->pend_count) {
		int got = s->io.pop(s->io.ctx, VTB_SCMI_Q_EVENT, &r);
		if (got <= 0)
			return got;
		uint32_t *p = s->pend[s->pend_head];
		uint32_t m[4] = {
			vtb_le32(VTB_SCMI_HDR(VTB_SCMI_PERF_LEVEL_CHANGED, VTB_SCMI_TYPE_NOTIF, VTB_SCMI_PROTO_PERF, 0)),
			/* agent that caused the change, domain, level: the
			 * 12-byte payload Linux's perf.c requires exactly */
			vtb_le32(VTB_SCMI_AGENT_ID), vtb_le32(p[0]), vtb_le32(p[1]),
		};
		uint32_t len = 0;
		/* A buffer too small (or readable, which a driver must not post)
		 * loses this notification, counted: virtio 1.2 5.17.6.4.1 lets
		 * the device omit it, and a truncated one would be a message
		 * of the wrong size, which Linux rejects anyway.  The buffer goes
		 * back with nothing written, so it is never overrun. */
		if (r.nout == 0 && r.in_bytes >= sizeof(m)) {
			len = vtb_req_write(&r, 0, m, sizeof(m));
			s->stats.notifs++;
		} else {
			s->stats.notifs_dropped++;
		}
		s->pend_head = (s->pend_head + 1) % SCMI_PENDING_NOTIFS;
		s->pend_count--;
		int e = s->io.push(s->io.ctx, &r, len);
		if (e)
			return e;
	}
	return 0;
}

int vtb_scmi_process(struct vtb_scmi *s, unsigned budget)
{
	struct vtb_req r;
	unsigned done = 0;
	int e;
	while (done < budget) {
		int got = s->io.pop(s->io.ctx, VTB_SCMI_Q_CMD, &r);
		if (got < 0)
			return got;
		if (!got)
			break;
		uint32_t len = r.out_bytes < sizeof(s->msg) ? r.out_bytes : (uint32_t)sizeof(s->msg);
		vtb_req_read(&r, 0, s->msg, len);
		uint32_t cap = r.in_bytes < sizeof(s->resp) ? r.in_bytes : (uint32_t)sizeof(s->resp);
		/* An oversized request is a protocol error, not a truncation. */
		uint32_t n = vtb_scmi_handle(s, s->msg, r.out_bytes > sizeof(s->msg) ? 5 : len, s->resp, cap);
		vtb_req_write(&r, 0, s->resp, n);
		e = s->io.push(s->io.ctx, &r, n);
		if (e)
			return e;
		done++;
		/* Notifications go out as they arise, not after a whole batch:
		 * a long batch would overflow the pending queue and drop them. */
		if (s->events && s->pend_count && (e = scmi_deliver_notifs(s)) < 0)
			return e;
	}
	if (s->events && (e = scmi_deliver_notifs(s)) < 0)
		return e;
	return (int)done;
}

uint32_t vtb_scmi_wake_mask(const struct vtb_scmi *s)
{
	return 1u << VTB_SCMI_Q_CMD | (s->pend_count ? 1u << VTB_SCMI_Q_EVENT : 0);
}

const struct vtb_scmi_stats *vtb_scmi_stats(const struct vtb_scmi *s)
{
	return &s->stats;
}

uint64_t vtb_scmi_sensor_reads(const struct vtb_scmi *s, unsigned i)
{
	return i < VTB_SCMI_NUM_SENSORS ? s->sensor_reads[i] : 0;
}

uint64_t vtb_scmi_sensor_last(const struct vtb_scmi *s, unsigned i)
{
	uint64_t n = vtb_scmi_sensor_reads(s, i);
	return n ? vtb_scmi_sensor_value(s->seed, i, n - 1) : 0;
}
