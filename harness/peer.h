/* Peers: outside programs run in the same session as vtbench's cells and
 * written as ordinary result rows, so vtbench's own figures stand beside a
 * known implementation's on the same machine at the same time. */
#ifndef VTB_PEER_H
#define VTB_PEER_H

#include <stddef.h>

#include "cell.h"

struct vtb_peer_ops {
	const char *name;		/* as transport=NAME in a suite */
	const char *desc;
	const char *const *variants;
	const char *const *variant_desc;
	/* The cells it can run: 0, or -1 with why. */
	int (*check)(const struct vtb_cellp *c, char *why, size_t n);
	/* Whether this machine has it: 0, or -1 with why (the cell is skipped). */
	int (*available)(char *why, size_t n);
	/* Runs one repetition; like vtb_cell_run, a failure of the cell
	 * itself is in r->error. */
	int (*run)(const struct vtb_cellp *c, struct vtb_cell_result *r);
};

extern const struct vtb_peer_ops *const vtb_peers[];
const struct vtb_peer_ops *vtb_peer_find(const char *name);

#endif
