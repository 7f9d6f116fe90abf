/* The proc platform's own view of its domains: only code under
 * transports/proc/ (and tests that build proc domains by hand) include it. */
#ifndef VTB_PROC_H
#define VTB_PROC_H

#include <sys/types.h>

#include "../platform.h"

/* Where each domain maps its own RAM in its own process: the emulated
 * hypervisor's p2m is the identity plus this base. */
#define VTB_PROC_RAM_BASE 0x200000000000ull

/* vtb_dom.priv on proc. */
struct vtb_proc_dom {
	pid_t pid;		/* 0 until attached */
	int ram_fd;		/* guest RAM; a guest-physical address is an offset; -1: none */
};

static inline struct vtb_proc_dom *vtb_proc_dom(const struct vtb_dom *d)
{
	return (struct vtb_proc_dom *)d->priv;
}

extern const struct vtb_platform_ops vtb_platform_proc;

#endif
