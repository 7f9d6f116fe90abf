/* Suite files and KEY=VALUE: matrix expansion, layering and every error
 * path a user can hit, with the file:line the message must name. */
#include <string.h>
#include <unistd.h>

#include "../../ci/vtb_test.h"
#include "../suite.h"

static char err[512];

static int build(const char *suite_text, const char *const *kv, size_t nkv, struct vtb_cells *c)
{
	const char *files[1] = { "/tmp/vtb-test.suite" };
	size_t nf = 0;
	if (suite_text) {
		FILE *f = fopen(files[0], "w");
		fputs(suite_text, f);
		fclose(f);
		nf = 1;
	}
	err[0] = 0;
	return vtb_suite_build(files, nf, kv, nkv, c, err, sizeof(err));
}

static void expect_error(const char *text, const char *const *kv, size_t nkv, const char *needle)
{
	struct vtb_cells c;
	int rc = build(text, kv, nkv, &c);
	vtb_checks++;
	if (rc == 0 || !strstr(err, needle)) {
		vtb_failed++;
		fprintf(stderr, "expected an error containing '%s', got rc=%d '%s'\n", needle, rc, err);
	}
	if (rc == 0)
		vtb_cells_free(&c);
}

int main(void)
{
	struct vtb_cells c;

	/* Command line only: the matrix from comma lists. */
	const char *kv1[] = { "device=blk", "qd=1,16,32", "notify=event,poll", "size=4k,64k" };
	CHECK_EQ(build(NULL, kv1, 4, &c), 0);
	CHECK_EQ(c.n, 12);
	CHECK_EQ(c.v[0].qd, 1);
	CHECK_EQ(c.v[0].size, 4096);
	CHECK_EQ(c.v[11].size, 65536);
	CHECK(!strcmp(c.v[0].variant, "split"));
	CHECK(!strcmp(c.v[0].pattern, "randread"));
	vtb_cells_free(&c);

	/* Keys that do not apply to a device collapse: no duplicate cells. */
	const char *kv2[] = { "device=net,scmi", "pattern=read,write", "mode=tx,rr" };
	CHECK_EQ(build(NULL, kv2, 3, &c), 0);
	CHECK_EQ(c.n, 3);	/* net tx, net rr, scmi */
	CHECK_EQ(c.v[0].size, 64);
	CHECK_EQ(c.v[2].size, 0);
	CHECK(!strcmp(c.v[2].mix, "sensor_read:70,clock_get:20,perf_set:10"));
	vtb_cells_free(&c);

	/* Sections inherit [global]; the command line overrides both; mix keeps commas. */
	const char *suite =
		"# a comment\n[global]\nreps=2\nduration=500ms\n\n"
		"[blk]\ndevice=blk\nqd=1,32\n"
		"[scmi]\ndevice=scmi\nmix=sensor_read:1,perf_get:2\nreps=5\n";
	const char *kv3[] = { "warmup=0" };
	CHECK_EQ(build(suite, kv3, 1, &c), 0);
	CHECK_EQ(c.n, 3);
	CHECK_EQ(c.v[0].reps, 2);
	CHECK(c.v[0].duration == 0.5);
	CHECK(c.v[0].warmup == 0);
	CHECK_EQ(c.v[2].reps, 5);
	CHECK(!strcmp(c.v[2].mix, "sensor_read:1,perf_get:2"));
	CHECK(strstr(c.text, "[scmi]") && strstr(c.text, "warmup=0"));
	vtb_cells_free(&c);

	const char *kv4[] = { "size=imix", "device=net", "cpus=none", "ops=10k", "qsize=64" };
	CHECK_EQ(build(NULL, kv4, 5, &c), 0);
	CHECK_EQ(c.v[0].size, -1);
	CHECK_EQ(c.v[0].cpu_fe, -1);
	CHECK_EQ(c.v[0].ops, 10240);
	CHECK_EQ(c.v[0].qsize, 64);
	vtb_cells_free(&c);

	/* Variants: all of them with *, or named with the transport. */
	const char *kv5[] = { "transport=shm,grant", "variant=*" };
	CHECK_EQ(build(NULL, kv5, 2, &c), 0);
	CHECK_EQ(c.n, 5);
	CHECK(!strcmp(c.v[0].variant, "split") && !strcmp(c.v[1].variant, "packed") &&
	      !strcmp(c.v[4].variant, "persistent"));
	vtb_cells_free(&c);
	/* variant=* with indirect tables: split and packed both carry them. */
	const char *kv7[] = { "transport=shm", "variant=*", "indirect=1" };
	CHECK_EQ(build(NULL, kv7, 3, &c), 0);
	CHECK_EQ(c.n, 2);
	vtb_cells_free(&c);
	const char *kv6[] = { "transport=grant/copy,swiotlb" };
	CHECK_EQ(build(NULL, kv6, 1, &c), 0);
	CHECK_EQ(c.n, 2);
	CHECK(!strcmp(c.v[0].transport, "grant") && !strcmp(c.v[0].variant, "copy"));
	CHECK(!strcmp(c.v[1].variant, "pool"));
	vtb_cells_free(&c);
	expect_error(NULL, (const char *[]){ "transport=grant/teleport" }, 1, "has no variant 'teleport'");
	/* A guest platform's own configurations: there only, and named there. */
	const char *kv9[] = { "platform=qemu", "arch=arm64", "transport=swiotlb/rdp" };
	CHECK_EQ(build(NULL, kv9, 3, &c), 0);
	CHECK(c.n == 1 && !strcmp(c.v[0].transport, "swiotlb") && !strcmp(c.v[0].variant, "rdp"));
	vtb_cells_free(&c);
	expect_error(NULL, (const char *[]){ "transport=swiotlb/rdp" }, 1, "has no variant 'rdp'; it has: pool");
	expect_error(NULL, (const char *[]){ "platform=qemu", "transport=swiotlb/x" }, 2,
		     "it has: pool rdp (platform=qemu)");
	expect_error(NULL, (const char *[]){ "platform=qemu", "transport=shm/rdp" }, 2, "it has: split packed");
	/* Packed rings carry indirect tables too (§2.8.7). */
	const char *kv8[] = { "transport=shm/packed", "indirect=1" };
	CHECK_EQ(build(NULL, kv8, 2, &c), 0);
	CHECK_EQ(c.n, 1);
	CHECK(c.n == 1 && c.v[0].indirect && !strcmp(c.v[0].variant, "packed"));
	vtb_cells_free(&c);

	/* Errors, each naming where. */
	expect_error("[a]\ndevice=blk\nbogus=1\n", NULL, 0, "vtb-test.suite:3: unknown key 'bogus'");
	expect_error("[a]\nqd=1,x\n", NULL, 0, "vtb-test.suite:2: qd=x");
	expect_error("[a\n", NULL, 0, "vtb-test.suite:1: malformed section header");
	expect_error("[a]\njust words\n", NULL, 0, "vtb-test.suite:2: expected key=value");
	expect_error("[a]\ndevice=gpu\n", NULL, 0, "unknown device 'gpu'");
	expect_error(NULL, (const char *[]){ "transport=carrier-pigeon" }, 1, "unknown transport");
	expect_error(NULL, (const char *[]){ "variant=quantum" }, 1, "has no variant 'quantum'");
	expect_error(NULL, (const char *[]){ "size=1000" }, 1, "multiple of 512");
	expect_error(NULL, (const char *[]){ "device=net", "size=20" }, 2, "net frames are");
	expect_error(NULL, (const char *[]){ "qd=512" }, 1, "larger than the queue");
	expect_error(NULL, (const char *[]){ "qsize=100" }, 1, "power of two");
	expect_error(NULL, (const char *[]){ "notify=sometimes" }, 1, "expected event or poll");
	expect_error(NULL, (const char *[]){ "device=scmi", "mix=fly:3" }, 2, "unknown op 'fly'");
	expect_error(NULL, (const char *[]){ "device=scmi", "mix=sensor_read:x" }, 2, "bad weight");
	expect_error(NULL, (const char *[]){ "ops=0", "duration=0" }, 2, "never end");
	expect_error(NULL, (const char *[]){ "nokey" }, 1, "expected KEY=VALUE");
	expect_error(NULL, (const char *[]){ "platform=xen" }, 1, "the platforms are: proc");
	expect_error(NULL, (const char *[]){ "cpus=0,99" }, 1, "cpus=0,99");
	expect_error(NULL, (const char *[]){ "duration=fast" }, 1, "expected a time");
	{
		const char *files[1] = { "/nonexistent/x.suite" };
		CHECK(vtb_suite_build(files, 1, NULL, 0, &c, err, sizeof(err)) != 0);
		CHECK(strstr(err, "/nonexistent/x.suite") != NULL);
	}
	unlink("/tmp/vtb-test.suite");
	/* Issue 15: an empty value or list element is an error, never fewer cells. */
	static const char *const empties[] = { "qd=", "variant=", "size=", "device=", "qd=,", "qd=1,,16", "notify=poll," };
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		const char *kv[] = { empties[i] };
		expect_error(NULL, kv, 1, "has an empty value");
	}
	expect_error("[a]\nvariant=\n", NULL, 0, "vtb-test.suite:2");
	/* Times are finite decimals; numbers are decimal; keys once each. */
	static const char *const badnum[] = { "duration=nan", "warmup=inf", "timeout=nan", "fq_timeout=nan",
		"duration=1e400", "duration=0x10", "duration=-1s", "qd=0x10", "qd=-1", "qd=+4" };
	for (size_t i = 0; i < sizeof(badnum) / sizeof(badnum[0]); i++) {
		const char *kv[] = { "device=blk", "transport=viommu", "variant=lazy", badnum[i] };
		expect_error(NULL, kv, 4, "expected");
	}
	const char *kv_oct[] = { "device=net", "size=0100" };
	CHECK_EQ(build(NULL, kv_oct, 2, &c), 0);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(c.n ? c.v[0].size : 0, 100);	/* a hundred, not octal 64 */
	vtb_cells_free(&c);
	const char *kv_twice[] = { "qd=1", "qd=4" };
	expect_error(NULL, kv_twice, 2, "given twice");
	/* cpus: two different CPUs that exist, no wrap-around, no trailing junk. */
	static const char *const badcpus[] = { "cpus=0,0", "cpus=4294967296,4294967297", "cpus=0,1junk", "cpus=-1,1",
		"cpus=0", "cpus=,1" };
	for (size_t i = 0; i < sizeof(badcpus) / sizeof(badcpus[0]); i++) {
		const char *kv[] = { badcpus[i] };
		expect_error(NULL, kv, 1, "cpus=");
	}

	/* A value list longer than any line buffer keeps every entry. */
	static char seeds[4096];
	size_t o = (size_t)snprintf(seeds, sizeof(seeds), "seed=1");
	for (int k = 2; k <= 600; k++)
		o += (size_t)snprintf(seeds + o, sizeof(seeds) - o, ",%d", k);
	const char *kv_long[] = { "device=net", seeds };
	CHECK(o > 2000);
	CHECK_EQ(build(NULL, kv_long, 2, &c), 0);
	CHECK_EQ(c.n, 600);
	CHECK_EQ(c.n == 600 ? c.v[599].seed : 0, 600);
	vtb_cells_free(&c);

	/* Impossible combinations are refused when the suite is built. */
	const char *kv_q2[] = { "device=blk", "qsize=2" };
	expect_error(NULL, kv_q2, 2, "3 descriptors");
	const char *kv_mem[] = { "device=blk", "qd=64", "size=1m", "mem=64m" };
	expect_error(NULL, kv_mem, 4, "FE RAM");
	const char *kv_host[] = { "device=blk", "mem=64g", "qsize=256" };
	expect_error(NULL, kv_host, 3, "available");
	const char *kv_fits[] = { "device=blk", "qd=32", "size=1m", "mem=64m" };
	CHECK_EQ(build(NULL, kv_fits, 4, &c), 0);
	vtb_cells_free(&c);
	char nm[160];
	const char *kv_nm[] = { "device=blk", "qsize=8", "indirect=1" };
	CHECK_EQ(build(NULL, kv_nm, 3, &c), 0);
	vtb_cell_name(&c.v[0], nm, sizeof(nm));
	CHECK(strstr(nm, "qsize=8") && strstr(nm, "indirect"));
	vtb_cells_free(&c);

	const char *kv_mix[] = { "device=blk", "mix=garbage:1" };
	expect_error(NULL, kv_mix, 2, "garbage");
	const char *kv_pat[] = { "device=net", "pattern=sideways" };
	expect_error(NULL, kv_pat, 2, "sideways");

	/* Issue 17: a transport's capabilities agree with its ops, and each
	 * option it declares is a suite key with a default and sane limits. */
	for (const struct vtb_transport_ops *const *t = vtb_transports; *t; t++) {
		const struct vtb_transport_ops *x = *t;
		CHECK(!(x->caps & VTB_CAP_REGION) == !x->region_bytes);
		CHECK(!(x->caps & VTB_CAP_BE_RAM) == !x->be_ram_bytes);
		CHECK(!(x->caps & VTB_CAP_MAX_BUFFER) == !x->max_buffer);
		CHECK(!(x->caps & VTB_CAP_MAX_REQUEST) == !x->max_request);
		CHECK((x->caps & (VTB_CAP_NOTIFY_EVENT | VTB_CAP_NOTIFY_POLL)) != 0);
		for (const struct vtb_xport_opt *o = x->opts; o && o->name; o++) {
			const struct vtb_key *k = vtb_keys;
			while (k->name && strcmp(k->name, o->name))
				k++;
			CHECK(k->name != NULL);
			CHECK(k->name && vtb_key_def(k) && !strcmp(vtb_key_def(k), o->def));
			CHECK(o->min <= o->max && o->desc && o->env_off + o->env_size <= sizeof(struct vtb_xenv));
			CHECK(o->env_size == 4 || o->env_size == 8);
			for (const char *const *v = o->variants; v && *v; v++)
				CHECK(vtb_transport_variant(x, *v) >= 0);
		}
	}
	for (const struct vtb_key *k = vtb_keys; k->name; k++) {
		char help[512];
		CHECK(vtb_key_def(k) != NULL);
		vtb_key_help(k, help, sizeof(help));
		CHECK(help[0] != 0);
	}
	/* Options land only in the cells of the transports (and variants) that
	 * own them: fq_size in viommu/lazy, ring in fatvq, neither in grant. */
	const char *kv_opt[] = { "transport=viommu,fatvq,grant", "variant=*", "fq_size=12", "fq_timeout=5ms", "ring=8k",
				 "size=2k" };
	CHECK_EQ(build(NULL, kv_opt, 6, &c), 0);
	CHECK_EQ(c.n, 7);
	for (size_t i = 0; i < c.n; i++) {
		bool lazy = !strcmp(c.v[i].transport, "viommu") && !strcmp(c.v[i].variant, "lazy");
		CHECK_EQ(c.v[i].fq_size, lazy ? 12u : 0u);
		CHECK(c.v[i].fq_timeout == (lazy ? 0.005 : 0));
		CHECK_EQ(c.v[i].ring_bytes, !strcmp(c.v[i].transport, "fatvq") ? 8192u : 0u);
		struct vtb_xenv env = { .fq_size = 1 };
		vtb_cell_xport_env(&c.v[i], vtb_transport_find(c.v[i].transport), &env);
		CHECK_EQ(env.fq_size, lazy ? 12u : 1u);
		CHECK_EQ(env.fq_timeout_ns, lazy ? 5000000u : 0u);
		CHECK_EQ(env.ring_bytes, !strcmp(c.v[i].transport, "fatvq") ? 8192u : 0u);
	}
	vtb_cells_free(&c);
	/* The limits come from the owner's table, checked whatever the transport. */
	expect_error(NULL, (const char *[]){ "ring=3k" }, 1, "ring=3k: a power of two from 4k to 64m");
	expect_error(NULL, (const char *[]){ "fq_size=0" }, 1, "fq_size=0: expected 1..65536");
	expect_error(NULL, (const char *[]){ "fq_timeout=11" }, 1, "fq_timeout=11: expected a time (10ms)");
	expect_error(NULL, (const char *[]){ "budget=1mm" }, 1, "budget=1mm: expected a time (600s, 10m) or 0");

	/* Issue 17: the platform is part of a cell's workload: a cell is never
	 * priced from (or paired with) a reference of another platform. */
	const char *kv_pl[] = { "transport=shm,grant" };
	CHECK_EQ(build(NULL, kv_pl, 1, &c), 0);
	CHECK_EQ(c.n, 2);
	if (c.n == 2) {
		size_t order[2], ref[2];
		vtb_cells_order(&c, order, ref);
		CHECK(ref[1] == 0 && ref[0] == 0);
		memcpy(c.v[0].platform, "xen", 4);	/* only the platform differs */
		vtb_cells_order(&c, order, ref);
		CHECK(ref[1] == 1);
		memcpy(c.v[1].platform, "xen", 4);
		vtb_cells_order(&c, order, ref);
		CHECK(ref[1] == 0);
	}
	vtb_cells_free(&c);

	return vtb_test_end("test_suite");
}
