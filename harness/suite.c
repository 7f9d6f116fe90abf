#include <ctype.h>
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

const struct vtb_key vtb_keys[] = {
	{ "device", "blk", "blk | net | scmi", false },
	{ "transport", "shm", "how buffers cross between domains (see transports)", false },
	{ "variant", "", "transport variant; empty = the transport's default, * = all (transport=NAME/VARIANT also works)", false },
	{ "notify", "event", "event: doorbells with EVENT_IDX suppression | poll: busy polling, no doorbells", false },
	{ "platform", "proc", "proc: domains are Linux processes with memfd RAM", false },
	{ "pattern", "randread", "blk: randread | randwrite | read | write | randrw", false },
	{ "rwmix", "50", "blk randrw: percent reads", false },
	{ "mode", "tx", "net: tx (BE sinks) | rx (BE sources) | rr (BE echoes, latency)", false },
	{ "mix", "sensor_read:70,clock_get:20,perf_set:10", "scmi: op:weight list (never a matrix); ops: sensor_read sensor_desc clock_get clock_set clock_attrs clock_rates perf_get perf_set perf_attrs perf_levels perf_limits_set perf_limits_get base_version base_attrs base_vendor base_subvendor base_impl base_protocols", true },
	{ "size", "", "blk block bytes (default 4k); net frame bytes (default 64) or imix; k/m suffixes", false },
	{ "qd", "1", "requests in flight", false },
	{ "ops", "0", "measured ops per repetition; 0 = run for duration", false },
	{ "duration", "1s", "measured time per repetition when ops=0 (s, ms)", false },
	{ "warmup", "0.2s", "time before measuring, excluded from results (s, ms)", false },
	{ "reps", "3", "repetitions, interleaved across cells (with max_reps: at least this many)", false },
	{ "max_reps", "0", "adaptive: up to this many repetitions while the cell's 95% CI half-width is above ci= (0: exactly reps)", false },
	{ "ci", "5", "adaptive target: 95% CI half-width in percent, of the ratio to shm for a paired cell, else of ops/s", false },
	{ "budget", "0", "adaptive: no extra repetition starts once the run has taken this long (s, m; 0: no limit)", false },
	{ "pair", "0", "1: the cell and its shm reference take turns on the same CPUs in one window (ratio to shm measured paired; ops=0)", false },
	{ "seed", "1", "PRNG seed for offsets, mixes and payloads", false },
	{ "cpus", "auto", "FE,BE CPUs: auto (0,1 when there are two), none, or e.g. 0,1 (never a matrix)", true },
	{ "verify", "0", "1: check every payload end to end (costs FE CPU)", false },
	{ "indirect", "0", "1: chains in indirect descriptor tables", false },
	{ "events", "1", "scmi: 1 the device offers P2A channels (PERF level notifications on the event queue), 0 none", false },
	{ "qsize", "256", "virtqueue size, a power of two", false },
	{ "mem", "64m", "FE guest RAM", false },
	{ "disk", "", "blk capacity (default 64m; with backing=, the file's size, or less)", false },
	{ "backing", "", "blk: an existing file (or device) served with io_uring instead of the RAM disk; never resized", false },
	{ "backing_create", "0", "blk: 1 creates backing=PATH sized disk if missing, and lets verify=1 overwrite it", false },
	{ "fq_size", "256", "viommu lazy: IOVAs a flush queue holds before it syncs (Linux IOVA_FQ_SIZE)", false },
	{ "fq_timeout", "10ms", "viommu lazy: age at which the flush queue syncs anyway (Linux IOVA_FQ_TIMEOUT)", false },
	{ "ring", "512k", "fatvq: bytes of each ring (a power of two, 4k..64m)", false },
	{ "probes", "auto", "eBPF probes on the domains: auto (on when BPF can load) | on (required) | off", false },
	{ "usdt", "64", "1 in N requests fires the request-latency USDT (a power of two; 0: none)", false },
	{ "timeout", "0", "seconds before a cell is killed; 0 = duration + warmup + 30", false },
	{ NULL, NULL, NULL, false },
};

static const struct vtb_key *key_find(const char *name)
{
	for (const struct vtb_key *k = vtb_keys; k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

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

/* Applies one scalar value to a cell; -1 with a reason in err. */
static int apply(struct vtb_cellp *c, const char *key, const char *v, char *err, size_t n)
{
	uint64_t u;
	bool b;
#define BAD(...) return snprintf(err, n, __VA_ARGS__), -1
#define STR(field, ...) do { if (copy_str(c->field, sizeof(c->field), v)) BAD(__VA_ARGS__); return 0; } while (0)
	if (!strcmp(key, "device")) {
		if (!vtb_workload_find(v))
			BAD("unknown device '%s' (blk, net, scmi)", v);
		return copy_str(c->device, sizeof(c->device), v);
	}
	if (!strcmp(key, "transport")) {
		/* NAME or NAME/VARIANT, so one matrix can mix transports' variants. */
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
		return copy_str(c->transport, sizeof(c->transport), name);
	}
	if (!strcmp(key, "variant"))
		STR(variant, "variant too long");
	if (!strcmp(key, "notify")) {
		if (strcmp(v, "event") && strcmp(v, "poll"))
			BAD("notify=%s: expected event or poll", v);
		return copy_str(c->notify, sizeof(c->notify), v);
	}
	if (!strcmp(key, "platform")) {
		if (strcmp(v, "proc"))
			BAD("platform=%s: only proc is available", v);
		return copy_str(c->platform, sizeof(c->platform), v);
	}
	/* Checked even where the device ignores them: a typo is never silent. */
	if (!strcmp(key, "pattern")) {
		if (strcmp(v, "randread") && strcmp(v, "randwrite") && strcmp(v, "read") && strcmp(v, "write") &&
		    strcmp(v, "randrw"))
			BAD("pattern=%s: expected randread, randwrite, read, write or randrw", v);
		STR(pattern, "pattern too long");
	}
	if (!strcmp(key, "mode")) {
		if (strcmp(v, "tx") && strcmp(v, "rx") && strcmp(v, "rr"))
			BAD("mode=%s: expected tx, rx or rr", v);
		STR(mode, "mode=%s: expected tx, rx or rr", v);
	}
	if (!strcmp(key, "mix")) {
		/* Its own workload judges it, whatever the cell's device. */
		struct vtb_cellp t = { .qd = 1 };
		char why[200];
		if (copy_str(t.mix, sizeof(t.mix), v))
			BAD("mix too long");
		if (vtb_workload_find("scmi")->check(&t, why, sizeof(why)))
			BAD("%s", why);
		STR(mix, "mix too long");
	}
	if (!strcmp(key, "backing"))
		STR(backing, "backing path too long");
	if (!strcmp(key, "size")) {
		if (!strcmp(v, "imix"))
			return c->size = VTB_NET_IMIX, 0;
		if (!*v)
			return c->size = 0, 0;
		if (parse_u64(v, &u, true) || u == 0 || u > (1u << 24))
			BAD("size=%s: expected bytes (4k, 1500, 64k) or imix", v);
		return c->size = (int)u, 0;
	}
	if (!strcmp(key, "ring")) {
		if (parse_u64(v, &u, true) || u < 4096 || u > (64u << 20) || (u & (u - 1)))
			BAD("ring=%s: a power of two from 4k to 64m", v);
		c->ring_bytes = (uint32_t)u;
		return 0;
	}
	if (!strcmp(key, "probes")) {
		if (strcmp(v, "auto") && strcmp(v, "on") && strcmp(v, "off"))
			BAD("probes=%s: expected auto, on or off", v);
		return copy_str(c->probes, sizeof(c->probes), v);
	}
	if (!strcmp(key, "usdt")) {
		if (parse_u64(v, &u, false) || u > 65536 || (u & (u - 1)))
			BAD("usdt=%s: a power of two up to 65536, or 0", v);
		c->usdt = (unsigned)u;
		return 0;
	}
	if (!strcmp(key, "fq_size")) {
		if (parse_u64(v, &u, false) || u == 0 || u > 65536)
			BAD("fq_size=%s: expected 1..65536", v);
		c->fq_size = (unsigned)u;
		return 0;
	}
	if (!strcmp(key, "max_reps")) {
		if (parse_u64(v, &u, false) || u > 65536)
			BAD("max_reps=%s: expected a whole number (0: exactly reps)", v);
		c->max_reps = (unsigned)u;
		return 0;
	}
	if (!strcmp(key, "ci")) {
		double d;
		if (parse_time(v, &d) || strpbrk(v, "mus") || !(d > 0 && d <= 100))
			BAD("ci=%s: expected a percentage above 0, at most 100", v);
		c->ci_pct = d;
		return 0;
	}
	if (!strcmp(key, "budget")) {
		double d;
		size_t n = strlen(v);
		bool minutes = n > 1 && v[n - 1] == 'm' && v[n - 2] != 'm' && isdigit((unsigned char)v[n - 2]);
		char t[32];
		if (minutes && n < sizeof(t)) {
			memcpy(t, v, n - 1);
			t[n - 1] = 0;
		}
		if (minutes ? n >= sizeof(t) || parse_time(t, &d) || strpbrk(t, "mus") : parse_time(v, &d))
			BAD("budget=%s: expected a time (600s, 10m) or 0", v);
		if (minutes)
			d *= 60;
		c->budget = d;
		return 0;
	}
	if (!strcmp(key, "pair")) {
		if (parse_bool(v, &c->pair))
			BAD("pair=%s: expected 0 or 1", v);
		return 0;
	}
	if (!strcmp(key, "qd") || !strcmp(key, "reps") || !strcmp(key, "qsize") || !strcmp(key, "rwmix")) {
		if (parse_u64(v, &u, false) || u > 65536)
			BAD("%s=%s: expected a whole number", key, v);
		if (!strcmp(key, "qd")) {
			if (!u)
				BAD("qd=0: at least one request must be in flight");
			c->qd = (unsigned)u;
		} else if (!strcmp(key, "reps")) {
			if (!u)
				BAD("reps=0: at least one repetition");
			c->reps = (unsigned)u;
		} else if (!strcmp(key, "qsize")) {
			if (!vtb_vq_num_ok((uint32_t)u))
				BAD("qsize=%s: a power of two from 1 to 32768", v);
			c->qsize = (unsigned)u;
		} else {
			c->rwmix = (unsigned)u;
		}
		return 0;
	}
	if (!strcmp(key, "ops") || !strcmp(key, "seed")) {
		if (parse_u64(v, &u, !strcmp(key, "ops")))
			BAD("%s=%s: expected a whole number", key, v);
		*(!strcmp(key, "ops") ? &c->ops : &c->seed) = u;
		return 0;
	}
	if (!strcmp(key, "mem") || !strcmp(key, "disk")) {
		if (parse_u64(v, &u, true) || u < 4096 || u > (64ull << 30) || u % 4096)
			BAD("%s=%s: expected a size in whole pages (64m, 1g)", key, v);
		*(!strcmp(key, "mem") ? &c->mem : &c->disk) = u;
		return 0;
	}
	if (!strcmp(key, "fq_timeout")) {
		double d;
		if (parse_time(v, &d) || d <= 0 || d > 10)
			BAD("fq_timeout=%s: expected a time (10ms)", v);
		c->fq_timeout = d;
		return 0;
	}
	if (!strcmp(key, "duration") || !strcmp(key, "warmup") || !strcmp(key, "timeout")) {
		double d;
		if (parse_time(v, &d) || d > 86400)
			BAD("%s=%s: expected a time (2s, 500ms)", key, v);
		*(!strcmp(key, "duration") ? &c->duration : !strcmp(key, "warmup") ? &c->warmup : &c->timeout) = d;
		return 0;
	}
	if (!strcmp(key, "backing_create")) {
		if (parse_bool(v, &b))
			BAD("%s=%s: expected 0 or 1", key, v);
		return c->backing_create = b, 0;
	}
	if (!strcmp(key, "verify") || !strcmp(key, "indirect") || !strcmp(key, "events")) {
		if (parse_bool(v, &b))
			BAD("%s=%s: expected 0 or 1", key, v);
		*(!strcmp(key, "verify") ? &c->verify : !strcmp(key, "indirect") ? &c->indirect : &c->events) = b;
		return 0;
	}
	if (!strcmp(key, "cpus")) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
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
#undef STR
#undef BAD
	snprintf(err, n, "unknown key '%s'", key);
	return -1;
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

/* Expands section s from key index i on, applying values to c. */
static int expand(const struct section *s, size_t i, struct vtb_cellp c, struct vtb_cells *out,
		  char *err, size_t n)
{
	if (i == s->n) {
		/* Values that only make sense per device, filled last. */
		const struct vtb_workload_ops *w = vtb_workload_find(c.device);
		const struct vtb_transport_ops *t = vtb_transport_find(c.transport);
		if (!has_key(s, "size"))
			c.size = !strcmp(c.device, "blk") ? 4096 : !strcmp(c.device, "net") ? 64 : 0;
		if (strcmp(c.device, "blk")) {
			memset(c.pattern, 0, sizeof(c.pattern));
			c.rwmix = 0;
			c.disk = 0;
			memset(c.backing, 0, sizeof(c.backing));
			c.backing_create = false;
		} else if (strcmp(c.pattern, "randrw")) {
			c.rwmix = 0;
		}
		if (strcmp(c.device, "net"))
			memset(c.mode, 0, sizeof(c.mode));
		if (strcmp(c.device, "scmi")) {
			memset(c.mix, 0, sizeof(c.mix));
			c.events = false;
		} else {
			c.size = 0;
		}
		const struct vtb_peer_ops *peer = vtb_peer_find(c.transport);
		if (peer) {
			/* A peer program, not a transport: its own variants and limits. */
			int k = 0;
			while (c.variant[0] && strcmp(c.variant, "*") && peer->variants[k] && strcmp(peer->variants[k], c.variant))
				k++;
			if (!peer->variants[k]) {
				snprintf(err, n, "[%s] %s has no variant '%s'; it has: %s", s->name, peer->name, c.variant,
					 peer->variants[0]);
				return -1;
			}
			copy_str(c.variant, sizeof(c.variant), peer->variants[k]);
			c.ring_bytes = 0;
			c.fq_size = 0;
			c.fq_timeout = 0;
			char why[200];
			if (peer->check(&c, why, sizeof(why))) {
				snprintf(err, n, "[%s] %s", s->name, why);
				return -1;
			}
			if (c.timeout == 0)
				c.timeout = c.duration + c.warmup + 30;
			return push_cell(out, &c) ? (snprintf(err, n, "out of memory"), -1) : 0;
		}
		if (!strcmp(c.variant, "*")) {	/* every variant that can run the cell */
			for (int k = 0; t->variants[k]; k++) {
				struct vtb_cellp c2 = c;
				copy_str(c2.variant, sizeof(c2.variant), t->variants[k]);
				if (expand(s, i, c2, out, err, n))
					return -1;
			}
			return 0;
		}
		if (strcmp(c.transport, "fatvq"))
			c.ring_bytes = 0;
		if (strcmp(c.transport, "viommu") || strcmp(c.variant, "lazy")) {
			c.fq_size = 0;	/* meaningless elsewhere: no duplicate cells */
			c.fq_timeout = 0;
		}
		int vi = vtb_transport_variant(t, c.variant);
		if (vi < 0) {
			int o = snprintf(err, n, "[%s] transport %s has no variant '%s'; it has:", s->name, t->name, c.variant);
			for (int k = 0; t->variants[k] && o > 0 && (size_t)o < n; k++)
				o += snprintf(err + o, n - (size_t)o, " %s", t->variants[k]);
			return -1;
		}
		copy_str(c.variant, sizeof(c.variant), t->variants[vi]);
		const char *unsup = vtb_transport_unsupported(t, &vtb_platform_proc);	/* platform=: proc only, so far */
		if (unsup) {
			snprintf(err, n, "[%s] transport %s on platform %s: %s", s->name, t->name, c.platform, unsup);
			return -1;
		}
		char why[200];
		if ((w->resolve && w->resolve(&c, why, sizeof(why))) || w->check(&c, why, sizeof(why))) {
			snprintf(err, n, "[%s] %s", s->name, why);
			return -1;
		}
		/* Limits name where the size was set (else the transport, else the
		 * section): the README promises file:line or the argument. */
		char at[200];
		const char *kw = key_where(s, "size") ? key_where(s, "size") : key_where(s, "transport");
		if (kw)
			snprintf(at, sizeof(at), "%s", kw);
		else
			snprintf(at, sizeof(at), "[%s]", s->name);
		if (t->max_buffer && c.size > 0 && (uint32_t)c.size + 64 > t->max_buffer) {
			snprintf(err, n, "%s: size=%d: transport %s maps at most %u bytes per buffer", at,
				 c.size, t->name, t->max_buffer);
			return -1;
		}
		struct vtb_xenv probe = { .qsize = (uint16_t)c.qsize, .nqueues = w->nqueues, .indirect = c.indirect,
					  .ring_bytes = c.ring_bytes, .variant = c.variant };
		if (t->max_request) {
			uint64_t mo, mi, ro, ri;
			t->max_request(&probe, &mo, &mi);
			cell_request(&c, &ro, &ri);
			if ((mo && ro > mo) || (mi && ri > mi)) {
				int o = snprintf(err, n, "%s: size=%d: a %s request has %llu bytes the device reads and %llu it "
					 "writes; %s/%s carries at most %llu and %llu", at, c.size, c.device,
					 (unsigned long long)ro, (unsigned long long)ri, t->name, c.variant,
					 (unsigned long long)mo, (unsigned long long)mi);
				if (c.ring_bytes && o > 0 && (size_t)o < n)
					snprintf(err + o, n - (size_t)o, " with ring=%u (raise ring)", c.ring_bytes);
				return -1;
			}
		}
		if (t->region_bytes && t->region_bytes(&probe) > c.mem / 2) {
			snprintf(err, n, "[%s] mem=%llu: too small for %s's shared region (raise mem)", s->name,
				 (unsigned long long)c.mem, t->name);
			return -1;
		}
		uint64_t region = t->region_bytes ? t->region_bytes(&probe) : 0, need = fe_ram_needed(&c, w, region);
		if (need > c.mem) {
			snprintf(err, n, "[%s] mem=%llu: qd=%u of size=%d needs at least %llu bytes of FE RAM (raise mem)",
				 s->name, (unsigned long long)c.mem, c.qd, c.size, (unsigned long long)need);
			return -1;
		}
		/* Both domains populate their memory up front: FE RAM, a RAM disk,
		 * the BE's own RAM.  Past what the host (or cgroup) holds, the OOM
		 * killer would end the cell or something else. */
		uint64_t pop = c.mem + (!strcmp(c.device, "blk") && !c.backing[0] ? c.disk : 0) +
			       (t->be_ram_bytes ? t->be_ram_bytes(&probe) : 0);
		if (pop > host_mem_available()) {
			snprintf(err, n, "[%s] mem=%llu%s: the domains would populate %llu MiB, more than the %llu MiB this "
				 "host (or its memory cgroup) has available", s->name, (unsigned long long)c.mem,
				 !strcmp(c.device, "blk") && !c.backing[0] ? " and disk" : "", (unsigned long long)(pop >> 20),
				 (unsigned long long)(host_mem_available() >> 20));
			return -1;
		}
		if (!strcmp(c.device, "blk") && c.qsize < 3) {
			snprintf(err, n, "[%s] qsize=%u: a blk request is a chain of 3 descriptors (header, data, status)",
				 s->name, c.qsize);
			return -1;
		}
		if (c.qd > c.qsize) {
			snprintf(err, n, "[%s] qd=%u is larger than the queue (qsize=%u)", s->name, c.qd, c.qsize);
			return -1;
		}
		if (c.ops == 0 && c.duration <= 0) {
			snprintf(err, n, "[%s] ops=0 and duration=0: the cell would never end", s->name);
			return -1;
		}
		if (c.pair && c.ops) {
			snprintf(err, n, "[%s] pair=1 takes turns by time: it needs ops=0", s->name);
			return -1;
		}
		if (c.max_reps && c.max_reps < c.reps) {
			snprintf(err, n, "[%s] max_reps=%u is below reps=%u", s->name, c.max_reps, c.reps);
			return -1;
		}
		if (c.timeout == 0)
			c.timeout = (c.ops ? 60 : c.duration) + c.warmup + 30;
		return push_cell(out, &c) ? (snprintf(err, n, "out of memory"), -1) : 0;
	}
	const struct kv *kv = &s->kv[i];
	const struct vtb_key *k = key_find(kv->key);
	char *copy = strdup(kv->val), *next = copy;
	int rc = 0;
	if (!copy)
		return snprintf(err, n, "out of memory"), -1;
	/* Every element counts: an empty one ("qd=", "qd=1,,16") is an error,
	 * never a silently smaller matrix. */
	while (next) {
		char *tok = next;
		char *comma = k->no_matrix ? NULL : strchr(tok, ',');
		next = comma ? comma + 1 : NULL;
		if (comma)
			*comma = 0;
		char why[200];
		struct vtb_cellp c2 = c;
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

static int defaults(struct vtb_cellp *c, char *err, size_t n)
{
	memset(c, 0, sizeof(*c));
	for (const struct vtb_key *k = vtb_keys; k->name; k++)
		if (k->def[0] && apply(c, k->name, k->def, err, n))
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
	snprintf(buf, n, "%s %s%s%s/%s %s%s qd=%u%s%s%s%s", c->device,
		 c->pattern[0] ? c->pattern : c->mode[0] ? c->mode : "mix", sz, "", c->transport,
		 c->variant, !strcmp(c->notify, "poll") ? " poll" : " event", c->qd, q, c->indirect ? " indirect" : "",
		 strcmp(c->probes, "auto") ? " probes=" : "", strcmp(c->probes, "auto") ? c->probes : "");
}

/* Everything but the transport (and what only a transport reads). */
static bool same_workload(const struct vtb_cellp *a, const struct vtb_cellp *b)
{
	return !strcmp(a->device, b->device) && !strcmp(a->notify, b->notify) && !strcmp(a->pattern, b->pattern) &&
	       a->rwmix == b->rwmix && !strcmp(a->mode, b->mode) && !strcmp(a->mix, b->mix) &&
	       !strcmp(a->backing, b->backing) && a->size == b->size && a->qd == b->qd && a->ops == b->ops &&
	       a->duration == b->duration && a->warmup == b->warmup && a->seed == b->seed &&
	       a->cpu_fe == b->cpu_fe && a->cpu_be == b->cpu_be && a->verify == b->verify &&
	       a->indirect == b->indirect && a->events == b->events && a->qsize == b->qsize &&
	       a->mem == b->mem && a->disk == b->disk && a->probes_on == b->probes_on && a->usdt == b->usdt;
}

void vtb_cells_order(const struct vtb_cells *c, size_t *order, size_t *ref)
{
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < c->n; i++)
			if (!strcmp(c->v[i].transport, "shm") == !pass)
				order[k++] = i;
	for (size_t i = 0; i < c->n; i++) {
		ref[i] = i;
		if (!strcmp(c->v[i].transport, "shm"))
			continue;
		for (size_t j = 0; j < c->n; j++) {
			if (strcmp(c->v[j].transport, "shm") || !same_workload(&c->v[i], &c->v[j]))
				continue;
			if (ref[i] == i || !strcmp(c->v[j].variant, "split"))
				ref[i] = j;
		}
	}
}
