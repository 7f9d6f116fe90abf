#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "calib.h"
#include "results.h"
#include "../workloads/net/vtb_net.h"

void vtb_host_probe(struct vtb_host *h)
{
	struct utsname u;
	memset(h, 0, sizeof(*h));
	snprintf(h->cpu, sizeof(h->cpu), "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');
			if (c) {
				c += 2;
				c[strcspn(c, "\n")] = 0;
				snprintf(h->cpu, sizeof(h->cpu), "%s", c);
			}
			break;
		}
	}
	if (f)
		fclose(f);
	if (!uname(&u)) {
		snprintf(h->kernel, sizeof(h->kernel), "%s %s %s", u.sysname, u.release, u.machine);
		snprintf(h->hostname, sizeof(h->hostname), "%s", u.nodename);
	}
	h->cores = sysconf(_SC_NPROCESSORS_ONLN);
}

void vtb_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static double per(uint64_t v, uint64_t ops)
{
	return ops ? (double)v / (double)ops : 0;
}

static void counters(FILE *f, const struct vtb_plat_counters *c)
{
	fprintf(f, "{\"copies\":%llu,\"copy_bytes\":%llu,\"maps\":%llu,\"map_bytes\":%llu,"
		   "\"unmaps\":%llu,\"flushes\":%llu,\"notifies\":%llu,\"notifies_suppressed\":%llu,"
		   "\"waits\":%llu,\"exits\":%llu,\"bounce_copies\":%llu,\"bounce_bytes\":%llu,\"xport_ops\":%llu}",
		(unsigned long long)c->copies, (unsigned long long)c->copy_bytes,
		(unsigned long long)c->maps, (unsigned long long)c->map_bytes,
		(unsigned long long)c->unmaps, (unsigned long long)c->flushes,
		(unsigned long long)c->notifies, (unsigned long long)c->notifies_suppressed,
		(unsigned long long)c->waits, (unsigned long long)c->exits,
		(unsigned long long)c->bounce_copies, (unsigned long long)c->bounce_bytes,
		(unsigned long long)c->xport_ops);
}

void vtb_write_row(FILE *f, const char *run_id, const char *git_rev, const struct vtb_host *h,
		   const struct vtb_cellp *cp, unsigned rep, const struct vtb_cell_result *r)
{
	const struct vtb_plat_counters *fe = &r->d[0], *be = &r->d[1];
	uint64_t ops = r->ops;
	char ts[32];
	time_t now = time(NULL);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));

	fprintf(f, "{\"schema\":%d,\"run_id\":", VTB_SCHEMA_VERSION);
	vtb_json_str(f, run_id);
	fprintf(f, ",\"time\":\"%s\",\"git_rev\":", ts);
	vtb_json_str(f, git_rev);
	fputs(",\"host\":{\"cpu\":", f);
	vtb_json_str(f, h->cpu);
	fputs(",\"kernel\":", f);
	vtb_json_str(f, h->kernel);
	fprintf(f, ",\"cores\":%ld}", h->cores);

	fputs(",\"cell\":{\"device\":", f);
	vtb_json_str(f, cp->device);
	fputs(",\"transport\":", f);
	vtb_json_str(f, cp->transport);
	fputs(",\"variant\":", f);
	vtb_json_str(f, cp->variant);
	fputs(",\"notify\":", f);
	vtb_json_str(f, cp->notify);
	fputs(",\"platform\":", f);
	vtb_json_str(f, cp->platform);
	fputs(",\"pattern\":", f);
	vtb_json_str(f, cp->pattern[0] ? cp->pattern : cp->mode[0] ? cp->mode : "mix");
	fputs(",\"mode\":", f);
	vtb_json_str(f, cp->mode);
	fputs(",\"mix\":", f);
	vtb_json_str(f, cp->mix);
	if (cp->size == VTB_NET_IMIX)
		fputs(",\"size\":\"imix\"", f);
	else
		fprintf(f, ",\"size\":%d", cp->size);
	fprintf(f, ",\"qd\":%u,\"rwmix\":%u,\"qsize\":%u,\"indirect\":%s,\"events\":%s,\"verify\":%s,"
		   "\"seed\":%llu,\"cpus\":[%d,%d],\"mem\":%llu,\"disk\":%llu,\"backing\":",
		cp->qd, cp->rwmix, cp->qsize, cp->indirect ? "true" : "false", cp->events ? "true" : "false",
		cp->verify ? "true" : "false", (unsigned long long)cp->seed, cp->cpu_fe, cp->cpu_be,
		(unsigned long long)cp->mem, (unsigned long long)cp->disk);
	vtb_json_str(f, cp->backing);
	fprintf(f, ",\"ops_target\":%llu,\"duration\":%g,\"warmup\":%g}", (unsigned long long)cp->ops,
		cp->duration, cp->warmup);

	if (r->pingpong_ns > 0)
		fprintf(f, ",\"placement\":{\"pingpong_ns\":%.1f,\"tag\":\"%s\"}", r->pingpong_ns,
			vtb_placement_tag(r->pingpong_ns));
	else
		fputs(",\"placement\":null", f);
	fprintf(f, ",\"rep\":%u,\"ops\":%llu,\"bytes\":%llu,\"seconds\":%.9f", rep,
		(unsigned long long)ops, (unsigned long long)r->bytes, r->seconds);
	fprintf(f, ",\"ops_per_s\":%.3f,\"bytes_per_s\":%.3f",
		r->seconds > 0 ? (double)ops / r->seconds : 0, r->seconds > 0 ? (double)r->bytes / r->seconds : 0);
	const struct vtb_hist *hs = &r->hist;
	fprintf(f, ",\"lat_ns\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu,\"min\":%llu,\"mean\":%.1f}",
		(unsigned long long)vtb_hist_pct(hs, 50), (unsigned long long)vtb_hist_pct(hs, 90),
		(unsigned long long)vtb_hist_pct(hs, 99), (unsigned long long)vtb_hist_pct(hs, 99.9),
		(unsigned long long)hs->max, (unsigned long long)hs->min, hs->count ? hs->sum / (double)hs->count : 0);
	fprintf(f, ",\"hist\":{\"scheme\":\"log2-linear\",\"sub_bits\":%d,\"unit\":\"ns\",\"count\":%llu,\"buckets\":[",
		VTB_HIST_SUB_BITS, (unsigned long long)hs->count);
	bool first = true;
	for (unsigned i = 0; i < VTB_HIST_BUCKETS; i++) {
		if (!hs->b[i])
			continue;
		fprintf(f, "%s[%u,%llu]", first ? "" : ",", i, (unsigned long long)hs->b[i]);
		first = false;
	}
	fputs("]}", f);

	fprintf(f, ",\"per_op\":{\"copies\":%.6g,\"copy_bytes\":%.6g,\"maps\":%.6g,\"unmaps\":%.6g,"
		   "\"flushes\":%.6g,\"notifies\":%.6g,\"notifies_suppressed\":%.6g,\"exits\":%.6g,"
		   "\"waits\":%.6g,\"hv_copies\":%.6g,\"bounce_copies\":%.6g,\"xport_ops\":%.6g}",
		per(fe->copies + be->copies + fe->bounce_copies + be->bounce_copies, ops),
		per(fe->copy_bytes + be->copy_bytes + fe->bounce_bytes + be->bounce_bytes, ops),
		per(fe->maps + be->maps, ops), per(fe->unmaps + be->unmaps, ops),
		per(fe->flushes + be->flushes, ops), per(fe->notifies + be->notifies, ops),
		per(fe->notifies_suppressed + be->notifies_suppressed, ops),
		per(fe->exits + be->exits, ops), per(fe->waits + be->waits, ops),
		per(fe->copies + be->copies, ops), per(fe->bounce_copies + be->bounce_copies, ops),
		per(fe->xport_ops + be->xport_ops, ops));
	fputs(",\"domains\":{\"fe\":", f);
	counters(f, fe);
	fputs(",\"be\":", f);
	counters(f, be);
	fprintf(f, "},\"cpu_s\":{\"fe\":%.6f,\"be\":%.6f}", r->cpu_s[0], r->cpu_s[1]);
	fputs(",\"device_stats\":{", f);
	for (unsigned i = 0; i < r->ndev && i < VTB_DEV_STATS; i++) {
		fprintf(f, "%s", i ? "," : "");
		vtb_json_str(f, r->dev_names[i]);
		fprintf(f, ":%llu", (unsigned long long)r->dev_vals[i]);
	}
	fputs("}", f);
	fprintf(f, ",\"verified\":%s,\"verify_errors\":%llu,\"error\":",
		!cp->verify ? "null" : r->verified_ok ? "true" : "false", (unsigned long long)r->verify_errors);
	if (r->error[0])
		vtb_json_str(f, r->error);
	else
		fputs("null", f);
	fputs("}\n", f);
}
