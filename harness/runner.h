/* A runner: where a cell's domains live and how the harness watches them.
 * The cell code starts each domain's main loop through it, learns how the
 * peer reaches it (a handle, published in the control page for the
 * platform's attach), and waits for the domains to end. */
#ifndef VTB_RUNNER_H
#define VTB_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

/* How a domain ended. */
struct vtb_dom_end {
	bool ended;
	bool signaled;		/* killed by signal `code`; else exited with status `code` */
	int code;
};

struct vtb_rdom {
	uint64_t handle;	/* how its peer reaches it (fork: the pid) */
	int host_pid;		/* the host process the probes watch; 0: none */
	bool running;
	struct vtb_dom_end end;
	void *priv;
};

struct vtb_runner_ops {
	const char *name;
	const char *desc;
	/* Starts main(arg) as a domain; 0 or -errno.  main's return value is
	 * the domain's exit status. */
	int (*start)(struct vtb_rdom *d, int (*main)(const void *arg), const void *arg);
	/* Reaps domains of d[0..n) that ended; if none had, sleeps wait_ns.
	 * How many were reaped (their end is filled, running cleared). */
	int (*reap)(struct vtb_rdom *d, unsigned n, uint64_t wait_ns);
	/* Ends a running domain at once and reaps it. */
	void (*kill)(struct vtb_rdom *d);
	/* Asks a running domain to end (fork: SIGINT), gives it grace_ns to,
	 * then ends it as kill does. */
	void (*stop)(struct vtb_rdom *d, uint64_t grace_ns);
};

extern const struct vtb_runner_ops vtb_runner_fork;

/* "killed by signal 9 (Killed)" / "exited with status 1". */
const char *vtb_dom_end_str(const struct vtb_dom_end *e, char *buf, unsigned n);

/* The CPU time (user + system, s) in a /proc/PID/stat or
 * /proc/PID/task/TID/stat file, 0 if it cannot be read; comm, if not NULL,
 * gets the name between the parentheses ("" if unread). */
double vtb_stat_cpu_s(const char *path, char *comm, unsigned n);

#endif
