/* Tests that build proc domains by hand, without a runner: the platform's
 * own lifecycle calls, and the proc-private fields (pid, memfd) a test sets
 * where a runner would have attached them. */
#ifndef VTB_TEST_PROCDOM_H
#define VTB_TEST_PROCDOM_H

#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>

#include "../proc/proc.h"

static inline int vtb_proc_dom_create(struct vtb_dom *d, int id, uint64_t ram_size)
{
	/* d may be uninitialised (a test's stack): create overwrites it whole. */
	return vtb_platform_proc.dom_create(d, id, ram_size);
}

static inline void vtb_proc_dom_destroy(struct vtb_dom *d)
{
	vtb_platform_proc.dom_destroy(d);
}

static inline int vtb_proc_doorbell_create(struct vtb_doorbell *db)
{
	return vtb_platform_proc.doorbell_create(db);
}

static inline void vtb_proc_doorbell_destroy(struct vtb_doorbell *db)
{
	vtb_platform_proc.doorbell_destroy(db);
}

static inline void *vtb_proc_dom_map_own(const struct vtb_dom *d)
{
	struct vtb_plat p = { &vtb_platform_proc, NULL, NULL };
	return vtb_platform_proc.map_own(&p, d);
}

/* The domain's process, as attach would learn it; a domain without RAM
 * gets its proc state here. */
static inline void vtb_proc_dom_set_pid(struct vtb_dom *d, pid_t pid)
{
	if (!d->priv && vtb_platform_proc.dom_create(d, d->id, 0))
		abort();
	vtb_proc_dom(d)->pid = pid;
}

/* Its RAM's memfd, or -1. */
static inline int vtb_proc_dom_ram_fd(const struct vtb_dom *d)
{
	return d->priv ? vtb_proc_dom(d)->ram_fd : -1;
}

#endif
