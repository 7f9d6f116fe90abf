/* Suites: fio-like files of [sections] with key=value lines, plus the same
 * keys on the command line.  A comma list expands into a matrix. */
#ifndef VTB_SUITE_H
#define VTB_SUITE_H

#include <stddef.h>

#include "../workloads/workload.h"

struct vtb_key {
	const char *name;
	const char *def;	/* default, "" = derived */
	const char *help;
	bool no_matrix;		/* commas belong to the value */
};
extern const struct vtb_key vtb_keys[];

struct vtb_cells {
	struct vtb_cellp *v;
	size_t n, cap;
	char *text;		/* the suite as given: files, then command-line keys */
	/* The same inputs kept apart, so a resume rebuilds exactly these cells
	 * without re-splitting text: each file's path and text, each argument. */
	char **paths, **texts;
	size_t nfiles;
	char **args;
	size_t nargs;
	/* Private: an open-addressing set over v (cell index + 1; 0 empty),
	 * so a matrix reached twice is found in O(1) per cell. */
	uint32_t *set;
	size_t set_cap;
};

/* Parses files and command-line KEY=VALUE words into cells.  On error
 * returns -1 with a message naming file:line or the argument. */
int vtb_suite_build(const char *const *files, size_t nfiles, const char *const *kv, size_t nkv,
		    struct vtb_cells *out, char *err, size_t errlen);
void vtb_cells_free(struct vtb_cells *c);
/* The order a repetition runs the cells in: shm cells first, otherwise as
 * given; and for each cell i, ref[i], the shm cell (split preferred) of the
 * same workload that the cost model measures it against, or i itself. */
void vtb_cells_order(const struct vtb_cells *c, size_t *order, size_t *ref);
/* Short text naming a cell, for progress lines and errors. */
void vtb_cell_name(const struct vtb_cellp *c, char *buf, size_t n);

#endif
