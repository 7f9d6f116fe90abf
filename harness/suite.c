#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peer.h"
#include "suite.h"
#include "../workloads/blk/vtb_blk.h"
#include "../workloads/net/vtb_net.h"

static const struct vtb_key *key_find(const char *name);

/* A section: key=value pairs in order, later ones win. */
struct kv {
	const char *key;
	char *val;
	char where[160];
};

struct section {
	char name[64];
	struct kv kv[64];
	size_t n;
};

static void set_kv(struct section *s, const char *key, const char *val, const char *where)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->kv[i].key, key)) {
			free(s->kv[i].val);
			s->kv[i].val = strdup(val);
			snprintf(s->kv[i].where, sizeof(s->kv[i].where), "%s", where);
			return;
		}
	if (s->n == 64)
		return;
	s->kv[s->n].key = key_find(key)->name;
	s->kv[s->n].val = strdup(val);
	snprintf(s->kv[s->n].where, sizeof(s->kv[s->n].where), "%s", where);
	s->n++;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static int parse_u64(const char *s, uint64_t *out, bool suffixes)
{
	char *end;
	errno = 0;
	/* Decimal only: a leading zero does not make 010 octal. */
	if (!isdigit((unsigned char)*s))
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	uint64_t mul = 1;
	if (suffixes && *end) {
		switch (tolower((unsigned char)*end)) {
		case 'k': mul = 1ull << 10; break;
		case 'm': mul = 1ull << 20; break;
		case 'g': mul = 1ull << 30; break;
		default: return -1;
		}
		end++;
		if (tolower((unsigned char)*end) == 'b' || tolower((unsigned char)*end) == 'i')
			end++;
	}
	if (*end || (v && mul > UINT64_MAX / v))
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_time(const char *s, double *out)
{
	char *end;
	/* strtod takes nan, inf and hex floats: a time is a plain finite decimal. */
	if ((!isdigit((unsigned char)*s) && *s != '.') || strpbrk(s, "xXpP"))
		return -1;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < 0)
		return -1;
	if (!strcmp(end, "ms"))
		v /= 1000;
	else if (!strcmp(end, "us"))
		v /= 1e6;
	else if (*end && strcmp(end, "s"))
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "1") || !strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true"))
		return *out = true, 0;
	if (!strcmp(s, "0") || !strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false"))
		return *out = false, 0;
	return -1;
}

static int copy_str(char *dst, size_t n, const char *v)
{
	if (strlen(v) >= n)
		return -1;
	/* Zero-filled: cells are compared whole to drop duplicates. */
	memset(dst, 0, n);
	memcpy(dst, v, strlen(v));
	return 0;
}

/* Where a key's value lands in the cell. */
static void *field(const struct vtb_key *k, struct vtb_cellp *c)
{
	return (char *)c + k->off;
}

static void store_uint(void *dst, size_t len, uint64_t u)
{
	if (len == sizeof(uint64_t)) {
		memcpy(dst, &u, sizeof(u));
	} else {
		uint32_t v = (uint32_t)u;
		memcpy(dst, &v, sizeof(v));
	}
}

static uint64_t load_uint(const void *src, size_t len)
{
	if (len == sizeof(uint64_t)) {
		uint64_t u;
		memcpy(&u, src, sizeof(u));
		return u;
	}
	uint32_t v;
	memcpy(&v, src, sizeof(v));
	return v;
}

#define BAD(...) return snprintf(err, n, __VA_ARGS__), -1

/* A string field; expect: the message when it does not fit. */
static int set_str(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	if (copy_str(field(k, c), k->len, v))
		BAD("%s", k->expect);
	return 0;
}

/* One of k->choices; checked even where the device ignores it: a typo is never silent. */
static int set_choice(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	for (const char *const *ch = k->choices; *ch; ch++)
		if (!strcmp(*ch, v))
			return set_str(k, c, v, err, n);
	BAD("%s=%s: %s", k->name, v, k->expect);
}

static int set_bool(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	bool b;
	if (parse_bool(v, &b))
		BAD("%s=%s: expected 0 or 1", k->name, v);
	memcpy(field(k, c), &b, sizeof(b));
	return 0;
}

/* A whole number in [min, max] (k/m/g with KEY_SUFFIX, a power of two
 * with KEY_POW2, whole pages with KEY_PAGES), then k->ok if given. */
static int set_uint(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	uint64_t u;
	if (parse_u64(v, &u, k->flags & KEY_SUFFIX) || u < k->min || u > k->max ||
	    ((k->flags & KEY_POW2) && (u & (u - 1))) || ((k->flags & KEY_PAGES) && u % 4096))
		BAD("%s=%s: %s", k->name, v, k->expect);
	if (k->ok && !k->ok(u))
		BAD(k->ok_msg, v);
	store_uint(field(k, c), k->len, u);
	return 0;
}

static int set_time(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	double d;
	if (parse_time(v, &d) || d > 86400)
		BAD("%s=%s: %s", k->name, v, k->expect);
	memcpy(field(k, c), &d, sizeof(d));
	return 0;
}

static bool nonzero(uint64_t u)
{
	return u != 0;
}

static bool vq_num_ok(uint64_t u)
{
	return vtb_vq_num_ok((uint32_t)u);
}

static int set_device(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	if (!vtb_workload_find(v))
		BAD("unknown device '%s' (blk, net, scmi)", v);
	return copy_str(field(k, c), k->len, v);
}

/* NAME or NAME/VARIANT, so one matrix can mix transports' variants. */
static int set_transport(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	char name[32];
	const char *slash = strchr(v, '/');
	size_t nl = slash ? (size_t)(slash - v) : strlen(v);
	if (nl >= sizeof(name))
		BAD("unknown transport '%s' (see ./vtbench list)", v);
	memcpy(name, v, nl);
	name[nl] = 0;
	if (!vtb_transport_find(name) && !vtb_peer_find(name))
		BAD("unknown transport '%s' (see ./vtbench list)", name);
	if (slash && copy_str(c->variant, sizeof(c->variant), slash + 1))
		BAD("variant too long");
	return copy_str(field(k, c), k->len, name);
}

/* The platforms a cell may name: those registered. */
static int set_platform(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	if (!vtb_platform_find(v)) {
		int o = snprintf(err, n, "platform=%s: the platforms are:", v);
		for (unsigned i = 0; vtb_platforms[i] && o > 0 && (size_t)o < n; i++)
			o += snprintf(err + o, n - (size_t)o, " %s", vtb_platforms[i]->name);
		return -1;
	}
	return copy_str(field(k, c), k->len, v);
}

/* scmi's op:weight list, judged by its own workload whatever the cell's device. */
static int set_mix(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	struct vtb_cellp t = { .qd = 1 };
	char why[200];
	if (copy_str(t.mix, sizeof(t.mix), v))
		BAD("mix too long");
	if (vtb_workload_find("scmi")->check(&t, why, sizeof(why)))
		BAD("%s", why);
	return set_str(k, c, v, err, n);
}

static int set_size(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	uint64_t u;
	(void)k;
	if (!strcmp(v, "imix"))
		return c->size = VTB_NET_IMIX, 0;
	if (!*v)
		return c->size = 0, 0;
	if (parse_u64(v, &u, true) || u == 0 || u > (1u << 24))
		BAD("size=%s: expected bytes (4k, 1500, 64k) or imix", v);
	return c->size = (int)u, 0;
}

static int set_ci(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	double d;
	(void)k;
	if (parse_time(v, &d) || strpbrk(v, "mus") || !(d > 0 && d <= 100))
		BAD("ci=%s: expected a percentage above 0, at most 100", v);
	c->ci_pct = d;
	return 0;
}

/* A time, or minutes (10m; 10ms stays milliseconds). */
static int set_budget(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	double d;
	size_t len = strlen(v);
	bool minutes = len > 1 && v[len - 1] == 'm' && v[len - 2] != 'm' && isdigit((unsigned char)v[len - 2]);
	char t[32];
	(void)k;
	if (minutes && len < sizeof(t)) {
		memcpy(t, v, len - 1);
		t[len - 1] = 0;
	}
	if (minutes ? len >= sizeof(t) || parse_time(t, &d) || strpbrk(t, "mus") : parse_time(v, &d))
		BAD("budget=%s: expected a time (600s, 10m) or 0", v);
	if (minutes)
		d *= 60;
	c->budget = d;
	return 0;
}

static int set_cpus(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	(void)k;
	if (!strcmp(v, "auto")) {
		c->cpu_fe = ncpu >= 2 ? 0 : -1;
		c->cpu_be = ncpu >= 2 ? 1 : -1;
		return 0;
	}
	if (!strcmp(v, "none"))
		return c->cpu_fe = c->cpu_be = -1, 0;
	uint64_t a, bb;
	char fe[32], *comma = strchr(v, ',');
	if (!comma || (size_t)(comma - v) >= sizeof(fe) || (memcpy(fe, v, (size_t)(comma - v)), fe[comma - v] = 0,
	    parse_u64(fe, &a, false)) || parse_u64(comma + 1, &bb, false) || a >= (uint64_t)ncpu || bb >= (uint64_t)ncpu)
		BAD("cpus=%s: expected auto, none or FE,BE CPU numbers below %ld", v, ncpu);
	if (a == bb)
		BAD("cpus=%s: the two domains need two different CPUs (cpus=none leaves them unpinned)", v);
	c->cpu_fe = (int)a;
	c->cpu_be = (int)bb;
	return 0;
}

/* 4096 as 4k, 64 MiB as 64m: how limits read in a suite. */
static void human_bytes(char *buf, size_t len, double b)
{
	uint64_t u = (uint64_t)b;
	if (u && !(u % (1ull << 30)))
		snprintf(buf, len, "%llug", (unsigned long long)(u >> 30));
	else if (u && !(u % (1ull << 20)))
		snprintf(buf, len, "%llum", (unsigned long long)(u >> 20));
	else if (u && !(u % 1024))
		snprintf(buf, len, "%lluk", (unsigned long long)(u >> 10));
	else
		snprintf(buf, len, "%llu", (unsigned long long)u);
}

/* What a transport option accepts, in words, from its table entry. */
static void xopt_expect(const struct vtb_xport_opt *o, char *buf, size_t len)
{
	char lo[32], hi[32];
	bool pow2 = o->flags & VTB_XOPT_POW2;
	if (o->type == VTB_XOPT_TIME) {
		snprintf(buf, len, "expected a time (%s)", o->def);
		return;
	}
	if (o->type == VTB_XOPT_BYTES) {
		human_bytes(lo, sizeof(lo), o->min);
		human_bytes(hi, sizeof(hi), o->max);
	} else {
		snprintf(lo, sizeof(lo), "%.0f", o->min);
		snprintf(hi, sizeof(hi), "%.0f", o->max);
	}
	if (pow2)
		snprintf(buf, len, "a power of two from %s to %s", lo, hi);
	else
		snprintf(buf, len, "expected %s..%s", lo, hi);
}

/* A transport's option: its limits come from the transport's table. */
static int set_xopt(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n)
{
	const struct vtb_xport_opt *o = vtb_xport_opt_find(k->name);
	uint64_t u = 0;
	double d = 0;
	bool bad;
	if (o->type == VTB_XOPT_TIME) {
		bad = parse_time(v, &d);
	} else {
		bad = parse_u64(v, &u, o->type == VTB_XOPT_BYTES);
		d = (double)u;
	}
	bad = bad || d > o->max || ((o->flags & VTB_XOPT_ABOVE_MIN) ? d <= o->min : d < o->min) ||
	      ((o->flags & VTB_XOPT_POW2) && (u & (u - 1)));
	if (bad) {
		char expect[128];
		xopt_expect(o, expect, sizeof(expect));
		BAD("%s=%s: %s", k->name, v, expect);
	}
	if (o->type == VTB_XOPT_TIME)
		memcpy(field(k, c), &d, sizeof(d));
	else
		store_uint(field(k, c), k->len, u);
	return 0;
}
#undef BAD

#define AT(f) .off = offsetof(struct vtb_cellp, f), .len = sizeof(((struct vtb_cellp *)0)->f)
static const char *const notify_ch[] = { "event", "poll", NULL };
static const char *const pattern_ch[] = { "randread", "randwrite", "read", "write", "randrw", NULL };
static const char *const mode_ch[] = { "tx", "rx", "rr", NULL };
static const char *const probes_ch[] = { "auto", "on", "off", NULL };
static const char *const arch_ch[] = { "x86_64", "arm64", NULL };
static const char *const guest_io_ch[] = { "io_uring", "aio", NULL };
static const char *const backend_ch[] = { "qemu", "vtbench", "qsd", NULL };

/* Every suite key: its default, its help for `vtbench list`, how a value is
 * checked and where it lands.  A transport's option (set_xopt) takes its
 * default, help and limits from the transport's own table. */
const struct vtb_key vtb_keys[] = {
	{ "device", "blk", "blk | net | scmi", false, set_device, AT(device) },
	{ "transport", "shm", "how buffers cross between domains (see transports)", false, set_transport, AT(transport) },
	{ "variant", "", "transport variant; empty = the transport's default, * = all (transport=NAME/VARIANT also works)",
	  false, set_str, AT(variant), .expect = "variant too long" },
	{ "notify", "event", "event: doorbells with EVENT_IDX suppression | poll: busy polling, no doorbells", false,
	  set_choice, AT(notify), .choices = notify_ch, .expect = "expected event or poll" },
	{ "platform", "proc", "proc: domains are Linux processes with memfd RAM | qemu: the workload inside a Linux guest against its kernel's drivers",
	  false, set_platform, AT(platform) },
	{ "boot_runs", "0", "platform=qemu: whole boots per configuration timed with hyperfine, written as device=boot rows "
	  "(0: none; never a matrix)", true, set_uint, AT(boot_runs), .max = 100, .expect = "expected a whole number up to 100" },
	{ "arch", "x86_64", "platform=qemu: the guest's architecture: x86_64 (blk, net) or arm64 (blk, net, scmi)", false, set_choice, AT(arch),
	  .choices = arch_ch, .expect = "expected x86_64 or arm64" },
	{ "guest_io", "io_uring", "platform=qemu blk: how the guest engine submits its O_DIRECT requests: io_uring | aio "
	  "(Linux native AIO)", false, set_choice, AT(guest_io), .choices = guest_io_ch,
	  .expect = "expected io_uring or aio" },
	{ "backend", "qemu", "platform=qemu blk: the disk's device: qemu (QEMU's virtio-blk) | vtbench (vtbench serve "
	  "over vhost-user, the proc platform's device model) | qsd (qemu-storage-daemon over vhost-user)", false,
	  set_choice, AT(backend), .choices = backend_ch, .expect = "expected qemu, vtbench or qsd" },
	{ "pattern", "randread", "blk: randread | randwrite | read | write | randrw", false, set_choice, AT(pattern),
	  .choices = pattern_ch, .expect = "expected randread, randwrite, read, write or randrw" },
	{ "rwmix", "50", "blk randrw: percent reads", false, set_uint, AT(rwmix), .max = 65536,
	  .expect = "expected a whole number" },
	{ "mode", "tx", "net: tx (BE sinks) | rx (BE sources) | rr (BE echoes, latency)", false, set_choice, AT(mode),
	  .choices = mode_ch, .expect = "expected tx, rx or rr" },
	{ "mix", "sensor_read:70,clock_get:20,perf_set:10", "scmi: op:weight list (never a matrix); ops: sensor_read sensor_desc clock_get clock_set clock_attrs clock_rates perf_get perf_set perf_attrs perf_levels perf_limits_set perf_limits_get base_version base_attrs base_vendor base_subvendor base_impl base_protocols",
	  true, set_mix, AT(mix), .expect = "mix too long" },
	{ "size", "", "blk block bytes (default 4k); net frame bytes (default 64) or imix; k/m suffixes", false, set_size,
	  AT(size) },
	{ "qd", "1", "requests in flight", false, set_uint, AT(qd), .max = 65536, .expect = "expected a whole number",
	  .ok = nonzero, .ok_msg = "qd=0: at least one request must be in flight" },
	{ "ops", "0", "measured ops per repetition; 0 = run for duration", false, set_uint, AT(ops), .max = UINT64_MAX,
	  .flags = KEY_SUFFIX, .expect = "expected a whole number" },
	{ "duration", "1s", "measured time per repetition when ops=0 (s, ms)", false, set_time, AT(duration),
	  .expect = "expected a time (2s, 500ms)" },
	{ "warmup", "0.2s", "time before measuring, excluded from results (s, ms)", false, set_time, AT(warmup),
	  .expect = "expected a time (2s, 500ms)" },
	{ "reps", "3", "repetitions, interleaved across cells (with max_reps: at least this many)", false, set_uint,
	  AT(reps), .max = 65536, .expect = "expected a whole number", .ok = nonzero,
	  .ok_msg = "reps=0: at least one repetition" },
	{ "max_reps", "0", "adaptive: up to this many repetitions while the cell's 95% CI half-width is above ci= (0: exactly reps)",
	  false, set_uint, AT(max_reps), .max = 65536, .expect = "expected a whole number (0: exactly reps)" },
	{ "ci", "5", "adaptive target: 95% CI half-width in percent, of the ratio to shm for a paired cell, else of ops/s",
	  false, set_ci, AT(ci_pct) },
	{ "budget", "0", "adaptive: no extra repetition starts once the run has taken this long (s, m; 0: no limit)", false,
	  set_budget, AT(budget) },
	{ "pair", "0", "1: the cell and its shm reference take turns on the same CPUs in one window (ratio to shm measured paired; ops=0)",
	  false, set_bool, AT(pair) },
	{ "seed", "1", "PRNG seed for offsets, mixes and payloads", false, set_uint, AT(seed), .max = UINT64_MAX,
	  .expect = "expected a whole number" },
	{ "cpus", "auto", "FE,BE CPUs: auto (0,1 when there are two), none, or e.g. 0,1 (never a matrix)", true, set_cpus,
	  AT(cpu_fe) },
	{ "verify", "0", "1: check every payload end to end (costs FE CPU)", false, set_bool, AT(verify) },
	{ "indirect", "0", "1: chains in indirect descriptor tables", false, set_bool, AT(indirect) },
	{ "events", "1", "scmi: 1 the device offers P2A channels (PERF level notifications on the event queue), 0 none",
	  false, set_bool, AT(events) },
	{ "qsize", "256", "virtqueue size, a power of two", false, set_uint, AT(qsize), .max = 65536,
	  .expect = "expected a whole number", .ok = vq_num_ok, .ok_msg = "qsize=%s: a power of two from 1 to 32768" },
	{ "mem", "64m", "FE guest RAM", false, set_uint, AT(mem), .min = 4096, .max = 64ull << 30,
	  .flags = KEY_SUFFIX | KEY_PAGES, .expect = "expected a size in whole pages (64m, 1g)" },
	{ "disk", "", "blk capacity (default 64m; with backing=, the file's size, or less)", false, set_uint, AT(disk),
	  .min = 4096, .max = 64ull << 30, .flags = KEY_SUFFIX | KEY_PAGES,
	  .expect = "expected a size in whole pages (64m, 1g)" },
	{ "backing", "", "blk: an existing file (or device) served with io_uring instead of the RAM disk; never resized",
	  false, set_str, AT(backing), .expect = "backing path too long" },
	{ "backing_create", "0", "blk: 1 creates backing=PATH sized disk if missing, and lets verify=1 overwrite it", false,
	  set_bool, AT(backing_create) },
	{ "fq_size", NULL, NULL, false, set_xopt, AT(fq_size) },
	{ "fq_timeout", NULL, NULL, false, set_xopt, AT(fq_timeout) },
	{ "ring", NULL, NULL, false, set_xopt, AT(ring_bytes) },
	{ "probes", "auto", "eBPF probes on the domains: auto (on when BPF can load) | on (required) | off", false,
	  set_choice, AT(probes), .choices = probes_ch, .expect = "expected auto, on or off" },
	{ "usdt", "64", "1 in N requests fires the request-latency USDT (a power of two; 0: none)", false, set_uint,
	  AT(usdt), .max = 65536, .flags = KEY_POW2, .expect = "a power of two up to 65536, or 0" },
	{ "timeout", "0", "seconds before a cell is killed; 0 = duration + warmup + 30", false, set_time, AT(timeout),
	  .expect = "expected a time (2s, 500ms)" },
	{ .name = NULL },
};
#undef AT

static const struct vtb_key *key_find(const char *name)
{
	for (const struct vtb_key *k = vtb_keys; k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

const char *vtb_key_def(const struct vtb_key *k)
{
	return k->set == set_xopt ? vtb_xport_opt_find(k->name)->def : k->def;
}

/* A transport option's help: who owns it (and for which variants), then its own words. */
void vtb_key_help(const struct vtb_key *k, char *buf, size_t n)
{
	if (k->set != set_xopt) {
		snprintf(buf, n, "%s", k->help);
		return;
	}
	int o = 0;
	for (const struct vtb_transport_ops *const *t = vtb_transports; *t && o >= 0 && (size_t)o < n; t++) {
		const struct vtb_xport_opt *x = vtb_transport_opt(*t, k->name, NULL);
		if (!x)
			continue;
		o += snprintf(buf + o, n - (size_t)o, "%s%s", o ? ", " : "", (*t)->name);
		for (const char *const *v = x->variants; v && *v && o >= 0 && (size_t)o < n; v++)
			o += snprintf(buf + o, n - (size_t)o, "%s%s", v == x->variants ? " " : "/", *v);
	}
	if (o >= 0 && (size_t)o < n)
		snprintf(buf + o, n - (size_t)o, ": %s", vtb_xport_opt_find(k->name)->desc);
}

/* Applies one scalar value to a cell; -1 with a reason in err. */
static int apply(struct vtb_cellp *c, const char *key, const char *v, char *err, size_t n)
{
	const struct vtb_key *k = key_find(key);
	if (!k)
		return snprintf(err, n, "unknown key '%s'", key), -1;
	return k->set(k, c, v, err, n);
}

static bool has_key(const struct section *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->kv[i].key, key))
			return true;
	return false;
}

/* Where key was given (file:line or the argument); NULL if defaulted. */
static const char *key_where(const struct section *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->kv[i].key, key))
			return s->kv[i].where;
	return NULL;
}

/* The largest request a cell's generator makes: the bytes the device reads
 * (headers, out-data) and the bytes it writes (in-data, status). */
static void cell_request(const struct vtb_cellp *c, uint64_t *out, uint64_t *in)
{
	*out = *in = 0;
	if (!strcmp(c->device, "blk")) {
		bool rw = !strcmp(c->pattern, "randrw");
		bool wr = rw || !strcmp(c->pattern, "write") || !strcmp(c->pattern, "randwrite");
		bool rd = rw || !strcmp(c->pattern, "read") || !strcmp(c->pattern, "randread");
		*out = sizeof(struct vtb_blk_outhdr) + (wr ? (uint64_t)c->size : 0);
		*in = (rd ? (uint64_t)c->size : 0) + 1;	/* the status byte */
	} else if (!strcmp(c->device, "net")) {
		/* A frame buffer: the header and the largest frame (imix: 1518,
		 * as net_wl.c sizes its buffers). */
		uint64_t buf = sizeof(struct vtb_net_hdr_v1) + (c->size == VTB_NET_IMIX ? 1518u : (uint64_t)c->size);
		*out = strcmp(c->mode, "rx") ? buf : 0;
		*in = strcmp(c->mode, "tx") ? buf : 0;
	}
}

/* FNV-1a over the cell without its index (the position is not part of it). */
static uint64_t cell_hash(const struct vtb_cellp *c)
{
	struct vtb_cellp t = *c;
	t.index = 0;
	const unsigned char *b = (const unsigned char *)&t;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < sizeof(t); i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static bool cell_same(const struct vtb_cellp *a, const struct vtb_cellp *b)
{
	struct vtb_cellp t = *b;
	t.index = a->index;
	return !memcmp(a, &t, sizeof(t));
}

/* Keeps the set at most half full; -1 out of memory. */
static int set_grow(struct vtb_cells *out)
{
	if ((out->n + 1) * 2 <= out->set_cap)
		return 0;
	size_t cap = out->set_cap ? out->set_cap * 2 : 64;
	uint32_t *set = calloc(cap, sizeof(*set));
	if (!set)
		return -1;
	for (size_t i = 0; i < out->n; i++) {
		size_t k = (size_t)cell_hash(&out->v[i]) & (cap - 1);
		while (set[k])
			k = (k + 1) & (cap - 1);
		set[k] = (uint32_t)i + 1;
	}
	free(out->set);
	out->set = set;
	out->set_cap = cap;
	return 0;
}

static int push_cell(struct vtb_cells *out, const struct vtb_cellp *c)
{
	if (out->n >= UINT32_MAX - 1 || set_grow(out))
		return -1;
	size_t k = (size_t)cell_hash(c) & (out->set_cap - 1);
	for (; out->set[k]; k = (k + 1) & (out->set_cap - 1))
		if (cell_same(&out->v[out->set[k] - 1], c))
			return 0;	/* same cell reached twice through the matrix */
	out->set[k] = (uint32_t)out->n + 1;
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 16;
		void *p = realloc(out->v, cap * sizeof(*c));
		if (!p)
			return -1;
		out->v = p;
		out->cap = cap;
	}
	out->v[out->n] = *c;
	out->v[out->n].index = (unsigned)out->n;
	out->n++;
	return 0;
}

static uint64_t read_u64_file(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned long long v = UINT64_MAX;
	char word[32] = "";
	if (f) {
		if (fscanf(f, "%31s", word) == 1 && strcmp(word, "max"))
			v = strtoull(word, NULL, 10);
		fclose(f);
	}
	return v;
}

/* Bytes this process may still populate: MemAvailable, and what its
 * memory cgroup (v2 memory.max, or v1 limit_in_bytes) leaves. */
static uint64_t host_mem_available(void)
{
	static uint64_t cached;
	if (cached)
		return cached;
	uint64_t avail = UINT64_MAX;
	char line[512];
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			avail = kb * 1024;
	}
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *path = strchr(line, ':'), *ctl = path ? path + 1 : NULL;
		if (!ctl || !(path = strchr(ctl, ':')))
			continue;
		*path++ = 0;
		path[strcspn(path, "\n")] = 0;
		char lim[700], use[700];
		if (!*ctl) {	/* v2 */
			snprintf(lim, sizeof(lim), "/sys/fs/cgroup%s/memory.max", path);
			snprintf(use, sizeof(use), "/sys/fs/cgroup%s/memory.current", path);
		} else if (!strcmp(ctl, "memory")) {	/* v1 */
			snprintf(lim, sizeof(lim), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", path);
			snprintf(use, sizeof(use), "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", path);
		} else {
			continue;
		}
		uint64_t l = read_u64_file(lim), u = read_u64_file(use);
		if (l != UINT64_MAX && u != UINT64_MAX)
			avail = l > u ? (l - u < avail ? l - u : avail) : 0;
	}
	if (f)
		fclose(f);
	return cached = avail ? avail : 1;
}

/* What the FE's RAM must at least hold for the cell: its buffers (as the
 * generators allocate them), the rings and indirect tables, the shared
 * region.  A lower bound: a cell past it cannot run. */
static uint64_t fe_ram_needed(const struct vtb_cellp *c, const struct vtb_workload_ops *w, uint64_t region)
{
	uint64_t bufs = 0;
	if (!strcmp(c->device, "blk"))
		bufs = (uint64_t)c->qd * (((uint64_t)c->size + 4095) / 4096 * 4096 + 4096);
	else if (!strcmp(c->device, "net"))
		bufs = 2ull * c->qd * ((c->size == VTB_NET_IMIX ? 1518u : (uint64_t)c->size) + 128);
	uint64_t rings = (uint64_t)w->nqueues * c->qsize * (16 + 8 + (c->indirect ? 16 * VTB_REQ_MAX_SEG : 0)) + 65536;
	return bufs + rings + region;
}

/* The values that only make sense per device, filled once every key is in. */
static void device_defaults(const struct section *s, struct vtb_cellp *c)
{
	if (!has_key(s, "size"))
		c->size = !strcmp(c->device, "blk") ? 4096 : !strcmp(c->device, "net") ? 64 : 0;
	if (strcmp(c->device, "blk")) {
		memset(c->pattern, 0, sizeof(c->pattern));
		c->rwmix = 0;
		c->disk = 0;
		memset(c->backing, 0, sizeof(c->backing));
		c->backing_create = false;
	} else if (strcmp(c->pattern, "randrw")) {
		c->rwmix = 0;
	}
	if (strcmp(c->device, "net"))
		memset(c->mode, 0, sizeof(c->mode));
	if (strcmp(c->device, "scmi")) {
		memset(c->mix, 0, sizeof(c->mix));
		c->events = false;
	} else {
		c->size = 0;
	}
}

/* Zeroes the transport options t's variant does not own (t NULL: a peer,
 * which owns none): meaningless there, and no duplicate cells. */
static void drop_foreign_opts(struct vtb_cellp *c, const struct vtb_transport_ops *t)
{
	for (const struct vtb_key *k = vtb_keys; k->name; k++)
		if (k->set == set_xopt && (!t || !vtb_transport_opt(t, k->name, c->variant)))
			memset(field(k, c), 0, k->len);
}

void vtb_cell_xport_env(const struct vtb_cellp *c, const struct vtb_transport_ops *t, struct vtb_xenv *env)
{
	for (const struct vtb_key *k = vtb_keys; k->name; k++) {
		const struct vtb_xport_opt *o = k->set == set_xopt ? vtb_transport_opt(t, k->name, c->variant) : NULL;
		if (!o)
			continue;
		const void *src = (const char *)c + k->off;
		uint64_t u;
		if (o->type == VTB_XOPT_TIME) {
			double d;
			memcpy(&d, src, sizeof(d));
			u = (uint64_t)(d * 1e9);
		} else {
			u = load_uint(src, k->len);
		}
		store_uint((char *)env + o->env_off, o->env_size, u);
	}
}

static int push_or_oom(struct vtb_cells *out, const struct vtb_cellp *c, char *err, size_t n)
{
	return push_cell(out, c) ? (snprintf(err, n, "out of memory"), -1) : 0;
}

/* A peer program, not a transport: its own variants and limits. */
static int peer_cell(const struct section *s, const struct vtb_peer_ops *peer, struct vtb_cellp c,
		     struct vtb_cells *out, char *err, size_t n)
{
	int k = 0;
	while (c.variant[0] && strcmp(c.variant, "*") && peer->variants[k] && strcmp(peer->variants[k], c.variant))
		k++;
	if (!peer->variants[k]) {
		snprintf(err, n, "[%s] %s has no variant '%s'; it has: %s", s->name, peer->name, c.variant,
			 peer->variants[0]);
		return -1;
	}
	copy_str(c.variant, sizeof(c.variant), peer->variants[k]);
	drop_foreign_opts(&c, NULL);
	char why[200];
	if (peer->check(&c, why, sizeof(why))) {
		snprintf(err, n, "[%s] %s", s->name, why);
		return -1;
	}
	if (c.timeout == 0)
		c.timeout = c.duration + c.warmup + 30;
	return push_or_oom(out, &c, err, n);
}

/* Whether variant of t is one of guest platform pl's own configurations. */
static bool guest_variant(const struct vtb_platform_ops *pl, const struct vtb_transport_ops *t, const char *variant)
{
	size_t tl = strlen(t->name);
	for (int k = 0; pl->guest_variants && pl->guest_variants[k]; k++) {
		const char *g = pl->guest_variants[k];
		if (!strncmp(g, t->name, tl) && g[tl] == '/' && !strcmp(g + tl + 1, variant))
			return true;
	}
	return false;
}

/* c.variant as t names it (the default for ""); -1 naming t's variants. */
static int resolve_variant(const struct section *s, const struct vtb_transport_ops *t, struct vtb_cellp *c,
			   char *err, size_t n)
{
	const struct vtb_platform_ops *pl = vtb_platform_find(c->platform);
	int vi = vtb_transport_variant(t, c->variant);
	if (vi < 0 && guest_variant(pl, t, c->variant))
		return 0;	/* the guest's configuration, not the transport's */
	if (vi < 0) {
		int o = snprintf(err, n, "[%s] transport %s has no variant '%s'; it has:", s->name, t->name, c->variant);
		for (int k = 0; t->variants[k] && o > 0 && (size_t)o < n; k++)
			o += snprintf(err + o, n - (size_t)o, " %s", t->variants[k]);
		for (int k = 0; pl->guest_variants && pl->guest_variants[k] && o > 0 && (size_t)o < n; k++)
			if (guest_variant(pl, t, strchr(pl->guest_variants[k], '/') + 1))
				o += snprintf(err + o, n - (size_t)o, " %s (platform=%s)",
					      strchr(pl->guest_variants[k], '/') + 1, pl->name);
		return -1;
	}
	copy_str(c->variant, sizeof(c->variant), t->variants[vi]);
	/* A service the transport needs and the platform lacks.  A guest
	 * platform's executor says per cell what it cannot run (the run skips
	 * those), so a matrix of every transport still expands there. */
	const char *unsup = pl->guest ? NULL : vtb_transport_unsupported(t, pl);
	if (unsup) {
		snprintf(err, n, "[%s] transport %s on platform %s: %s", s->name, t->name, c->platform, unsup);
		return -1;
	}
	return 0;
}

/* What the transport cannot do at all, from its capabilities. */
static int check_caps(const struct section *s, const struct vtb_transport_ops *t, const struct vtb_cellp *c,
		      char *err, size_t n)
{
	unsigned need = !strcmp(c->notify, "poll") ? VTB_CAP_NOTIFY_POLL : VTB_CAP_NOTIFY_EVENT;
	if (!(t->caps & need)) {
		snprintf(err, n, "[%s] transport %s cannot notify=%s", s->name, t->name, c->notify);
		return -1;
	}
	return 0;
}

/* Requests the transport cannot carry: limits name where the size was set
 * (else the transport, else the section), as the README promises. */
static int check_request(const struct section *s, const struct vtb_transport_ops *t, const struct vtb_cellp *c,
			 const struct vtb_xenv *probe, char *err, size_t n)
{
	char at[200];
	const char *kw = key_where(s, "size") ? key_where(s, "size") : key_where(s, "transport");
	if (kw)
		snprintf(at, sizeof(at), "%s", kw);
	else
		snprintf(at, sizeof(at), "[%s]", s->name);
	if ((t->caps & VTB_CAP_MAX_BUFFER) && c->size > 0 && (uint32_t)c->size + 64 > t->max_buffer) {
		snprintf(err, n, "%s: size=%d: transport %s maps at most %u bytes per buffer", at, c->size, t->name,
			 t->max_buffer);
		return -1;
	}
	if (!(t->caps & VTB_CAP_MAX_REQUEST))
		return 0;
	uint64_t mo, mi, ro, ri;
	t->max_request(probe, &mo, &mi);
	cell_request(c, &ro, &ri);
	if ((mo && ro > mo) || (mi && ri > mi)) {
		int o = snprintf(err, n, "%s: size=%d: a %s request has %llu bytes the device reads and %llu it "
				 "writes; %s/%s carries at most %llu and %llu", at, c->size, c->device,
				 (unsigned long long)ro, (unsigned long long)ri, t->name, c->variant,
				 (unsigned long long)mo, (unsigned long long)mi);
		/* A limit set by the transport's own sizes (fatvq's ring) says which. */
		for (const struct vtb_key *k = vtb_keys; k->name && o > 0 && (size_t)o < n; k++) {
			const struct vtb_xport_opt *x = k->set == set_xopt ? vtb_transport_opt(t, k->name, c->variant) : NULL;
			if (x && x->type == VTB_XOPT_BYTES)
				o += snprintf(err + o, n - (size_t)o, " with %s=%llu (raise %s)", k->name,
					      (unsigned long long)load_uint((const char *)c + k->off, k->len), k->name);
		}
		return -1;
	}
	return 0;
}

/* Memory the cell needs: the shared region and its buffers inside mem,
 * and what both domains populate within what the host has. */
static int check_memory(const struct section *s, const struct vtb_transport_ops *t, const struct vtb_workload_ops *w,
			const struct vtb_cellp *c, const struct vtb_xenv *probe, char *err, size_t n)
{
	uint64_t region = (t->caps & VTB_CAP_REGION) ? t->region_bytes(probe) : 0;
	if (region > c->mem / 2) {
		snprintf(err, n, "[%s] mem=%llu: too small for %s's shared region (raise mem)", s->name,
			 (unsigned long long)c->mem, t->name);
		return -1;
	}
	uint64_t need = fe_ram_needed(c, w, region);
	if (need > c->mem) {
		snprintf(err, n, "[%s] mem=%llu: qd=%u of size=%d needs at least %llu bytes of FE RAM (raise mem)",
			 s->name, (unsigned long long)c->mem, c->qd, c->size, (unsigned long long)need);
		return -1;
	}
	/* Both domains populate their memory up front: FE RAM, a RAM disk,
	 * the BE's own RAM.  Past what the host (or cgroup) holds, the OOM
	 * killer would end the cell or something else. */
	bool ramdisk = !strcmp(c->device, "blk") && !c->backing[0];
	uint64_t pop = c->mem + (ramdisk ? c->disk : 0) + ((t->caps & VTB_CAP_BE_RAM) ? t->be_ram_bytes(probe) : 0);
	if (pop > host_mem_available()) {
		snprintf(err, n, "[%s] mem=%llu%s: the domains would populate %llu MiB, more than the %llu MiB this "
			 "host (or its memory cgroup) has available", s->name, (unsigned long long)c->mem,
			 ramdisk ? " and disk" : "", (unsigned long long)(pop >> 20),
			 (unsigned long long)(host_mem_available() >> 20));
		return -1;
	}
	return 0;
}

/* Combinations of keys that cannot run, whatever the transport. */
static int check_combination(const struct section *s, const struct vtb_cellp *c, char *err, size_t n)
{
#define BAD_AT(...) return snprintf(err, n, __VA_ARGS__), -1
	if (!strcmp(c->device, "blk") && c->qsize < 3)
		BAD_AT("[%s] qsize=%u: a blk request is a chain of 3 descriptors (header, data, status)", s->name, c->qsize);
	if (c->qd > c->qsize)
		BAD_AT("[%s] qd=%u is larger than the queue (qsize=%u)", s->name, c->qd, c->qsize);
	if (c->ops == 0 && c->duration <= 0)
		BAD_AT("[%s] ops=0 and duration=0: the cell would never end", s->name);
	if (c->pair && c->ops)
		BAD_AT("[%s] pair=1 takes turns by time: it needs ops=0", s->name);
	if (c->max_reps && c->max_reps < c->reps)
		BAD_AT("[%s] max_reps=%u is below reps=%u", s->name, c->max_reps, c->reps);
#undef BAD_AT
	return 0;
}

/* A cell over a transport, all keys applied: resolved, checked, kept. */
static int transport_cell(const struct section *s, const struct vtb_transport_ops *t, struct vtb_cellp c,
			  struct vtb_cells *out, char *err, size_t n)
{
	const struct vtb_workload_ops *w = vtb_workload_find(c.device);
	if (resolve_variant(s, t, &c, err, n))
		return -1;
	drop_foreign_opts(&c, t);
	char why[200];
	if ((w->resolve && w->resolve(&c, why, sizeof(why))) || w->check(&c, why, sizeof(why))) {
		snprintf(err, n, "[%s] %s", s->name, why);
		return -1;
	}
	struct vtb_xenv probe = { .qsize = (uint16_t)c.qsize, .nqueues = w->nqueues, .indirect = c.indirect,
				  .variant = c.variant };
	vtb_cell_xport_env(&c, t, &probe);
	if (check_caps(s, t, &c, err, n) || check_request(s, t, &c, &probe, err, n) ||
	    check_memory(s, t, w, &c, &probe, err, n) || check_combination(s, &c, err, n))
		return -1;
	if (c.timeout == 0)
		c.timeout = (c.ops ? 60 : c.duration) + c.warmup + 30;
	/* In a guest a cell runs alone, its repetitions fixed before the boot:
	 * no turns with a shm reference, no adaptive repetitions. */
	if (vtb_platform_find(c.platform)->guest) {
		c.pair = false;
		c.max_reps = 0;
	}
	return push_or_oom(out, &c, err, n);
}

static int expand(const struct section *s, size_t i, struct vtb_cellp c, struct vtb_cells *out, char *err,
		  size_t n);

/* Section s's key i: one expansion per element of its comma list.  Every
 * element counts: an empty one ("qd=", "qd=1,,16") is an error, never a
 * silently smaller matrix. */
static int expand_key(const struct section *s, size_t i, const struct vtb_cellp *c, struct vtb_cells *out,
		      char *err, size_t n)
{
	const struct kv *kv = &s->kv[i];
	const struct vtb_key *k = key_find(kv->key);
	char *copy = strdup(kv->val), *next = copy;
	int rc = 0;
	if (!copy)
		return snprintf(err, n, "out of memory"), -1;
	while (next) {
		char *tok = next;
		char *comma = k->no_matrix ? NULL : strchr(tok, ',');
		next = comma ? comma + 1 : NULL;
		if (comma)
			*comma = 0;
		char why[200];
		struct vtb_cellp c2 = *c;
		if (!*trim(tok)) {
			snprintf(err, n, "%s: %s has an empty value", kv->where, kv->key);
			rc = -1;
			break;
		}
		if (apply(&c2, kv->key, trim(tok), why, sizeof(why))) {
			snprintf(err, n, "%s: %s", kv->where, why);
			rc = -1;
			break;
		}
		if ((rc = expand(s, i + 1, c2, out, err, n)))
			break;
	}
	free(copy);
	return rc;
}

/* Expands section s from key index i on, applying values to c; past the
 * last key, the cell (or, for variant=*, one per variant). */
static int expand(const struct section *s, size_t i, struct vtb_cellp c, struct vtb_cells *out, char *err,
		  size_t n)
{
	if (i < s->n)
		return expand_key(s, i, &c, out, err, n);
	device_defaults(s, &c);
	const struct vtb_peer_ops *peer = vtb_peer_find(c.transport);
	if (peer)
		return peer_cell(s, peer, c, out, err, n);
	const struct vtb_transport_ops *t = vtb_transport_find(c.transport);
	if (strcmp(c.variant, "*"))
		return transport_cell(s, t, c, out, err, n);
	for (int k = 0; t->variants[k]; k++) {	/* every variant that can run the cell */
		struct vtb_cellp c2 = c;
		copy_str(c2.variant, sizeof(c2.variant), t->variants[k]);
		if (transport_cell(s, t, c2, out, err, n))
			return -1;
	}
	return 0;
}

static int defaults(struct vtb_cellp *c, char *err, size_t n)
{
	memset(c, 0, sizeof(*c));
	for (const struct vtb_key *k = vtb_keys; k->name; k++)
		if (vtb_key_def(k)[0] && apply(c, k->name, vtb_key_def(k), err, n))
			return -1;
	return 0;
}

static void text_append(struct vtb_cells *out, const char *s)
{
	size_t have = out->text ? strlen(out->text) : 0;
	char *p = realloc(out->text, have + strlen(s) + 1);
	if (!p)
		return;
	strcpy(p + have, s);
	out->text = p;
}

static int str_push(char ***v, size_t *n, const char *s)
{
	char **p = realloc(*v, (*n + 1) * sizeof(**v));
	if (!p)
		return -1;
	*v = p;
	if (!(p[*n] = strdup(s)))
		return -1;
	(*n)++;
	return 0;
}

static int text_add(char **t, const char *s, size_t len)
{
	size_t have = *t ? strlen(*t) : 0;
	char *p = realloc(*t, have + len + 1);
	if (!p)
		return -1;
	memcpy(p + have, s, len);
	p[have + len] = 0;
	*t = p;
	return 0;
}

/* Reads one suite file into global + sections. */
static int read_file(const char *path, struct section *global, struct section *secs, size_t *nsec,
		     struct vtb_cells *out, char *err, size_t n)
{
	FILE *f = fopen(path, "r");
	struct stat st;
	if (!f)
		return snprintf(err, n, "%s: %s", path, strerror(errno)), -1;
	if (fstat(fileno(f), &st) || S_ISDIR(st.st_mode)) {
		fclose(f);
		return snprintf(err, n, "%s: is a directory, not a suite file", path), -1;
	}
	char *line = NULL, where[160], head[4200];
	size_t cap = 0, keys = 0;
	ssize_t len;
	struct section *cur = global;
	int lineno = 0, rc = 0;
	snprintf(head, sizeof(head), "# suite %s\n", path);
	text_append(out, head);
	size_t nt = out->nfiles;
	if (str_push(&out->paths, &out->nfiles, path) || str_push(&out->texts, &nt, "")) {
		fclose(f);
		return snprintf(err, n, "out of memory"), -1;
	}
	char **text = &out->texts[out->nfiles - 1];
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (memchr(line, 0, (size_t)len)) {
			snprintf(err, n, "%s: a NUL byte: not a text file", where);
			rc = -1;
			break;
		}
		text_append(out, line);
		if (text_add(text, line, (size_t)len)) {
			snprintf(err, n, "out of memory");
			rc = -1;
			break;
		}
		char *l = trim(line);
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *e = strchr(l, ']');
			if (!e || e[1] || e == l + 1 || e - l > 63) {
				snprintf(err, n, "%s: malformed section header '%s'", where, l);
				rc = -1;
				break;
			}
			*e = 0;
			if (!strcmp(l + 1, "global")) {
				cur = global;
				continue;
			}
			if (*nsec == 64) {
				snprintf(err, n, "%s: more than 64 sections", where);
				rc = -1;
				break;
			}
			cur = &secs[(*nsec)++];
			memset(cur, 0, sizeof(*cur));
			snprintf(cur->name, sizeof(cur->name), "%s", l + 1);
			continue;
		}
		char *eq = strchr(l, '=');
		if (!eq) {
			snprintf(err, n, "%s: expected key=value or [section], got '%s'", where, l);
			rc = -1;
			break;
		}
		*eq = 0;
		char *key = trim(l), *val = trim(eq + 1);
		if (!key_find(key)) {
			snprintf(err, n, "%s: unknown key '%s' (./vtbench list shows the keys)", where, key);
			rc = -1;
			break;
		}
		set_kv(cur, key, val, where);
		keys++;
	}
	free(line);
	fclose(f);
	if (!rc && !keys)
		fprintf(stderr, "vtbench: warning: %s sets no key: its cells are the defaults\n", path);
	return rc;
}

int vtb_suite_build(const char *const *files, size_t nfiles, const char *const *kv, size_t nkv,
		    struct vtb_cells *out, char *err, size_t n)
{
	static struct section global, secs[64];
	struct section cli;
	char *buf = NULL;
	size_t nsec = 0;
	struct vtb_cellp base;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&global, 0, sizeof(global));
	memset(&cli, 0, sizeof(cli));
	snprintf(global.name, sizeof(global.name), "global");
	if (defaults(&base, err, n))
		return -1;
	for (size_t i = 0; i < nfiles; i++)
		if (read_file(files[i], &global, secs, &nsec, out, err, n))
			goto out;
	if (nkv)
		text_append(out, "# command line\n");
	for (size_t i = 0; i < nkv; i++) {
		char where[160];
		snprintf(where, sizeof(where), "argument '%.120s%s'", kv[i], strlen(kv[i]) > 120 ? "..." : "");
		free(buf);
		if (!(buf = strdup(kv[i]))) {	/* whole: no length cuts a value list */
			snprintf(err, n, "out of memory");
			goto out;
		}
		char *eq = strchr(buf, '=');
		if (!eq) {
			snprintf(err, n, "%s: expected KEY=VALUE", where);
			goto out;
		}
		*eq = 0;
		if (!key_find(buf)) {
			snprintf(err, n, "%s: unknown key '%s' (./vtbench list shows the keys)", where, buf);
			goto out;
		}
		if (has_key(&cli, buf)) {
			snprintf(err, n, "%s: %s is given twice on the command line (a list is KEY=A,B)", where, buf);
			goto out;
		}
		set_kv(&cli, buf, eq + 1, where);
		if (str_push(&out->args, &out->nargs, kv[i])) {
			snprintf(err, n, "out of memory");
			goto out;
		}
		text_append(out, kv[i]);
		text_append(out, "\n");
	}
	if (nsec == 0) {
		memset(&secs[0], 0, sizeof(secs[0]));
		snprintf(secs[0].name, sizeof(secs[0].name), "cli");
		nsec = 1;
	}
	/* Per section: global keys, the section's own, then the command line. */
	for (size_t s = 0; s < nsec; s++) {
		struct section m;
		memset(&m, 0, sizeof(m));
		memcpy(m.name, secs[s].name, sizeof(m.name));
		const struct section *layers[3] = { &global, &secs[s], &cli };
		for (int l = 0; l < 3; l++)
			for (size_t i = 0; i < layers[l]->n; i++)
				set_kv(&m, layers[l]->kv[i].key, layers[l]->kv[i].val, layers[l]->kv[i].where);
		int e = expand(&m, 0, base, out, err, n);
		for (size_t i = 0; i < m.n; i++)
			free(m.kv[i].val);
		if (e)
			goto out;
	}
	rc = 0;
out:
	free(buf);
	for (size_t s = 0; s < nsec; s++)
		for (size_t i = 0; i < secs[s].n; i++)
			free(secs[s].kv[i].val);
	for (size_t i = 0; i < global.n; i++)
		free(global.kv[i].val);
	for (size_t i = 0; i < cli.n; i++)
		free(cli.kv[i].val);
	if (rc)
		vtb_cells_free(out);
	return rc;
}

void vtb_cells_free(struct vtb_cells *c)
{
	for (size_t i = 0; i < c->nfiles; i++) {
		free(c->paths[i]);
		free(c->texts ? c->texts[i] : NULL);
	}
	for (size_t i = 0; i < c->nargs; i++)
		free(c->args[i]);
	free(c->paths);
	free(c->texts);
	free(c->args);
	free(c->set);
	free(c->v);
	free(c->text);
	memset(c, 0, sizeof(*c));
}

void vtb_cell_name(const struct vtb_cellp *c, char *buf, size_t n)
{
	char sz[16] = "";
	if (c->size == VTB_NET_IMIX)
		snprintf(sz, sizeof(sz), " imix");
	else if (c->size)
		snprintf(sz, sizeof(sz), " %d", c->size);
	char q[32] = "";
	if (c->qsize != 256)
		snprintf(q, sizeof(q), " qsize=%u", c->qsize);
	char pl[40] = "";
	if (strcmp(c->platform, "proc"))
		snprintf(pl, sizeof(pl), "%s:%s ", c->platform, c->arch);
	snprintf(buf, n, "%s%s %s%s%s/%s %s%s qd=%u%s%s%s%s", pl, c->device,
		 c->pattern[0] ? c->pattern : c->mode[0] ? c->mode : "mix", sz, "", c->transport,
		 c->variant, !strcmp(c->notify, "poll") ? " poll" : " event", c->qd, q, c->indirect ? " indirect" : "",
		 strcmp(c->probes, "auto") ? " probes=" : "", strcmp(c->probes, "auto") ? c->probes : "");
}

/* Everything but the transport (and what only a transport reads): two
 * cells of one workload, the second priced from the first.  The platform
 * is part of it: a cell is never priced from another platform's. */
static bool same_workload(const struct vtb_cellp *a, const struct vtb_cellp *b)
{
	return !strcmp(a->device, b->device) && !strcmp(a->notify, b->notify) && !strcmp(a->platform, b->platform) &&
	       !strcmp(a->arch, b->arch) &&
	       !strcmp(a->pattern, b->pattern) && a->rwmix == b->rwmix && !strcmp(a->mode, b->mode) &&
	       !strcmp(a->mix, b->mix) && !strcmp(a->backing, b->backing) && a->size == b->size && a->qd == b->qd &&
	       a->ops == b->ops && a->duration == b->duration && a->warmup == b->warmup && a->seed == b->seed &&
	       a->cpu_fe == b->cpu_fe && a->cpu_be == b->cpu_be && a->verify == b->verify &&
	       a->indirect == b->indirect && a->events == b->events && a->qsize == b->qsize &&
	       a->mem == b->mem && a->disk == b->disk && a->probes_on == b->probes_on && a->usdt == b->usdt;
}

/* A cell over the baseline transport (VTB_CAP_REFERENCE), which others are priced from. */
static bool is_reference(const struct vtb_cellp *c)
{
	const struct vtb_transport_ops *t = vtb_transport_find(c->transport);
	return t && (t->caps & VTB_CAP_REFERENCE);
}

void vtb_cells_order(const struct vtb_cells *c, size_t *order, size_t *ref)
{
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < c->n; i++)
			if (is_reference(&c->v[i]) == !pass)
				order[k++] = i;
	for (size_t i = 0; i < c->n; i++) {
		ref[i] = i;
		if (is_reference(&c->v[i]))
			continue;
		for (size_t j = 0; j < c->n; j++) {
			if (!is_reference(&c->v[j]) || !same_workload(&c->v[i], &c->v[j]))
				continue;
			/* Its default variant (shm's split) where the run has it. */
			if (ref[i] == i || !strcmp(c->v[j].variant, vtb_transport_find(c->v[j].transport)->variants[0]))
				ref[i] = j;
		}
	}
}

/* An option's range as a suite would write it: [4k..64m], [1..65536], (0..10s]. */
static void xopt_range(const struct vtb_xport_opt *o, char *buf, size_t n)
{
	char lo[32], hi[32];
	if (o->type == VTB_XOPT_BYTES) {
		human_bytes(lo, sizeof(lo), o->min);
		human_bytes(hi, sizeof(hi), o->max);
	} else {
		snprintf(lo, sizeof(lo), "%g", o->min);
		snprintf(hi, sizeof(hi), "%g%s", o->max, o->type == VTB_XOPT_TIME ? "s" : "");
	}
	snprintf(buf, n, "%s%s..%s%s]", (o->flags & VTB_XOPT_ABOVE_MIN) ? "(" : "[", lo, hi,
		 (o->flags & VTB_XOPT_POW2) ? ", a power of two" : "");
}

void vtb_list_transports(FILE *f)
{
	for (const struct vtb_transport_ops *const *t = vtb_transports; *t; t++) {
		fprintf(f, "  %-10s %s\n", (*t)->name, (*t)->desc);
		for (int i = 0; (*t)->variants[i]; i++)
			fprintf(f, "    variant=%-10s %s\n", (*t)->variants[i], (*t)->variant_desc[i]);
		fprintf(f, "    caps:");
		for (int b = 0; vtb_cap_names[b]; b++)
			if ((*t)->caps & (1u << b))
				fprintf(f, " %s", vtb_cap_names[b]);
		if ((*t)->caps & VTB_CAP_MAX_BUFFER)
			fprintf(f, " (max_buffer %u)", (*t)->max_buffer);
		fputc('\n', f);
		for (const struct vtb_xport_opt *o = (*t)->opts; o && o->name; o++) {
			char range[128];
			xopt_range(o, range, sizeof(range));
			fprintf(f, "    option %s=%s %s %s", o->name, o->def, range, o->desc);
			for (const char *const *v = o->variants; v && *v; v++)
				fprintf(f, "%s%s", v == o->variants ? " (variant " : ", ", *v);
			fprintf(f, "%s\n", o->variants ? ")" : "");
		}
	}
}

void vtb_list_keys(FILE *f)
{
	for (const struct vtb_key *k = vtb_keys; k->name; k++) {
		char help[512];
		vtb_key_help(k, help, sizeof(help));
		fprintf(f, "  %-10s %s [%s]\n", k->name, help, vtb_key_def(k)[0] ? vtb_key_def(k) : "-");
	}
}

/* A JSON string of the tables' own text (constant, valid UTF-8): only
 * quotes, backslashes and control bytes need escaping.  Not results.c's
 * writer: the suite links without the results and probes code (arm64). */
static void json_text(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_strs(FILE *f, const char *const *v)
{
	fputc('[', f);
	for (size_t i = 0; v && v[i]; i++) {
		fputs(i ? "," : "", f);
		json_text(f, v[i]);
	}
	fputc(']', f);
}

void vtb_list_json(FILE *f)
{
	static const char *const types[] = { "bytes", "uint", "time" };
	fputs("{\"transports\":[", f);
	for (const struct vtb_transport_ops *const *t = vtb_transports; *t; t++) {
		fputs(t == vtb_transports ? "{\"name\":" : ",{\"name\":", f);
		json_text(f, (*t)->name);
		fputs(",\"variants\":", f);
		json_strs(f, (*t)->variants);
		fputs(",\"caps\":[", f);
		for (int b = 0, first = 1; vtb_cap_names[b]; b++)
			if ((*t)->caps & (1u << b)) {
				fputs(first ? "" : ",", f);
				json_text(f, vtb_cap_names[b]);
				first = 0;
			}
		fprintf(f, "],\"max_buffer\":%u,\"options\":[", (*t)->max_buffer);
		for (const struct vtb_xport_opt *o = (*t)->opts; o && o->name; o++) {
			fputs(o == (*t)->opts ? "{\"name\":" : ",{\"name\":", f);
			json_text(f, o->name);
			fprintf(f, ",\"type\":\"%s\",\"default\":", types[o->type]);
			json_text(f, o->def);
			fprintf(f, ",\"min\":%.17g,\"max\":%.17g,\"min_excluded\":%s,\"pow2\":%s,\"variants\":", o->min,
				o->max, (o->flags & VTB_XOPT_ABOVE_MIN) ? "true" : "false",
				(o->flags & VTB_XOPT_POW2) ? "true" : "false");
			if (o->variants)
				json_strs(f, o->variants);
			else
				fputs("null", f);
			fputs(",\"desc\":", f);
			json_text(f, o->desc);
			fputc('}', f);
		}
		fputs("]}", f);
	}
	fputs("],\"keys\":[", f);
	for (const struct vtb_key *k = vtb_keys; k->name; k++) {
		char help[512];
		vtb_key_help(k, help, sizeof(help));
		fputs(k == vtb_keys ? "{\"name\":" : ",{\"name\":", f);
		json_text(f, k->name);
		fputs(",\"default\":", f);
		json_text(f, vtb_key_def(k));
		fputs(",\"help\":", f);
		json_text(f, help);
		fprintf(f, ",\"matrix\":%s,\"transport_option\":%s}", k->no_matrix ? "false" : "true",
			k->set == set_xopt ? "true" : "false");
	}
	fputs("]}\n", f);
}
