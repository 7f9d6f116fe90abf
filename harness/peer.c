/* The DPDK peer: testpmd's virtio-user PMD (the driver) against its vhost
 * PMD (the device) over a vhost-user socket, both busy-polling, no
 * hugepages, no PCI: DPDK's answer to what vtbench's net tx/rx over shm in
 * poll mode measures.  The receiving side's packet counter, read from its
 * once-a-second statistics, gives the rate. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calib.h"
#include "peer.h"
#include "runner.h"

#define TESTPMD "dpdk-testpmd"

static int dpdk_check(const struct vtb_cellp *c, char *why, size_t n)
{
	if (strcmp(c->device, "net") || (strcmp(c->mode, "tx") && strcmp(c->mode, "rx"))) {
		snprintf(why, n, "transport=dpdk runs device=net mode=tx or rx (testpmd txonly/rxonly)");
		return -1;
	}
	if (strcmp(c->notify, "poll")) {
		snprintf(why, n, "transport=dpdk runs only with notify=poll: testpmd busy-polls");
		return -1;
	}
	if (c->size < 64 || c->size > 1518) {
		snprintf(why, n, "transport=dpdk: size=%d, testpmd frames are 64..1518 bytes", c->size);
		return -1;
	}
	if (c->ops || c->duration < 2 || c->warmup < 1) {
		snprintf(why, n, "transport=dpdk measures by duration (>= 2s, warmup >= 1s): testpmd reports once a second");
		return -1;
	}
	return 0;
}

static int dpdk_available(char *why, size_t n)
{
	const char *path = getenv("PATH");
	char buf[4096];
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t l = strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/" TESTPMD, (int)l, p);
		if (!access(buf, X_OK))
			return 0;
		p += l + (p[l] == ':');
	}
	snprintf(why, n, TESTPMD " is not installed (Debian package dpdk-dev)");
	return -1;
}

struct testpmd {
	char *const *argv;
	int out;		/* its stdout: the write end of a pipe, or -1 */
};

/* A testpmd domain's main: it becomes testpmd. */
static int exec_testpmd(const void *arg)
{
	const struct testpmd *t = arg;
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(t->out >= 0 ? t->out : null, 1);
	dup2(null, 2);
	execvp(t->argv[0], t->argv);
	return 127;
}

/* Starts testpmd as a domain; its stdout (when out) comes back through a
 * pipe.  0 or -1. */
static int spawn_testpmd(struct vtb_rdom *d, char *const argv[], int *out)
{
	int p[2] = { -1, -1 };
	if (out && pipe(p))
		return -1;
	struct testpmd t = { argv, p[1] };
	int e = vtb_runner_fork.start(d, exec_testpmd, &t);
	if (out) {
		close(p[1]);
		*out = e ? (close(p[0]), -1) : p[0];
	}
	return e ? -1 : 0;
}

static double proc_cpu_s(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return vtb_stat_cpu_s(path, NULL, 0);
}

/* testpmd stops its ports and exits on SIGINT. */
static void stop(struct vtb_rdom *d)
{
	vtb_runner_fork.stop(d, 2000000000ull);
}

/* How long a pair may stay silent after its warmup before it is started
 * again: now and then virtio-user's connect races the vhost side's
 * listen and the pair never passes a packet. */
#define DPDK_STALL_S 5.0
#define DPDK_ATTEMPTS 3

/* One start of the pair; *stalled: no packet by warmup + DPDK_STALL_S. */
static int dpdk_attempt(const struct vtb_cellp *c, struct vtb_cell_result *r, bool *stalled)
{
	char sock[128], prefix_d[64], prefix_u[64], vdev_d[200], vdev_u[200], lc_d[32], lc_u[32], txpkts[32];
	char txd[32], rxd[32];
	int pid = (int)getpid();
	bool tx = !strcmp(c->mode, "tx");
	int cpu_fe = c->cpu_fe >= 0 ? c->cpu_fe : 0, cpu_be = c->cpu_be >= 0 ? c->cpu_be : 1;
	memset(r, 0, sizeof(*r));
	r->steal_s[0] = r->steal_s[1] = -1;	/* not read for a peer */
	vtb_hist_reset(&r->hist);
	vtb_hist_reset(&r->usdt_user);
	snprintf(sock, sizeof(sock), "/tmp/vtb-vhost-%d.sock", pid);
	unlink(sock);
	snprintf(prefix_d, sizeof(prefix_d), "--file-prefix=vtb-vh-%d", pid);
	snprintf(prefix_u, sizeof(prefix_u), "--file-prefix=vtb-vu-%d", pid);
	snprintf(vdev_d, sizeof(vdev_d), "net_vhost0,iface=%s,queues=1", sock);
	/* The same ring size as vtbench's queues (qsize): virtio-user keeps up
	 * to a whole ring in flight, freeing completions lazily. */
	snprintf(vdev_u, sizeof(vdev_u), "net_virtio_user0,path=%s,queues=1,queue_size=%u", sock, c->qsize);
	snprintf(txd, sizeof(txd), "--txd=%u", c->qsize);
	snprintf(rxd, sizeof(rxd), "--rxd=%u", c->qsize);
	/* Each side forwards on its domain's CPU; its main lcore, which only
	 * prints, sleeps on the other. */
	snprintf(lc_d, sizeof(lc_d), "0@%d,1@%d", cpu_fe, cpu_be);
	snprintf(lc_u, sizeof(lc_u), "0@%d,1@%d", cpu_be, cpu_fe);
	snprintf(txpkts, sizeof(txpkts), "--txpkts=%d", c->size);
	char *dev_argv[] = { TESTPMD, "--lcores", lc_d, "--no-huge", "--no-pci", "-m", "256", prefix_d, "--vdev", vdev_d,
			     "--", tx ? "--forward-mode=rxonly" : "--forward-mode=txonly", txpkts, "--stats-period=1",
			     "--nb-cores=1", "--total-num-mbufs=8192", txd, rxd, NULL };
	char *drv_argv[] = { TESTPMD, "--lcores", lc_u, "--no-huge", "--no-pci", "-m", "256", prefix_u, "--vdev", vdev_u,
			     "--", tx ? "--forward-mode=txonly" : "--forward-mode=rxonly", txpkts, "--stats-period=1",
			     "--nb-cores=1", "--total-num-mbufs=8192", txd, rxd, NULL };
	/* The receiver's statistics are read; the other side's are not. */
	int out = -1;
	struct vtb_rdom dev, drv = { 0 };
	if (spawn_testpmd(&dev, dev_argv, tx ? &out : NULL)) {
		snprintf(r->error, sizeof(r->error), "cannot start " TESTPMD ": %s", strerror(errno));
		return 0;
	}
	/* The vhost side creates the socket the driver connects to. */
	for (int i = 0; i < 500 && access(sock, F_OK); i++)
		usleep(10000);
	bool drv_up = !spawn_testpmd(&drv, drv_argv, tx ? NULL : &out);
	FILE *f = drv_up && out >= 0 ? fdopen(out, "r") : NULL;
	char line[512];
	uint64_t t_start = vtb_now_ns(), t0 = 0, t1 = 0, deadline = t_start + (uint64_t)(c->timeout * 1e9);
	unsigned long long n0 = 0, n1 = 0, n;
	double cpu0[2] = { 0, 0 };
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "RX-packets:");
		if (!p || strstr(line, "RX-total") || sscanf(p + 11, "%llu", &n) != 1)
			continue;
		uint64_t now = vtb_now_ns();
		if (now > deadline)
			break;
		if (!t0 && !n && now - t_start >= (uint64_t)((c->warmup + DPDK_STALL_S) * 1e9)) {
			*stalled = true;
			break;
		}
		if (!t0 && now - t_start >= (uint64_t)(c->warmup * 1e9) && n > 0) {
			t0 = now;
			n0 = n;
			cpu0[0] = proc_cpu_s(tx ? drv.host_pid : dev.host_pid);
			cpu0[1] = proc_cpu_s(tx ? dev.host_pid : drv.host_pid);
		} else if (t0 && now - t0 >= (uint64_t)(c->duration * 1e9)) {
			t1 = now;
			n1 = n;
			r->cpu_s[0] = proc_cpu_s(tx ? drv.host_pid : dev.host_pid) - cpu0[0];
			r->cpu_s[1] = proc_cpu_s(tx ? dev.host_pid : drv.host_pid) - cpu0[1];
			break;
		}
	}
	stop(&drv);
	stop(&dev);
	if (f)
		fclose(f);
	else if (out >= 0)
		close(out);
	unlink(sock);
	if (!t1) {
		snprintf(r->error, sizeof(r->error), TESTPMD " pair reported no traffic%s (vhost-user at %s)",
			 vtb_now_ns() > deadline ? " before the timeout" : "", sock);
		return 0;
	}
	r->ops = n1 - n0;
	r->bytes = r->ops * (uint64_t)c->size;
	r->seconds = (double)(t1 - t0) / 1e9;
	return 0;
}

static int dpdk_run(const struct vtb_cellp *c, struct vtb_cell_result *r)
{
	for (int k = 1;; k++) {
		bool stalled = false;
		int e = dpdk_attempt(c, r, &stalled);
		if (e || !stalled || k == DPDK_ATTEMPTS) {
			if (stalled)
				snprintf(r->error, sizeof(r->error), TESTPMD " pair passed no packet in %d starts of %.0f s each",
					 k, c->warmup + DPDK_STALL_S);
			return e;
		}
	}
}

static const char *const dpdk_variants[] = { "testpmd", NULL };
static const char *const dpdk_variant_desc[] = {
	"virtio-user (driver) and vhost (device) PMDs over vhost-user, txonly/rxonly, busy polling",
};

static const struct vtb_peer_ops vtb_peer_dpdk = {
	.name = "dpdk",
	.desc = "peer: DPDK testpmd virtio-user <-> vhost-user, for net tx/rx in poll mode (no hugepages, no PCI)",
	.variants = dpdk_variants,
	.variant_desc = dpdk_variant_desc,
	.check = dpdk_check,
	.available = dpdk_available,
	.run = dpdk_run,
};

const struct vtb_peer_ops *const vtb_peers[] = { &vtb_peer_dpdk, NULL };

const struct vtb_peer_ops *vtb_peer_find(const char *name)
{
	for (const struct vtb_peer_ops *const *p = vtb_peers; *p; p++)
		if (!strcmp((*p)->name, name))
			return *p;
	return NULL;
}
