/* The fork runner: each domain is a child process of the harness, bound
 * to it (killed if the harness dies); its handle is its pid. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calib.h"
#include "runner.h"

static int fork_start(struct vtb_rdom *d, int (*main)(const void *), const void *arg)
{
	memset(d, 0, sizeof(*d));
	pid_t pid = vtb_fork_bound();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(main(arg));
	d->handle = (uint64_t)pid;
	d->host_pid = pid;
	d->running = true;
	return 0;
}

static void fork_ended(struct vtb_rdom *d, int st)
{
	d->running = false;
	d->end.ended = true;
	d->end.signaled = WIFSIGNALED(st);
	d->end.code = WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st);
}

static int fork_reap(struct vtb_rdom *d, unsigned n, uint64_t wait_ns)
{
	int got = 0;
	for (unsigned i = 0; i < n; i++) {
		int st;
		if (d[i].running && waitpid((pid_t)d[i].handle, &st, WNOHANG) == (pid_t)d[i].handle) {
			fork_ended(&d[i], st);
			got++;
		}
	}
	if (!got && wait_ns) {
		struct timespec ts = { (time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u) };
		nanosleep(&ts, NULL);
	}
	return got;
}

static void fork_kill(struct vtb_rdom *d)
{
	int st;
	if (!d->running)
		return;
	kill((pid_t)d->handle, SIGKILL);
	while (waitpid((pid_t)d->handle, &st, 0) < 0 && errno == EINTR)
		;
	fork_ended(d, st);
}

static void fork_stop(struct vtb_rdom *d, uint64_t grace_ns)
{
	if (!d->running)
		return;
	kill((pid_t)d->handle, SIGINT);
	for (uint64_t waited = 0; waited < grace_ns && d->running; waited += 10000000)
		fork_reap(d, 1, 10000000);
	fork_kill(d);
}

const struct vtb_runner_ops vtb_runner_fork = {
	.name = "fork",
	.desc = "each domain a child process of the harness; handle: its pid",
	.start = fork_start,
	.reap = fork_reap,
	.kill = fork_kill,
	.stop = fork_stop,
};

const char *vtb_dom_end_str(const struct vtb_dom_end *e, char *buf, unsigned n)
{
	if (e->signaled)
		snprintf(buf, n, "killed by signal %d (%s)", e->code, strsignal(e->code));
	else
		snprintf(buf, n, "exited with status %d", e->code);
	return buf;
}

double vtb_stat_cpu_s(const char *path, char *comm, unsigned n)
{
	char buf[1024];
	if (comm && n)
		comm[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* After "pid (comm)": state and 10 fields, then utime and stime. */
	if (!open || !close || close < open ||
	    sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	if (comm && n)
		snprintf(comm, n, "%.*s", (int)(close - open - 1), open + 1);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
