/* vtbench: run identical virtio workloads over inter-domain transports and
 * count what each costs.  `vtbench help` for usage. */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapt.h"
#include "calib.h"
#include "cell.h"
#include "model.h"
#include "peer.h"
#include "qemu.h"
#include "resume.h"
#include "perfctr.h"
#include "probes.h"
#include "vtb_usdt.h"
#include "results.h"
#include "serve.h"
#include "suite.h"

#ifndef VTB_GIT_REV
#define VTB_GIT_REV "unknown"
#endif

static void usage(FILE *f)
{
	fputs("usage:\n"
	      "  vtbench run [SUITE ...] [KEY=VALUE ...] [--out DIR] [--yes]\n"
	      "      run the cells of the suites (fio-like files), with KEY=VALUE applied to\n"
	      "      every section; a comma list (qd=1,32) expands into a matrix; says how\n"
	      "      long it will take, and needs --yes past 20000 repetitions or 24 hours\n"
	      "  vtbench run --resume DIR   finish an interrupted run\n"
	      "  vtbench list [--json] devices, transports (variants, caps, options), platforms, suite keys\n"
	      "  vtbench calibrate [cpus=A,B] [--json]\n"
	      "      the machine's limits: memcpy and hypervisor-copy bandwidth, ping-pong and\n"
	      "      doorbell round trips, system call, page map and TLB shootdown costs\n"
	      "  vtbench report RUN_DIR [--out DIR]\n"
	      "      the HTML report of a run (default RUN_DIR/report/index.html)\n"
	      "  vtbench compare RUN_A RUN_B [--threshold PCT] [--alpha A] [--metric ops|p99|both]\n"
	      "                  [--html FILE] [--json FILE]\n"
	      "      per cell B/A with CIs and a test; exit 1 on a significant regression\n"
	      "  vtbench trend RUN_DIR... [--out DIR] [--window N]\n"
	      "      time series per cell over nightly runs; exit 1 if the newest run regressed\n"
	      "  vtbench export --squad RUN_DIR [--out DIR] | --lava RUN_DIR\n"
	      "      the run as SQUAD's tests, metrics and metadata JSON (default RUN_DIR/squad), or as\n"
	      "      LAVA's lava-test-case calls\n"
	      "  vtbench lava job --device qemu-amd64|qemu-arm64|board --repository URL [...]\n"
	      "      a LAVA job from ci/lava's templates, checked against LAVA's schema\n"
	      "  vtbench serve device=blk|net|scmi socket=PATH [KEY=VALUE ...]\n"
	      "      a device model as a vhost-user backend (vtbench serve help)\n"
	      "  vtbench version\n"
	      "exit codes: 0 all cells passed, 1 some cell failed (see its row's \"error\"),\n"
	      "            2 bad input, 3 the harness itself failed\n", f);
}

static int cmd_list(int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "--json")) {	/* for scripts: transports and keys */
		vtb_list_json(stdout);
		return 0;
	}
	if (argc) {
		fprintf(stderr, "vtbench list: unexpected '%s' (--json is the only option)\n", argv[0]);
		return 2;
	}
	printf("devices:\n");
	for (const struct vtb_workload_ops *const *w = vtb_workloads; *w; w++)
		printf("  %-10s %s\n", (*w)->name, (*w)->desc);
	printf("\ntransports (variant: first is the default; caps: what it can do and needs; its own suite keys):\n");
	vtb_list_transports(stdout);
	printf("\npeers (run as transport=NAME, written as ordinary rows):\n");
	for (const struct vtb_peer_ops *const *p = vtb_peers; *p; p++) {
		char why[160];
		printf("  %-10s %s%s\n", (*p)->name, (*p)->desc, (*p)->available(why, sizeof(why)) ? " [not installed]" : "");
		for (int i = 0; (*p)->variants[i]; i++)
			printf("    variant=%-10s %s\n", (*p)->variants[i], (*p)->variant_desc[i]);
	}
	printf("\nnotify modes:\n  event      doorbells (eventfd) with VIRTIO_F_EVENT_IDX suppression\n"
	       "  poll       both sides busy-poll; flags suppress every doorbell\n");
	printf("\nplatforms (platform=NAME):\n");
	for (const struct vtb_platform_ops *const *p = vtb_platforms; *p; p++)
		printf("  %-10s %s\n", (*p)->name, (*p)->desc);
	printf("\nsuite keys (default in brackets):\n");
	vtb_list_keys(stdout);
	return 0;
}

static void progress(size_t i, size_t n, unsigned rep, unsigned reps, const struct vtb_cellp *c,
		     double elapsed)
{
	char name[160];
	vtb_cell_name(c, name, sizeof(name));
	double eta = i ? elapsed / (double)i * (double)(n - i) : 0;
	fprintf(stderr, "\r\033[K[%zu/%zu] rep %u/%u  %s  ETA %d:%02d", i + 1, n, rep + 1, reps, name,
		(int)eta / 60, (int)eta % 60);
	fflush(stderr);
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

/* A run finished by --resume: how many rows were already there, and what
 * the run recorded when it started (kept; the resume's own beside it). */
static struct {
	bool on, truncated;
	size_t rows;
	struct vtb_resume_orig orig;
} resume_meta;

/* Peer cells skipped because this machine lacks the peer. */
static struct {
	char (*why)[160];
	const struct vtb_cells *cells;
} skip_meta;

static void write_skipped(FILE *f)
{
	fputs("  \"skipped\": [", f);
	bool first = true;
	for (size_t i = 0; skip_meta.why && i < skip_meta.cells->n; i++) {
		if (!skip_meta.why[i][0])
			continue;
		char name[160];
		vtb_cell_name(&skip_meta.cells->v[i], name, sizeof(name));
		fputs(first ? "{\"cell\": " : ", {\"cell\": ", f);
		vtb_json_str(f, name);
		fputs(", \"why\": ", f);
		vtb_json_str(f, skip_meta.why[i]);
		fputc('}', f);
		first = false;
	}
	fputs("],\n", f);
}

/* What the run could observe of the kernel, for meta.json. */
static struct {
	const char *state;		/* on | off | mixed */
	char why[256];			/* why they are off, or "" */
	int leaked_fds;			/* bpf/perf fds left after a cell: 0 when healthy */
	const char *syscall_hooks;	/* what counts and times the system calls, or NULL */
	struct vtb_perf_result pmu;
} probe_meta;

static void write_probe_meta(FILE *f)
{
	fprintf(f, "  \"probes\": {\"state\": \"%s\", \"why\": ", probe_meta.state);
	if (probe_meta.why[0])
		vtb_json_str(f, probe_meta.why);
	else
		fputs("null", f);
	fputs(", \"syscall_hooks\": ", f);
	if (probe_meta.syscall_hooks)
		vtb_json_str(f, probe_meta.syscall_hooks);
	else
		fputs("null", f);
	fprintf(f, ", \"usdt\": %s, \"leaked_fds\": %d, \"perf_counters\": %s, \"user_only\": %s, \"pmu\": %s",
		VTB_HAVE_USDT ? "true" : "false", probe_meta.leaked_fds, probe_meta.pmu.sw ? "true" : "false",
		probe_meta.pmu.user_only ? "true" : "false", probe_meta.pmu.hw ? "true" : "false");
	if (!probe_meta.pmu.hw) {
		fputs(", \"pmu_why\": ", f);
		vtb_json_str(f, probe_meta.pmu.why);
	}
	fputs("},\n", f);
}

/* Flushes, syncs and closes f; 0 or -errno (the first error seen). */
static int close_synced(FILE *f)
{
	int e = ferror(f) ? EIO : 0;
	if (fflush(f) && !e)
		e = errno;
	if (fsync(fileno(f)) && !e)
		e = errno;
	if (fclose(f) && !e)
		e = errno;
	return -e;
}

static void calib_list_json(FILE *f, const struct vtb_calib *c, unsigned n)
{
	fputs("[", f);
	for (unsigned i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		vtb_calib_json(f, &c[i]);
	}
	fputs("]", f);
}

/* The platforms the run's cells ran on, each once, in matrix order. */
static void write_platforms(FILE *f, const struct vtb_cells *cells)
{
	fputc('[', f);
	for (size_t i = 0, n = 0; i < cells->n; i++) {
		size_t j = 0;
		while (j < i && strcmp(cells->v[j].platform, cells->v[i].platform))
			j++;
		if (j < i)
			continue;
		fputs(n++ ? ", " : "", f);
		vtb_json_str(f, cells->v[i].platform);
	}
	fputc(']', f);
}

/* meta.json is replaced whole or not at all: written to a temporary file,
 * synced, renamed over the last good one, and the directory synced.  On
 * any failure the last good meta.json stays and -errno is returned. */
static int write_meta(const char *path, const char *run_id, const struct vtb_cells *cells,
		       const struct vtb_host *h, const struct vtb_calib *cal0, const struct vtb_calib *cal1,
		       const struct vtb_calib *reps, unsigned nreps,
		       const char *started, const char *ended, size_t failed, size_t total)
{
	int e;
	/* A resumed run keeps its own start; this process's go in "resumes". */
	const struct vtb_calib *own0 = cal0;
	const char *own_started = started;
	if (resume_meta.on) {
		cal0 = &resume_meta.orig.cal0;
		started = resume_meta.orig.started;
	}
	double pp0 = cal0->pingpong_ns.v, sp0 = cal0->pingpong_ns.spread_pct;
	double pp1 = cal1 ? cal1->pingpong_ns.v : 0, sp1 = cal1 ? cal1->pingpong_ns.spread_pct : 0;
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\n  \"schema\": %d,\n  \"run_id\": ", VTB_SCHEMA_VERSION);
	vtb_json_str(f, run_id);
	fputs(",\n  \"git_rev\": ", f);
	vtb_json_str(f, VTB_GIT_REV);
	fputs(",\n  \"platforms\": ", f);
	write_platforms(f, cells);
	fputs(",\n  \"host\": {\"cpu\": ", f);
	vtb_json_str(f, h->cpu);
	fputs(", \"kernel\": ", f);
	vtb_json_str(f, h->kernel);
	fputs(", \"hostname\": ", f);
	vtb_json_str(f, h->hostname);
	fprintf(f, ", \"cores\": %ld},\n  \"started\": \"%s\",\n  \"ended\": ", h->cores, started);
	if (ended)
		fprintf(f, "\"%s\"", ended);
	else
		fputs("null", f);
	fprintf(f, ",\n  \"cells\": %zu,\n  \"rows\": %zu,\n  \"failed_rows\": %zu,\n", cells->n, total, failed);
	fprintf(f, "  \"placement\": {\"pingpong_ns_start\": %.1f, \"spread_pct_start\": %.1f, \"tag_start\": \"%s\", ",
		pp0, sp0, vtb_placement_tag(pp0));
	if (cal1)
		fprintf(f, "\"pingpong_ns_end\": %.1f, \"spread_pct_end\": %.1f, \"tag_end\": \"%s\", \"moved\": %s},\n",
			pp1, sp1, vtb_placement_tag(pp1),
			strcmp(vtb_placement_tag(pp0), vtb_placement_tag(pp1)) ? "true" : "false");
	else
		fputs("\"pingpong_ns_end\": null},\n", f);
	write_probe_meta(f);
	write_skipped(f);
	if (resume_meta.on)
		fprintf(f, "  \"resumed\": {\"rows_before\": %zu, \"partial_line_cut\": %s},\n", resume_meta.rows,
			resume_meta.truncated ? "true" : "false");
	/* The machine's limits at both ends of the run, and what moved between. */
	fputs("  \"calibration\": {\"start\": ", f);
	vtb_calib_json(f, cal0);
	fputs(", \"end\": ", f);
	if (cal1) {
		char moved[256];
		int n = vtb_calib_moved(cal0, cal1, moved, sizeof(moved));
		vtb_calib_json(f, cal1);
		fputs(", \"moved\": [", f);
		for (char *t = strtok(moved, ","); t; t = strtok(NULL, ","))
			fprintf(f, "%s\"%s\"", t == moved ? "" : ", ", t);
		fprintf(f, "], \"moved_count\": %d", n);
	} else {
		fputs("null", f);
	}
	/* What priced each repetition's rows: rep 0 used start.  A resume's
	 * rows were priced by its own, in its entry of "resumes". */
	fputs(", \"reps\": ", f);
	if (resume_meta.on)
		fputs(resume_meta.orig.reps_raw, f);
	else
		calib_list_json(f, reps, nreps);
	fputs("},\n", f);
	if (resume_meta.on) {
		fputs("  \"resumes\": [", f);
		if (resume_meta.orig.resumes_raw)
			fprintf(f, "%s, ", resume_meta.orig.resumes_raw);
		fprintf(f, "{\"started\": \"%s\", \"rows_before\": %zu, \"partial_line_cut\": %s, "
			   "\"placement_start\": {\"pingpong_ns\": %.1f, \"tag\": \"%s\"}, \"calibration_start\": ",
			own_started, resume_meta.rows, resume_meta.truncated ? "true" : "false", own0->pingpong_ns.v,
			vtb_placement_tag(own0->pingpong_ns.v));
		vtb_calib_json(f, own0);
		fputs(", \"reps\": ", f);
		calib_list_json(f, reps, nreps);
		fputs("}],\n", f);
	}
	fputs("  \"suite\": ", f);
	vtb_json_str(f, cells->text ? cells->text : "");
	/* What --resume rebuilds the cells from, kept apart. */
	fputs(",\n  \"inputs\": {\"suites\": [", f);
	for (size_t i = 0; i < cells->nfiles; i++) {
		fputs(i ? ", {\"path\": " : "{\"path\": ", f);
		vtb_json_str(f, cells->paths[i]);
		fputs(", \"text\": ", f);
		vtb_json_str(f, cells->texts[i]);
		fputs("}", f);
	}
	fputs("], \"args\": [", f);
	for (size_t i = 0; i < cells->nargs; i++) {
		fputs(i ? ", " : "", f);
		vtb_json_str(f, cells->args[i]);
	}
	fputs("]}\n}\n", f);
	if ((e = close_synced(f)))
		goto unlink_tmp;
	if (rename(tmp, path)) {
		e = -errno;
		goto unlink_tmp;
	}
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);	/* the rename itself reaches the disk */
		close(dfd);
	}
	return 0;
unlink_tmp:
	unlink(tmp);
	return e;
}

/* One run at a time in a run directory: an exclusive flock on DIR/.lock,
 * held until this process ends, with the holder's pid in the file.  0, or
 * -1 with a message (2: held by another run, 3: cannot lock). */
static int lock_run_dir(const char *dir, int *code)
{
	char path[4200], holder[32] = "";
	snprintf(path, sizeof(path), "%s/.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "vtbench: cannot lock %s: %s\n", path, strerror(errno));
		return *code = 3, -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		ssize_t got = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[got > 0 ? got : 0] = 0;
		holder[strcspn(holder, "\n")] = 0;
		close(fd);
		if (e == EWOULDBLOCK) {
			fprintf(stderr, "vtbench: %s is in use by another vtbench run (pid %s)\n", dir, holder[0] ? holder : "?");
			return *code = 2, -1;
		}
		fprintf(stderr, "vtbench: cannot lock %s: %s\n", path, strerror(e));
		return *code = 3, -1;
	}
	int n = snprintf(holder, sizeof(holder), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, holder, (size_t)n, 0) != n)
		fprintf(stderr, "vtbench: warning: cannot write the holder's pid into %s\n", path);
	return 0;	/* fd stays open: the lock lasts as long as the run */
}

static void utc_now(char *buf, size_t n)
{
	time_t now = time(NULL);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 and *val set (and *i
 * moved past VALUE), 0 if argv[*i] is not --name, -1 if VALUE is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char *what, const char **val)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n))
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n])
		return 0;
	if (++*i == argc) {
		fprintf(stderr, "vtbench: %s needs %s\n", name, what);
		return -1;
	}
	*val = argv[*i];
	return 1;
}

/* Above these a run needs --yes: a typo in a matrix should not start a
 * run of days. */
#define VTB_RUN_MAX_REPS 20000
#define VTB_RUN_MAX_SECONDS (24 * 3600.0)

/* Says how many cells and repetitions the run has and about how long it
 * takes; refuses one past the caps without --yes.  The guess per
 * repetition: warmup + duration (ops=N: 10 us an op), 0.15 s to set the
 * domains up, at most the cell's timeout, and a calibration (1 s) per
 * repetition round. */
static int run_estimate(const struct vtb_cells *cells, bool yes)
{
	double s = 2.0, reps = 0;
	unsigned maxreps = 0;
	for (size_t i = 0; i < cells->n; i++) {
		const struct vtb_cellp *c = &cells->v[i];
		double one = c->warmup + (c->ops ? (double)c->ops * 1e-5 : c->duration) + 0.15;
		if (c->timeout > 0 && one > c->timeout)
			one = c->timeout;	/* the watchdog ends it by then */
		const struct vtb_transport_ops *t = vtb_transport_find(c->transport);
		if (c->pair && !(t && (t->caps & VTB_CAP_REFERENCE)))
			one *= 2;	/* its reference takes every other turn */
		s += one * c->reps;
		reps += c->reps;
		if (c->reps > maxreps)
			maxreps = c->reps;
	}
	s += maxreps;
	unsigned long t = (unsigned long)s;
	fprintf(stderr, "vtbench: %zu cells, %.0f repetitions, about %lu:%02lu:%02lu\n", cells->n, reps, t / 3600,
		t / 60 % 60, t % 60);
	if (!yes && (reps > VTB_RUN_MAX_REPS || s > VTB_RUN_MAX_SECONDS)) {
		fprintf(stderr, "vtbench: that is more than %d repetitions or %.0f hours: add --yes to run it anyway\n",
			VTB_RUN_MAX_REPS, VTB_RUN_MAX_SECONDS / 3600);
		return -1;
	}
	return 0;
}

/* One `vtbench run`, from its arguments to its last meta.json. */
struct run {
	/* What was asked. */
	const char *out, *resume;
	const char **files, **kv;
	size_t nf, nkv;
	bool yes;
	/* The cells, and where their rows go. */
	struct vtb_cells cells;
	bool have_cells;
	char resume_id[64], run_id[64], dir[4096], started[32];
	struct vtb_host host;
	struct vtb_resume rs;
	FILE *rf;
	int fd;
	/* The probes, decided once for the run, and the descriptors held. */
	struct vtb_probes *probes;
	int fds0, fds_run;
	/* The machine's limits: at the start, before each repetition, at the end. */
	int cpa, cpb;
	struct vtb_calib cal0, cal1, calr, *calreps;
	unsigned reps_run;
	/* The plan: cell order, each one's shm reference, the last reference
	 * figures per placement, peers skipped, adaptive logs. */
	size_t *order, *ref;
	struct vtb_model_cell *last;
	unsigned *last_rep;
	char (*skip_why)[160];
	double *logs;
	unsigned *nlogs, maxreps;
	bool *run_now;
	size_t total, done, failed;
	double budget;
	uint64_t t0;
	bool tty;
};

/* Suites, KEY=VALUE pairs and options; 0 or 2. */
static int run_parse(struct run *r, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--yes")) {
			r->yes = true;
			continue;
		}
		int m = opt_value(argc, argv, &i, "--resume", "a run directory", &r->resume);
		if (!m)
			m = opt_value(argc, argv, &i, "--out", "a directory", &r->out);
		if (m < 0)
			return 2;
		if (m)
			continue;
		if (argv[i][0] == '-') {
			fprintf(stderr, "vtbench: unknown option %s\n", argv[i]);
			return 2;
		} else if (strchr(argv[i], '=')) {
			r->kv[r->nkv++] = argv[i];
		} else {
			r->files[r->nf++] = argv[i];
		}
	}
	if (r->resume && (r->nf || r->nkv || r->out)) {
		fprintf(stderr, "vtbench: --resume DIR runs what DIR's run still lacks: no suites, keys or --out beside it\n");
		return 2;
	}
	return 0;
}

/* The matrix: from the suites, or from the interrupted run; 0 or 2. */
static int run_build(struct run *r)
{
	char err[512];
	if (r->resume ? vtb_resume_cells(r->resume, &r->cells, r->resume_id, sizeof(r->resume_id), err, sizeof(err))
		      : vtb_suite_build(r->files, r->nf, r->kv, r->nkv, &r->cells, err, sizeof(err))) {
		fprintf(stderr, "vtbench: %s\n", err);
		return 2;
	}
	r->have_cells = true;
	if (r->cells.n == 0) {
		fprintf(stderr, "vtbench: the suite gives no cell to run\n");
		return 2;
	}
	if (run_estimate(&r->cells, r->yes))
		return 2;
	if (r->resume)
		r->out = r->resume;
	return 0;
}

/* Probes on where a cell wants them and they can run; 0 or 2. */
static int run_probes(struct run *r)
{
	struct vtb_cells *cells = &r->cells;
	bool want = false, need = false;
	for (size_t i = 0; i < cells->n; i++) {
		want |= strcmp(cells->v[i].probes, "off") != 0;
		need |= strcmp(cells->v[i].probes, "on") == 0;
	}
	r->fds0 = vtb_probes_open_fds();
	bool can = want && vtb_probes_open(&r->probes, probe_meta.why, sizeof(probe_meta.why)) == 0;
	if (need && !can) {
		fprintf(stderr, "vtbench: probes=on, but they cannot run: %s\n", probe_meta.why);
		return 2;
	}
	if (can) {
		probe_meta.why[0] = 0;
		probe_meta.syscall_hooks = vtb_probes_syscall_hooks(r->probes);
	} else if (!want)
		snprintf(probe_meta.why, sizeof(probe_meta.why), "probes=off in every cell");
	size_t non = 0;
	for (size_t i = 0; i < cells->n; i++)
		non += cells->v[i].probes_on = can && strcmp(cells->v[i].probes, "off");
	probe_meta.state = non == cells->n ? "on" : non ? "mixed" : "off";
	if (want && !can)
		fprintf(stderr, "vtbench: probes off: %s\n", probe_meta.why);
	struct vtb_perfctr pc;
	vtb_perfctr_open(&pc, &probe_meta.pmu);
	vtb_perfctr_close(&pc);
	/* Descriptors the run holds once probes are attached: a cell that
	 * leaves more behind leaks. */
	r->fds_run = vtb_probes_open_fds();
	return 0;
}

/* The run's id and directory, created and locked; 0, 2 or 3. */
static int run_dir(struct run *r)
{
	time_t now = time(NULL);
	strftime(r->run_id, sizeof(r->run_id), "%Y%m%d-%H%M%S", gmtime(&now));
	snprintf(r->run_id + strlen(r->run_id), sizeof(r->run_id) - strlen(r->run_id), "-%d", (int)getpid());
	if (r->resume)
		snprintf(r->run_id, sizeof(r->run_id), "%s", r->resume_id);
	snprintf(r->dir, sizeof(r->dir), "%s", r->out ? r->out : "results");
	if (!r->out)
		snprintf(r->dir + strlen(r->dir), sizeof(r->dir) - strlen(r->dir), "/%s", r->run_id);
	int lock_code;
	struct stat dst;
	if ((r->out && !r->out[0]) || (!stat(r->dir, &dst) && !S_ISDIR(dst.st_mode))) {
		fprintf(stderr, r->out && !r->out[0] ? "vtbench: --out needs a directory\n" : "vtbench: --out %s: not a directory\n",
			r->dir);
		return 2;
	}
	if (mkdir_p(r->dir)) {
		fprintf(stderr, "vtbench: cannot create %s: %s\n", r->dir, strerror(errno));
		return errno == ENOTDIR || errno == EEXIST ? 2 : 3;
	}
	if (lock_run_dir(r->dir, &lock_code))
		return lock_code;
	vtb_host_probe(&r->host);
	utc_now(r->started, sizeof(r->started));
	return 0;
}

/* results.jsonl, appended to: a new run needs an empty directory, a
 * resumed one learns what it holds; 0, 2 or 3. */
static int run_open_rows(struct run *r)
{
	char path[4200], meta_path[4200], err[512];
	struct stat stt;
	snprintf(path, sizeof(path), "%s/results.jsonl", r->dir);
	if (r->resume && vtb_resume_scan(r->dir, &r->cells, &r->rs, err, sizeof(err))) {
		fprintf(stderr, "vtbench: %s\n", err);
		return 2;
	}
	if (r->resume)
		fprintf(stderr, "vtbench: resuming %s: %zu rows already there%s\n", r->dir, r->rs.rows,
			r->rs.truncated ? " (a partial last line was cut off)" : "");
	resume_meta.on = r->resume != NULL;
	resume_meta.rows = r->rs.rows;
	resume_meta.truncated = r->rs.truncated;
	if (r->resume && vtb_resume_orig(r->dir, &resume_meta.orig, err, sizeof(err))) {
		fprintf(stderr, "vtbench: %s\n", err);
		return 2;
	}
	snprintf(meta_path, sizeof(meta_path), "%s/meta.json", r->dir);
	if (!r->resume && ((!stat(path, &stt) && stt.st_size > 0) || !stat(meta_path, &stt))) {
		fprintf(stderr, "vtbench: %s already holds a run (results.jsonl or meta.json); choose another --out\n", r->dir);
		return 2;
	}
	r->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	r->rf = r->fd >= 0 ? fdopen(r->fd, "a") : NULL;
	if (!r->rf) {
		fprintf(stderr, "vtbench: cannot open %s: %s\n", path, strerror(errno));
		if (r->fd >= 0)
			close(r->fd);
		return 3;
	}
	return 0;
}

/* The machine's limits before the first cell, and the first meta.json; 0 or 3. */
static int run_start(struct run *r)
{
	char path[4200];
	r->cpa = r->cells.v[0].cpu_fe;
	r->cpb = r->cells.v[0].cpu_be;
	if (vtb_calibrate(&r->cal0, r->cpa, r->cpb))
		fprintf(stderr, "vtbench: calibration incomplete: %s\n", r->cal0.why);
	r->calr = r->cal0;
	snprintf(path, sizeof(path), "%s/meta.json", r->dir);
	int we = write_meta(path, r->run_id, &r->cells, &r->host, &r->cal0, NULL, NULL, 0, r->started, NULL, 0, 0);
	if (we) {
		fprintf(stderr, "vtbench: cannot write %s: %s\n", path, strerror(-we));
		return 3;
	}
	return 0;
}

/* The cell runs inside a guest (platform=qemu), by its executor. */
static bool in_guest(const struct vtb_cellp *c)
{
	return vtb_platform_find(c->platform)->guest;
}

/* Peer cells this machine cannot run are skipped, each said once; how
 * many repetitions that drops. */
static size_t run_skips(struct run *r)
{
	size_t skipped = 0;
	for (size_t i = 0; i < r->cells.n; i++) {
		const struct vtb_cellp *c = &r->cells.v[i];
		const struct vtb_peer_ops *peer = vtb_peer_find(c->transport);
		bool guest = in_guest(c);
		char *why = r->skip_why[i];
		if (guest && (vtb_qemu_check(c, why, sizeof(r->skip_why[i])) ||
			      vtb_qemu_available(c, why, sizeof(r->skip_why[i])))) {
			char name[160];
			vtb_cell_name(c, name, sizeof(name));
			fprintf(stderr, "vtbench: skipping %s: %s\n", name, why);
			skipped += c->reps;
		} else if (guest)
			why[0] = 0;
		else if (peer && peer->available(r->skip_why[i], sizeof(r->skip_why[i])) == 0)
			r->skip_why[i][0] = 0;
		else if (peer) {
			char name[160];
			vtb_cell_name(&r->cells.v[i], name, sizeof(name));
			fprintf(stderr, "vtbench: skipping %s: %s\n", name, r->skip_why[i]);
			skipped += r->cells.v[i].reps;
		}
	}
	skip_meta.why = r->skip_why;
	skip_meta.cells = &r->cells;
	return skipped;
}

/* Each cell's reference for the model is the same workload over shm, run
 * first in every repetition so its figures are at hand; the last one is
 * kept per placement, since the placement can flip between the reference
 * and the cell.  0 or 3. */
static int run_plan(struct run *r)
{
	size_t n = r->cells.n;
	r->order = calloc(n, sizeof(*r->order));
	r->ref = calloc(n, sizeof(*r->ref));
	r->last = calloc(n * 2, sizeof(*r->last));
	r->last_rep = calloc(n * 2, sizeof(*r->last_rep));
	r->skip_why = calloc(n, sizeof(*r->skip_why));
	if (!r->order || !r->ref || !r->last || !r->last_rep || !r->skip_why)
		goto nomem;
	vtb_cells_order(&r->cells, r->order, r->ref);
	size_t skipped = run_skips(r);
	r->failed = r->rs.failed;
	for (size_t i = 0; i < n; i++) {
		const struct vtb_cellp *c = &r->cells.v[i];
		r->total += c->reps;
		unsigned most = c->max_reps > c->reps ? c->max_reps : c->reps;
		if (most > r->maxreps)
			r->maxreps = most;
		if (c->budget > r->budget)
			r->budget = c->budget;
	}
	r->total -= skipped;
	/* Adaptive cells: each repetition's log figure (paired ratio to shm,
	 * else ops/s) per placement, judged before each further repetition. */
	unsigned mr = r->maxreps ? r->maxreps : 1;
	r->logs = calloc(n * 2 * mr, sizeof(*r->logs));
	r->nlogs = calloc(n * 3, sizeof(*r->nlogs));
	r->run_now = calloc(n, sizeof(*r->run_now));
	r->calreps = calloc(mr, sizeof(*r->calreps));
	if (!r->logs || !r->nlogs || !r->run_now || !r->calreps)
		goto nomem;
	return 0;
nomem:
	fprintf(stderr, "vtbench: out of memory\n");
	return 3;
}

static bool over_budget(const struct run *r)
{
	return r->budget > 0 && (double)(vtb_now_ns() - r->t0) / 1e9 > r->budget;
}

/* Which cells run repetition rep: all up to their minimum, past it only
 * while the interval is wider than asked and the run within budget.
 * false: none. */
static bool run_choose(struct run *r, unsigned rep)
{
	bool any = false, over = over_budget(r);
	for (size_t i = 0; i < r->cells.n; i++) {
		const struct vtb_cellp *c = &r->cells.v[i];
		const double *lg[2] = { &r->logs[(i * 2) * r->maxreps], &r->logs[(i * 2 + 1) * r->maxreps] };
		r->run_now[i] = rep < c->reps ||
				(!over && rep < c->max_reps &&
				 vtb_adapt_more_placed(lg, &r->nlogs[i * 3], r->nlogs[i * 3 + 2], c->reps, c->max_reps,
						       c->ci_pct));
		if (r->run_now[i] && rep >= c->reps)
			r->total++;
		any = any || r->run_now[i];
	}
	return any;
}

static struct vtb_model_cell model_cell(const struct vtb_cellp *c, const struct vtb_cell_result *res)
{
	struct vtb_model_cell mc = { .ops = res->ops, .seconds = res->seconds, .qd = c->qd,
				     .poll = !strcmp(c->notify, "poll") };
	memcpy(mc.d, res->d, sizeof(mc.d));
	memcpy(mc.cpu_s, res->cpu_s, sizeof(mc.cpu_s));
	return mc;
}

/* One repetition of cell i: alone, paired with its shm reference (pr),
 * or by its peer; -1 if the harness could not set it up. */
static int run_cell(struct run *r, size_t i, unsigned rep, bool paired, struct vtb_cell_result *res,
		    struct vtb_cell_result *pr)
{
	const struct vtb_cellp *c = &r->cells.v[i];
	const struct vtb_peer_ops *peer = vtb_peer_find(c->transport);
	struct vtb_probes *probes = c->probes_on ? r->probes : NULL;
	int ran;
	/* The placement can flip between any two cells: take it each time. */
	double pp = vtb_pingpong_ns(c->cpu_fe, c->cpu_be, VTB_PP_CELL, NULL);
	if (paired) {
		const struct vtb_cellp *two[2] = { &r->cells.v[r->ref[i]], c };
		struct vtb_cell_result *out2[2] = { pr, res };
		ran = vtb_cell_run_pair(two, probes, out2);
	} else {
		ran = in_guest(c) ? vtb_qemu_run(&r->cells, i, rep, res)
		      : peer	  ? peer->run(c, res)
				  : vtb_cell_run(c, probes, res);
	}
	if (ran)
		return -1;
	if (res->error[0]) {
		char name[160];
		vtb_cell_name(c, name, sizeof(name));
		r->failed++;
		fprintf(stderr, "%svtbench: %s rep %u: %s\n", r->tty ? "\r\033[K" : "", name, rep, res->error);
	}
	res->pingpong_ns = pp;
	/* And after: a flip during the cell shows as a change. */
	res->pingpong_after_ns = vtb_pingpong_ns(c->cpu_fe, c->cpu_be, VTB_PP_CELL, NULL);
	if (paired) {
		if (pr->error[0])
			fprintf(stderr, "%svtbench: %s rep %u: its paired shm reference failed: %s\n",
				r->tty ? "\r\033[K" : "", c->transport, rep, pr->error);
		pr->pingpong_ns = pp;
		pr->pingpong_after_ns = res->pingpong_after_ns;
	}
	return 0;
}

/* A cell that leaves bpf/perf descriptors behind leaks: said once per new high. */
static void run_check_fds(struct run *r)
{
	int fds = vtb_probes_open_fds();
	if (fds - r->fds_run > probe_meta.leaked_fds) {
		probe_meta.leaked_fds = fds - r->fds_run;
		fprintf(stderr, "%svtbench: %d bpf/perf descriptors left open after a cell\n", r->tty ? "\r\033[K" : "",
			fds - r->fds_run);
	}
}

/* The model's reference for cell i's repetition: measured in the same
 * window when paired, else the last one in this placement (or this
 * repetition's in the other).  NULL: none; refname says which. */
static const struct vtb_model_cell *run_reference(struct run *r, size_t i, unsigned rep, bool paired,
						 const struct vtb_cell_result *pr, struct vtb_model_cell *pmc,
						 size_t pl, char *refname, size_t n)
{
	const struct vtb_cellp *c = &r->cells.v[i];
	char nm[128];
	refname[0] = 0;
	if (paired) {
		if (pr->error[0] || !pr->ops)
			return NULL;
		*pmc = model_cell(c, pr);
		vtb_cell_name(&r->cells.v[r->ref[i]], nm, sizeof(nm));
		snprintf(refname, n, "%s rep %u paired", nm, rep);
		return pmc;
	}
	if (r->ref[i] == i)
		return NULL;
	int s = vtb_model_pick_ref(&r->last_rep[r->ref[i] * 2], (unsigned)pl, rep + 1);
	if (s < 0)
		return NULL;
	size_t k = r->ref[i] * 2 + (size_t)s;
	vtb_cell_name(&r->cells.v[r->ref[i]], nm, sizeof(nm));
	snprintf(refname, n, "%s rep %u %s", nm, r->last_rep[k] - 1, k % 2 ? "far" : "near");
	return &r->last[k];
}

/* The adaptive rule judges each placement on its own, from the
 * repetitions that stayed in it (the ratio to shm moves with the
 * placement). */
static void run_adapt_log(struct run *r, size_t i, size_t pl, bool paired, const struct vtb_cell_result *res,
			  const struct vtb_cell_result *pr)
{
	r->nlogs[i * 3 + 2]++;
	bool stayed = res->pingpong_after_ns > 0 &&
		      !strcmp(vtb_placement_tag(res->pingpong_ns), vtb_placement_tag(res->pingpong_after_ns));
	unsigned *nk = &r->nlogs[i * 3 + pl];
	if (res->error[0] || !res->ops || res->seconds <= 0 || !stayed || *nk >= r->maxreps)
		return;
	double x = (double)res->ops / res->seconds;
	if (paired)
		x = !pr->error[0] && pr->ops && pr->seconds > 0 ? x / ((double)pr->ops / pr->seconds) : 0;
	if (x > 0)
		r->logs[(i * 2 + pl) * r->maxreps + (*nk)++] = log(x);
}

/* Cell i, repetition rep: run, priced, written (whole lines reach the
 * disk as each cell completes), logged for the adaptive rule; 0 or 3. */
static int run_rep(struct run *r, size_t i, unsigned rep)
{
	const struct vtb_cellp *c = &r->cells.v[i];
	const struct vtb_peer_ops *peer = vtb_peer_find(c->transport);
	bool guest = in_guest(c);
	if ((r->rs.done && r->rs.done[i * r->rs.maxreps + rep]) || ((peer || guest) && r->skip_why[i][0]))
		return 0;	/* written before the run was interrupted, or skipped */
	struct vtb_cell_result res, pr;
	/* Paired: the shm reference takes turns with the cell in the same
	 * window; its figures go into this cell's row. */
	bool paired = !peer && !guest && c->pair && r->ref[i] != i;
	if (run_cell(r, i, rep, paired, &res, &pr)) {
		fprintf(stderr, "\nvtbench: cannot set up a cell: %s\n", strerror(errno));
		return 3;
	}
	run_check_fds(r);
	struct vtb_model_cell mc = model_cell(c, &res), pmc;
	size_t pl = strcmp(vtb_placement_tag(res.pingpong_ns), "far") == 0;
	char refname[160];
	const struct vtb_model_cell *rc = run_reference(r, i, rep, paired, &pr, &pmc, pl, refname, sizeof(refname));
	struct vtb_model_out mo;
	vtb_model_predict(&r->calr, &mc, rc, &mo);
	if (!res.error[0] && res.ops) {
		r->last[i * 2 + pl] = mc;
		r->last_rep[i * 2 + pl] = rep + 1;
	}
	vtb_write_row(r->rf, r->run_id, VTB_GIT_REV, &r->host, c, rep, &res, r->calr.ok && !peer && !guest ? &mo : NULL, refname,
		      paired ? &pr : NULL, paired ? (unsigned)r->ref[i] : 0);
	run_adapt_log(r, i, pl, paired, &res, &pr);
	/* A row that cannot reach the disk stops the run, resumable from the
	 * last whole one. */
	if (ferror(r->rf) || fflush(r->rf) || fdatasync(r->fd)) {
		int e = errno ? errno : EIO;
		fprintf(stderr, "%svtbench: cannot write %s/results.jsonl: %s; the run stops here "
			"(meta.json is the last good one; ./vtbench run --resume %s finishes it)\n",
			r->tty ? "\r\033[K" : "", r->dir, strerror(e), r->dir);
		return 3;
	}
	return 0;
}

/* platform=qemu with boot_runs=N: per configuration, N whole boots timed
 * by hyperfine, one device=boot row each, after the cells.  0 or 3. */
static int run_boots(struct run *r)
{
	for (size_t i = 0; i < r->cells.n; i++) {
		const struct vtb_cellp *c = &r->cells.v[i];
		bool first = in_guest(c) && c->boot_runs && !r->skip_why[i][0];
		for (size_t j = 0; first && j < i; j++) {
			const struct vtb_cellp *o = &r->cells.v[j];
			first = !(in_guest(o) && o->boot_runs && !r->skip_why[j][0] && !strcmp(o->arch, c->arch) &&
				  !strcmp(o->transport, c->transport) && !strcmp(o->variant, c->variant));
		}
		if (!first)
			continue;
		struct vtb_cellp bc = *c;
		snprintf(bc.device, sizeof(bc.device), "boot");
		bc.pattern[0] = bc.mode[0] = bc.mix[0] = 0;
		bc.size = 0;
		bc.qd = 1;
		bc.verify = false;
		bc.index = (unsigned)(r->cells.n + i);	/* beyond the matrix: --resume passes over it */
		struct vtb_cell_result res;
		double pp = vtb_pingpong_ns(c->cpu_fe, c->cpu_be, VTB_PP_CELL, NULL);
		if (vtb_qemu_boot_time(&bc, c->boot_runs, &res)) {
			fprintf(stderr, "\nvtbench: cannot time the %s/%s boot: %s\n", c->transport, c->variant,
				strerror(errno));
			return 3;
		}
		res.pingpong_ns = pp;
		res.pingpong_after_ns = vtb_pingpong_ns(c->cpu_fe, c->cpu_be, VTB_PP_CELL, NULL);
		r->total++;
		if (res.error[0]) {
			r->failed++;
			fprintf(stderr, "vtbench: boot %s/%s: %s\n", c->transport, c->variant, res.error);
		}
		vtb_write_row(r->rf, r->run_id, VTB_GIT_REV, &r->host, &bc, 0, &res, NULL, "", NULL, 0);
		if (ferror(r->rf) || fflush(r->rf) || fdatasync(r->fd)) {
			fprintf(stderr, "vtbench: cannot write %s/results.jsonl: %s\n", r->dir, strerror(errno ? errno : EIO));
			return 3;
		}
	}
	return 0;
}

/* Repetition-major: each cell's repetitions are spread over the run, so a
 * drift of the machine does not land on one cell; the model prices each
 * repetition with a calibration taken just before it.  0 or 3. */
static int run_reps(struct run *r)
{
	r->tty = isatty(2);
	r->t0 = vtb_now_ns();
	for (unsigned rep = 0; rep < r->maxreps; rep++) {
		if (!run_choose(r, rep))
			break;
		if (rep > 0 && vtb_calibrate(&r->calr, r->cpa, r->cpb))
			r->calr = r->cal0;
		r->calreps[rep] = r->calr;
		r->reps_run = rep + 1;
		for (size_t oi = 0; oi < r->cells.n; oi++) {
			size_t i = r->order[oi];
			const struct vtb_cellp *c = &r->cells.v[i];
			if (!r->run_now[i])
				continue;
			if (rep >= c->reps && over_budget(r)) {
				r->total--;
				continue;	/* out of budget: no extra repetition starts */
			}
			if (r->tty)
				progress(r->done, r->total, rep, c->reps, c, (double)(vtb_now_ns() - r->t0) / 1e9);
			if (run_rep(r, i, rep))
				return 3;
			r->done++;
		}
	}
	if (r->tty)
		fprintf(stderr, "\r\033[K");
	return 0;
}

/* The rows closed, the probes detached, the last meta.json and the
 * summary line; 0, 1 (some cell failed) or 3. */
static int run_finish(struct run *r)
{
	char path[4200], ended[32], moved[256];
	int ce = close_synced(r->rf);
	r->rf = NULL;
	vtb_probes_close(r->probes);
	r->probes = NULL;
	if (ce) {
		fprintf(stderr, "vtbench: cannot write %s/results.jsonl: %s\n", r->dir, strerror(-ce));
		return 3;
	}
	/* After the run, this process holds no more than before it. */
	int fds_end = vtb_probes_open_fds();
	if (fds_end - r->fds0 > probe_meta.leaked_fds)
		probe_meta.leaked_fds = fds_end - r->fds0;
	utc_now(ended, sizeof(ended));
	vtb_calibrate(&r->cal1, r->cpa, r->cpb);
	snprintf(path, sizeof(path), "%s/meta.json", r->dir);
	int we = write_meta(path, r->run_id, &r->cells, &r->host, &r->cal0, &r->cal1, r->calreps, r->reps_run, r->started,
			    ended, r->failed, r->total);
	if (we) {
		fprintf(stderr, "vtbench: cannot write %s: %s (the rows are all there; the last good meta.json "
			"is the run's start)\n", path, strerror(-we));
		return 3;
	}
	if (vtb_calib_moved(&r->cal0, &r->cal1, moved, sizeof(moved)))
		fprintf(stderr, "vtbench: the machine's limits moved during the run: %s\n", moved);
	fprintf(stderr, "vtbench: %zu rows (%zu failed) in %s; placement %s (ping-pong %.0f ns -> %.0f ns)\n", r->total,
		r->failed, r->dir, vtb_placement_tag(r->cal0.pingpong_ns.v), r->cal0.pingpong_ns.v, r->cal1.pingpong_ns.v);
	printf("%s\n", r->dir);
	return r->failed ? 1 : 0;
}

static void run_free(struct run *r)
{
	vtb_qemu_close();
	if (r->rf)
		fclose(r->rf);
	vtb_probes_close(r->probes);
	skip_meta.why = NULL;
	free(r->calreps);
	free(r->order);
	free(r->ref);
	free(r->skip_why);
	free(r->rs.done);
	free(r->last);
	free(r->last_rep);
	free(r->logs);
	free(r->nlogs);
	free(r->run_now);
	if (r->have_cells)
		vtb_cells_free(&r->cells);
}

static int cmd_run(int argc, char **argv)
{
	struct run r = { .fd = -1 };
	int rc;
	/* As many suites and keys as were given: no fixed limit drops input. */
	r.files = calloc((size_t)argc + 1, sizeof(*r.files));
	r.kv = calloc((size_t)argc + 1, sizeof(*r.kv));
	if (!r.files || !r.kv) {
		fprintf(stderr, "vtbench: out of memory\n");
		rc = 3;
	} else if (!(rc = run_parse(&r, argc, argv)) && !(rc = run_build(&r)) && !(rc = run_probes(&r)) &&
		   !(rc = run_dir(&r)) && !(rc = run_open_rows(&r)) && !(rc = run_start(&r)) && !(rc = run_plan(&r)) &&
		   !(rc = run_reps(&r)) && !(rc = run_boots(&r))) {
		rc = run_finish(&r);
	}
	run_free(&r);
	free(r.files);
	free(r.kv);
	return rc;
}

static int cpu_number(const char *s, const char *end, long ncpu)
{
	long v = 0;
	if (s == end || end - s > 6)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v < ncpu ? (int)v : -1;
}

/* vtbench calibrate [cpus=A,B] [--json]: the machine's fingerprint. */
static int cmd_calibrate(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int a = ncpu >= 2 ? 0 : -1, b = ncpu >= 2 ? 1 : -1;
	bool json = false;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (strncmp(argv[i], "cpus=", 5) || !strchr(argv[i], ',') ||
			 (a = cpu_number(argv[i] + 5, strchr(argv[i], ','), ncpu)) < 0 ||
			 (b = cpu_number(strchr(argv[i], ',') + 1, argv[i] + strlen(argv[i]), ncpu)) < 0 || a == b) {
			fprintf(stderr, "vtbench: calibrate takes cpus=A,B (two different online CPUs) and --json, not '%s'\n", argv[i]);
			return 2;
		}
	}
	struct vtb_calib c;
	int e = vtb_calibrate(&c, a, b);
	if (json) {
		vtb_calib_json(stdout, &c);
		putchar('\n');
	} else {
		static const char *const sz[VTB_CAL_NSIZES] = { "4 KiB", "64 KiB", "1 MiB" };
		printf("calibration on CPUs %d and %d (%.0f ms); placement %s\n", a, b, c.took_ms, c.placement);
		for (int i = 0; i < VTB_CAL_NSIZES; i++)
			printf("  memcpy %-6s            %9.2f GB/s   +-%.1f%%\n", sz[i], c.memcpy_gbps[i].v, c.memcpy_gbps[i].spread_pct);
		printf("  hypervisor copy, per call  %9.0f ns     +-%.1f%%  (process_vm_writev, 64 B)\n", c.hv_call_ns.v, c.hv_call_ns.spread_pct);
		printf("  hypervisor copy, per piece %9.0f ns     +-%.1f%%  (each further iovec of one call)\n", c.hv_seg_ns.v, c.hv_seg_ns.spread_pct);
		printf("  hypervisor copy bandwidth  %9.2f GB/s   +-%.1f%%  (1 MiB per call)\n", c.hv_gbps.v, c.hv_gbps.spread_pct);
		printf("  cache-line ping-pong       %9.0f ns     +-%.1f%%  (round trip)\n", c.pingpong_ns.v, c.pingpong_ns.spread_pct);
		printf("  doorbell round trip eventfd%9.0f ns     +-%.1f%%\n", c.eventfd_rtt_ns.v, c.eventfd_rtt_ns.spread_pct);
		printf("  doorbell round trip futex  %9.0f ns     +-%.1f%%\n", c.futex_rtt_ns.v, c.futex_rtt_ns.spread_pct);
		printf("  null system call           %9.0f ns     +-%.1f%%\n", c.syscall_ns.v, c.syscall_ns.spread_pct);
		printf("  map+touch+unmap, 1 page    %9.0f ns     +-%.1f%%\n", c.map_ns.v, c.map_ns.spread_pct);
		printf("  map+touch+unmap, 16 pages  %9.0f ns/pg  +-%.1f%%\n", c.map_batch_ns.v, c.map_batch_ns.spread_pct);
		printf("  TLB shootdown (extra)      %9.0f ns     +-%.1f%%\n", c.shootdown_ns.v, c.shootdown_ns.spread_pct);
		/* Copies with one side on the other CPU (cost model, harness/model.md). */
		static const char *const xs[VTB_XC_NSIZES] = { "64 B", "4 KiB", "64 KiB" };
		for (int i = 0; i < VTB_XC_NSIZES; i++)
			printf("  copy of other CPU's %-6s %9.0f ns     +-%.1f%%  (its rewrite after: +%.0f ns)\n", xs[i],
			       c.xcopy_ns[i].v, c.xcopy_ns[i].spread_pct, c.reclaim_ns[i].v);
		printf("  hypervisor copy into reader%9.0f ns     +-%.1f%%  (4 KiB into pages the peer read; 64 B: %.0f ns)\n",
		       c.hv_x4k_ns.v, c.hv_x4k_ns.spread_pct, c.hv_x64_ns.v);
		if (e)
			printf("incomplete: %s\n", c.why);
	}
	return e ? 3 : 0;
}

/* report, compare and trend are Python (pandas, gnuplot): found beside
 * the binary (./vtbench at the top of the checkout, or build/.../vtbench),
 * run with Debian's python3, which has the packages ci/install-deps.sh
 * installs, whatever python3 comes first on PATH. */
static int cmd_analysis(int argc, char **argv)
{
	char exe[4096], script[4200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		perror("vtbench: /proc/self/exe");
		return 3;
	}
	exe[n] = 0;
	const char *env = getenv("VTB_ANALYSIS");
	int found = 0;
	if (env) {
		snprintf(script, sizeof(script), "%s/cli.py", env);
		found = !access(script, R_OK);
	}
	for (int up = 0; !found && up < 4; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			break;
		*slash = 0;
		snprintf(script, sizeof(script), "%s/analysis/cli.py", exe);
		found = !access(script, R_OK);
	}
	if (!found) {
		fprintf(stderr, "vtbench: analysis/cli.py not found beside the binary (set VTB_ANALYSIS=DIR)\n");
		return 3;
	}
	const char *py = access("/usr/bin/python3", X_OK) ? "python3" : "/usr/bin/python3";
	char **av = calloc((size_t)argc + 3, sizeof(*av));
	if (!av)
		return 3;
	av[0] = (char *)py;
	av[1] = script;
	for (int i = 0; i < argc; i++)
		av[i + 2] = argv[i];
	execvp(py, av);
	fprintf(stderr, "vtbench: cannot run %s: %s\n", py, strerror(errno));
	free(av);
	return 3;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "list"))
		return cmd_list(argc - 2, argv + 2);
	if (!strcmp(argv[1], "calibrate"))
		return cmd_calibrate(argc - 2, argv + 2);
	if (!strcmp(argv[1], "serve"))
		return vtb_cmd_serve(argc - 2, argv + 2);
	if (!strcmp(argv[1], "report") || !strcmp(argv[1], "compare") || !strcmp(argv[1], "trend") ||
	    !strcmp(argv[1], "export") || !strcmp(argv[1], "lava"))
		return cmd_analysis(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version")) {
		printf("vtbench %s\n", VTB_GIT_REV);
		return 0;
	}
	fprintf(stderr, "vtbench: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
