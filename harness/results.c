#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "calib.h"
#include "peer.h"
#include "results.h"
#include "../workloads/net/vtb_net.h"

/* An Arm CPU by the MIDR fields arm64's /proc/cpuinfo gives instead of a
 * "model name" (Arm's TRMs: implementer 0x41 is Arm Ltd), so lab boards
 * are told apart in trend's board names. */
static void arm_cpu_name(char *out, size_t n, unsigned implementer, unsigned part)
{
	static const struct {
		unsigned part;
		const char *name;
	} arm[] = {
		{ 0xd03, "Cortex-A53" }, { 0xd04, "Cortex-A35" }, { 0xd05, "Cortex-A55" }, { 0xd07, "Cortex-A57" },
		{ 0xd08, "Cortex-A72" }, { 0xd09, "Cortex-A73" }, { 0xd0a, "Cortex-A75" }, { 0xd0b, "Cortex-A76" },
		{ 0xd0c, "Neoverse-N1" }, { 0xd40, "Neoverse-V1" }, { 0xd41, "Cortex-A78" }, { 0xd49, "Neoverse-N2" },
	};
	for (size_t i = 0; implementer == 0x41 && i < sizeof(arm) / sizeof(arm[0]); i++)
		if (arm[i].part == part) {
			snprintf(out, n, "Arm %s", arm[i].name);
			return;
		}
	snprintf(out, n, "implementer 0x%02x part 0x%03x", implementer, part);
}

/* The value after "KEY\t: " in a /proc/cpuinfo line, or NULL. */
static char *cpuinfo_value(char *line, const char *key)
{
	size_t kl = strlen(key);
	if (strncmp(line, key, kl) || (line[kl] != ' ' && line[kl] != '\t' && line[kl] != ':'))
		return NULL;
	char *c = strchr(line, ':');
	if (!c)
		return NULL;
	c += 1 + (c[1] == ' ');
	c[strcspn(c, "\n")] = 0;
	return c;
}

void vtb_host_probe(struct vtb_host *h)
{
	struct utsname u;
	memset(h, 0, sizeof(*h));
	snprintf(h->cpu, sizeof(h->cpu), "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	long implementer = -1, part = -1;
	bool named = false;
	while (f && fgets(line, sizeof(line), f) && !named) {
		char *v;
		if ((v = cpuinfo_value(line, "model name"))) {
			snprintf(h->cpu, sizeof(h->cpu), "%s", v);
			named = true;
		} else if ((v = cpuinfo_value(line, "CPU implementer")) && implementer < 0) {
			implementer = strtol(v, NULL, 0);
		} else if ((v = cpuinfo_value(line, "CPU part")) && part < 0) {
			part = strtol(v, NULL, 0);
		}
	}
	if (f)
		fclose(f);
	if (!named && implementer >= 0 && part >= 0)
		arm_cpu_name(h->cpu, sizeof(h->cpu), (unsigned)implementer, (unsigned)part);
	if (!uname(&u)) {
		snprintf(h->kernel, sizeof(h->kernel), "%s %s %s", u.sysname, u.release, u.machine);
		snprintf(h->hostname, sizeof(h->hostname), "%s", u.nodename);
	}
	h->cores = sysconf(_SC_NPROCESSORS_ONLN);
}

/* Bytes of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) ||
	    (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))))
		return 0;
	return n;
}

/* Always valid UTF-8 JSON: a byte that is not part of a well-formed
 * sequence is written as \u00XX (resume reads it back as that byte). */
void vtb_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		size_t u = c >= 0x80 ? utf8_len((const unsigned char *)s) : 1;
		if (c >= 0x80 && u) {
			fwrite(s, 1, u, f);
			s += u - 1;
		} else if (c >= 0x80)
			fprintf(f, "\\u%04x", c);
		else if (c == '"' || c == '\\')
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
	fprintf(f, "{\"copies\":%llu,\"copy_bytes\":%llu,\"copy_segs\":%llu,\"maps\":%llu,\"map_bytes\":%llu,"
		   "\"unmaps\":%llu,\"unmaps_keep_va\":%llu,\"flushes\":%llu,\"notifies\":%llu,\"notifies_suppressed\":%llu,"
		   "\"waits\":%llu,\"exits\":%llu,\"bounce_copies\":%llu,\"bounce_bytes\":%llu,\"xport_ops\":%llu}",
		(unsigned long long)c->copies, (unsigned long long)c->copy_bytes, (unsigned long long)c->copy_segs,
		(unsigned long long)c->maps, (unsigned long long)c->map_bytes,
		(unsigned long long)c->unmaps, (unsigned long long)c->unmaps_keep_va, (unsigned long long)c->flushes,
		(unsigned long long)c->notifies, (unsigned long long)c->notifies_suppressed,
		(unsigned long long)c->waits, (unsigned long long)c->exits,
		(unsigned long long)c->bounce_copies, (unsigned long long)c->bounce_bytes,
		(unsigned long long)c->xport_ops);
}

static void hist_buckets(FILE *f, const uint64_t *b, unsigned n)
{
	bool first = true;
	fputc('[', f);
	for (unsigned i = 0; i < n; i++) {
		if (!b[i])
			continue;
		fprintf(f, "%s[%u,%llu]", first ? "" : ",", i, (unsigned long long)b[i]);
		first = false;
	}
	fputc(']', f);
}

static uint64_t kdom_syscalls(const struct vtb_kdom *k)
{
	uint64_t n = k->sys_other;
	for (unsigned i = 0; i < VTB_KP_NSYS; i++)
		n += k->sys[i];
	return n;
}

static uint64_t kdom_tlb(const struct vtb_kdom *k)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < VTB_KP_TLB_REASONS; i++)
		n += k->tlb_flush[i];
	return n;
}

/* The calls a seam primitive or a doorbell makes on proc: the exits.  A
 * backing file's io_uring_enter is the device's own I/O, not an exit. */
static uint64_t kdom_exits(const struct vtb_kdom *k)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < VTB_KP_NPRIM; i++) {
		if (i == VTB_KP_IO_URING_ENTER)
			continue;
		uint64_t c = 0;
		for (unsigned s = 0; s < VTB_KP_LAT_SLOTS; s++)
			c += k->prim_lat[i][s];
		n += c;
	}
	return n;
}

static void kdom_json(FILE *f, const struct vtb_kdom *k, const struct vtb_kresult *kr)
{
	fputs("{\"syscalls\":{", f);
	bool first = true;
	for (unsigned i = 0; i < VTB_KP_NSYS; i++) {
		if (!k->sys[i])
			continue;
		const char *nm = vtb_syscall_name(i);
		char buf[24];
		if (!nm) {
			snprintf(buf, sizeof(buf), "nr%u", i);
			nm = buf;
		}
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",", nm, (unsigned long long)k->sys[i]);
		first = false;
	}
	if (k->sys_other)
		fprintf(f, "%s\"other\":%llu", first ? "" : ",", (unsigned long long)k->sys_other);
	fprintf(f, "},\"syscalls_total\":%llu,\"exits\":%llu,\"syscall_lat\":{",
		(unsigned long long)kdom_syscalls(k), (unsigned long long)kdom_exits(k));
	first = true;
	for (unsigned i = 0; i < VTB_KP_NPRIM; i++) {
		uint64_t c = 0;
		for (unsigned s = 0; s < VTB_KP_LAT_SLOTS; s++)
			c += k->prim_lat[i][s];
		if (!c)
			continue;
		fprintf(f, "%s\"%s\":{\"count\":%llu,\"mean_ns\":%.1f,\"log2\":", first ? "" : ",",
			vtb_kp_prim_names[i], (unsigned long long)c, (double)k->prim_ns[i] / (double)c);
		hist_buckets(f, k->prim_lat[i], VTB_KP_LAT_SLOTS);
		fputc('}', f);
		first = false;
	}
	fprintf(f, "},\"ctx_switches\":%llu,\"ctx_involuntary\":%llu,\"offcpu_ns\":%llu,\"page_faults\":",
		(unsigned long long)k->ctx_switches, (unsigned long long)k->ctx_involuntary,
		(unsigned long long)k->offcpu_ns);
	if (kr->have_page_faults)
		fprintf(f, "%llu", (unsigned long long)k->page_faults);
	else
		fputs("null", f);
	fprintf(f, ",\"tlb_flushes\":%llu,\"tlb_flush_reasons\":{", (unsigned long long)kdom_tlb(k));
	first = true;
	for (unsigned i = 0; i < VTB_KP_TLB_REASONS; i++) {
		if (!k->tlb_flush[i])
			continue;
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",", vtb_kp_tlb_reasons[i], (unsigned long long)k->tlb_flush[i]);
		first = false;
	}
	fprintf(f, "},\"tlb_pages\":%llu,\"ipis\":", (unsigned long long)k->tlb_pages);
	if (kr->have_ipis)
		fprintf(f, "%llu", (unsigned long long)k->ipis);
	else
		fputs("null", f);
	fprintf(f, ",\"phase_events\":[%llu,%llu]}", (unsigned long long)k->phase_on, (unsigned long long)k->phase_off);
}

static void perf_json(FILE *f, const struct vtb_perf_result *p)
{
	if (!p->sw) {
		fputs("{\"counted\":false,\"why\":", f);
		vtb_json_str(f, p->why);
		fputc('}', f);
		return;
	}
	fprintf(f, "{\"counted\":true,\"user_only\":%s", p->user_only ? "true" : "false");
	for (int i = 0; i < VTB_PC_N; i++) {
		if (i >= VTB_PC_FIRST_HW && !p->hw)
			fprintf(f, ",\"%s\":null", vtb_pc_names[i]);
		else
			fprintf(f, ",\"%s\":%llu", vtb_pc_names[i], (unsigned long long)p->v[i]);
	}
	if (!p->hw) {
		fputs(",\"why\":", f);
		vtb_json_str(f, p->why);
	}
	fputc('}', f);
}

static void kernel_json(FILE *f, const struct vtb_cellp *cp, const struct vtb_cell_result *r)
{
	const struct vtb_kresult *k = &r->k;
	fputs(",\"perf\":{\"fe\":", f);
	perf_json(f, &r->perf[0]);
	fputs(",\"be\":", f);
	perf_json(f, &r->perf[1]);
	fputc('}', f);
	if (!k->on) {
		fputs(",\"kernel\":null", f);
		return;
	}
	fputs(",\"kernel\":{\"source\":\"ebpf\",\"fe\":", f);
	kdom_json(f, &k->d[0], k);
	fputs(",\"be\":", f);
	kdom_json(f, &k->d[1], k);
	fputs(",\"kvm_exits\":", f);
	if (k->kvm) {
		fputc('{', f);
		bool first = true;
		for (unsigned i = 0; i <= VTB_KP_KVM_REASONS; i++) {
			if (!k->kvm_exit[i])
				continue;
			if (i == VTB_KP_KVM_REASONS)
				fprintf(f, "%s\"other\":%llu", first ? "" : ",", (unsigned long long)k->kvm_exit[i]);
			else
				fprintf(f, "%s\"%u\":%llu", first ? "" : ",", i, (unsigned long long)k->kvm_exit[i]);
			first = false;
		}
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	/* Request latency between the FE's USDT probes, beside the in-process
	 * latency of the same sampled requests. */
	const struct vtb_hist *u = &r->usdt_user;
	struct vtb_hist kh;
	memset(&kh, 0, sizeof(kh));
	memcpy(kh.b, k->usdt.hist, sizeof(kh.b));
	kh.count = k->usdt.count;
	kh.min = 0;
	kh.max = UINT64_MAX;
	fprintf(f, ",\"usdt\":{\"sample\":%u,\"count\":%llu,\"unmatched\":%llu,\"mean_ns\":%.1f,"
		   "\"p50\":%llu,\"p99\":%llu,\"user_count\":%llu,\"user_p50\":%llu,\"user_p99\":%llu,\"buckets\":",
		cp->usdt, (unsigned long long)k->usdt.count, (unsigned long long)k->usdt.unmatched,
		k->usdt.count ? (double)k->usdt.sum_ns / (double)k->usdt.count : 0,
		(unsigned long long)vtb_hist_pct(&kh, 50), (unsigned long long)vtb_hist_pct(&kh, 99),
		(unsigned long long)u->count, (unsigned long long)vtb_hist_pct(u, 50),
		(unsigned long long)vtb_hist_pct(u, 99));
	hist_buckets(f, k->usdt.hist, VTB_KP_HIST_BUCKETS);
	fprintf(f, "},\"arm_us\":%.1f}", k->arm_us);
}

static void model_json(FILE *f, const struct vtb_cell_result *r, const struct vtb_model_out *m, const char *ref)
{
	if (!m || !r->ops || r->seconds <= 0) {
		fputs(",\"limit\":null,\"model\":null", f);
		return;
	}
	double measured = r->seconds * 1e9 / (double)r->ops;
	fprintf(f, ",\"limit\":{\"name\":\"%s\",\"ns_per_op\":%.4g,\"ratio\":%.4g}", m->limit, m->limit_ns,
		m->limit_ns / measured);
	fprintf(f, ",\"model\":{\"predicted_ns_per_op\":%.1f,\"measured_ns_per_op\":%.1f,\"error_pct\":%.2f,"
		   "\"relative\":%s,\"reference\":",
		m->predicted_ns, measured, 100.0 * (m->predicted_ns - measured) / measured, m->relative ? "true" : "false");
	if (m->relative)
		vtb_json_str(f, ref);
	else
		fputs("null", f);
	fprintf(f, ",\"wake_ns\":%.1f,\"terms\":{", m->wake_ns);
	for (int d = 0; d < 2; d++) {
		fprintf(f, "%s\"%s\":{", d ? "," : "", d ? "be" : "fe");
		for (int i = 0; i < VTB_MT_N; i++)
			fprintf(f, "%s\"%s\":%.1f", i ? "," : "", vtb_mt_names[i], m->term[d][i]);
		fputc('}', f);
	}
	fputs("}}", f);
}

static void slices_json(FILE *f, const struct vtb_cell_result *r)
{
	if (r->slice_ns <= 0 || !r->nslices) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"ns\":%.0f,\"ops\":[", r->slice_ns);
	for (unsigned i = 0; i < r->nslices && i < VTB_SLICES; i++)
		fprintf(f, "%s%u", i ? "," : "", r->slice_ops[i]);
	fputs("],\"dur_ns\":[", f);
	for (unsigned i = 0; i < r->nslices && i < VTB_SLICES; i++)
		fprintf(f, "%s%.0f", i ? "," : "", r->slice_dur_ns[i]);
	fputs("]}", f);
}

/* The shm reference that took turns with this cell: its figures, and the
 * paired ratio (this cell's ops/s over the reference's). */
static void pair_json(FILE *f, const struct vtb_cell_result *p, unsigned cell, const struct vtb_cell_result *r)
{
	fputs(",\"pair\":", f);
	if (!p) {
		fputs("null", f);
		return;
	}
	bool ok = !p->error[0] && p->ops && p->seconds > 0;
	double rate = ok ? (double)p->ops / p->seconds : 0;
	fprintf(f, "{\"ref_cell\":%u,\"ref_ops\":%llu,\"ref_seconds\":%.9f,\"ref_ops_per_s\":%.3f,\"ratio\":", cell,
		(unsigned long long)p->ops, p->seconds, rate);
	if (ok && r->ops && r->seconds > 0)
		fprintf(f, "%.6g", (double)r->ops / r->seconds / rate);
	else
		fputs("null", f);
	fprintf(f, ",\"ref_cpu_s\":{\"fe\":%.6f,\"be\":%.6f},\"ref_slices\":", p->cpu_s[0], p->cpu_s[1]);
	slices_json(f, p);
	fputs(",\"ref_error\":", f);
	if (p->error[0])
		vtb_json_str(f, p->error);
	else
		fputs("null", f);
	fputc('}', f);
}

static void guest_json(FILE *f, const struct vtb_guest_meta *g)
{
	fputs(",\"guest\":", f);
	if (!g->on) {
		fputs("null", f);
		return;
	}
	const char *k[] = { "arch", "accel", "kernel", "qemu", "config", "times", "crosscheck" };
	const char *v[] = { g->arch, g->accel, g->kernel, g->qemu, g->config, g->times, g->crosscheck };
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		fprintf(f, "%c\"%s\":", i ? ',' : '{', k[i]);
		vtb_json_str(f, v[i]);
	}
	fputc('}', f);
}

void vtb_write_row(FILE *f, const char *run_id, const char *git_rev, const struct vtb_host *h,
		   const struct vtb_cellp *cp, unsigned rep, const struct vtb_cell_result *r,
		   const struct vtb_model_out *m, const char *ref, const struct vtb_cell_result *pair, unsigned pair_cell)
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
	fprintf(f, ",\"index\":%u", cp->index);
	fputs(",\"transport\":", f);
	vtb_json_str(f, cp->transport);
	fprintf(f, ",\"probes\":\"%s\",\"usdt\":%u", cp->probes_on ? "on" : "off", cp->usdt);
	const struct vtb_peer_ops *peer = vtb_peer_find(cp->transport);
	fputs(",\"variant\":", f);
	vtb_json_str(f, cp->variant);
	fputs(",\"notify\":", f);
	vtb_json_str(f, cp->notify);
	fputs(",\"platform\":", f);
	vtb_json_str(f, cp->platform);
	if (vtb_platform_find(cp->platform) && vtb_platform_find(cp->platform)->guest) {
		fputs(",\"arch\":", f);	/* the guest's: part of the cell there, meaningless on proc */
		vtb_json_str(f, cp->arch);
		if (!strcmp(cp->device, "blk")) {
			fputs(",\"guest_io\":", f);
			vtb_json_str(f, cp->guest_io);
		}
		if (!strcmp(cp->device, "blk") || !strcmp(cp->device, "net")) {
			fputs(",\"backend\":", f);	/* the device's other end: QEMU's or a vhost-user process */
			vtb_json_str(f, cp->backend);
		}
	}
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
	fprintf(f, ",\"backing_create\":%s", cp->backing_create ? "true" : "false");
	fprintf(f, ",\"ops_target\":%llu,\"duration\":%g,\"warmup\":%g,\"paired\":%s}", (unsigned long long)cp->ops,
		cp->duration, cp->warmup, cp->pair ? "true" : "false");

	if (r->pingpong_ns > 0) {
		fprintf(f, ",\"placement\":{\"pingpong_ns\":%.1f,\"tag\":\"%s\"", r->pingpong_ns,
			vtb_placement_tag(r->pingpong_ns));
		if (r->pingpong_after_ns > 0)
			fprintf(f, ",\"after_ns\":%.1f,\"tag_after\":\"%s\"", r->pingpong_after_ns,
				vtb_placement_tag(r->pingpong_after_ns));
		fputc('}', f);
	} else
		fputs(",\"placement\":null", f);
	/* What else shared the machine during the measured phase, and how the
	 * window's ops were spread over it. */
	fputs(",\"steal_s\":", f);
	if (r->steal_s[0] >= 0 && r->steal_s[1] >= 0)
		fprintf(f, "{\"fe\":%.3f,\"be\":%.3f}", r->steal_s[0], r->steal_s[1]);
	else
		fputs("null", f);
	fputs(",\"slices\":", f);
	slices_json(f, r);
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

	const struct vtb_kresult *kr = &r->k;
	uint64_t exits = kr->on ? kdom_exits(&kr->d[0]) + kdom_exits(&kr->d[1]) : fe->exits + be->exits;
	char notifies[32] = "null";
	if (!r->notifies_unknown)
		snprintf(notifies, sizeof(notifies), "%.6g", per(fe->notifies + be->notifies, ops));
	fprintf(f, ",\"per_op\":{\"copies\":%.6g,\"copy_bytes\":%.6g,\"maps\":%.6g,\"unmaps\":%.6g,"
		   "\"flushes\":%.6g,\"notifies\":%s,\"notifies_suppressed\":%.6g,\"exits\":%.6g,"
		   "\"waits\":%.6g,\"hv_copies\":%.6g,\"bounce_copies\":%.6g,\"xport_ops\":%.6g",
		per(fe->copies + be->copies + fe->bounce_copies + be->bounce_copies, ops),
		per(fe->copy_bytes + be->copy_bytes + fe->bounce_bytes + be->bounce_bytes, ops),
		per(fe->maps + be->maps, ops), per(fe->unmaps + be->unmaps, ops),
		per(fe->flushes + be->flushes, ops), notifies,
		per(fe->notifies_suppressed + be->notifies_suppressed, ops),
		per(exits, ops), per(fe->waits + be->waits, ops),
		per(fe->copies + be->copies, ops), per(fe->bounce_copies + be->bounce_copies, ops),
		per(fe->xport_ops + be->xport_ops, ops));
	fprintf(f, ",\"exits_source\":\"%s\"", kr->on ? "kernel" : "seam");
	if (kr->on)
		fprintf(f, ",\"syscalls\":%.6g,\"ctx_switches\":%.6g,\"tlb_flushes\":%.6g,\"offcpu_ns\":%.6g",
			per(kdom_syscalls(&kr->d[0]) + kdom_syscalls(&kr->d[1]), ops),
			per(kr->d[0].ctx_switches + kr->d[1].ctx_switches, ops),
			per(kdom_tlb(&kr->d[0]) + kdom_tlb(&kr->d[1]), ops),
			per(kr->d[0].offcpu_ns + kr->d[1].offcpu_ns, ops));
	fputc('}', f);
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
	kernel_json(f, cp, r);
	model_json(f, r, m, ref);
	pair_json(f, pair, pair_cell, r);
	guest_json(f, &r->guest);
	/* A peer program reports throughput and CPU only. */
	fputs(",\"peer\":", f);
	if (peer)
		vtb_json_str(f, peer->desc);
	else
		fputs("null", f);
	fprintf(f, ",\"verified\":%s,\"verify_errors\":%llu,\"error\":",
		!cp->verify || peer ? "null" : r->verified_ok ? "true" : "false", (unsigned long long)r->verify_errors);
	if (r->error[0])
		vtb_json_str(f, r->error);
	else
		fputs("null", f);
	fputs("}\n", f);
}
