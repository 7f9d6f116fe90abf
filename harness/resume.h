/* vtbench run --resume DIR: finish an interrupted run without redoing the
 * repetitions it completed.  The run's own meta.json holds the suite text
 * as given and results.jsonl the rows already written, each naming its
 * cell's index in the matrix and its repetition. */
#ifndef VTB_RESUME_H
#define VTB_RESUME_H

#include <stdbool.h>
#include <stddef.h>

#include "suite.h"

struct vtb_resume {
	char run_id[64];
	bool *done;		/* [cell index * maxreps + rep] */
	unsigned maxreps;
	size_t rows;		/* whole rows found */
	size_t failed;		/* of which with an error */
	bool truncated;		/* a partial last line was cut off */
};

/* Rebuilds the cells of the run in dir from its meta.json.  -1 with err. */
int vtb_resume_cells(const char *dir, struct vtb_cells *cells, char *run_id, size_t idn, char *err, size_t n);
/* Reads dir/results.jsonl: which (cell, rep) are done; cuts a partial last
 * line so appended rows stay whole.  -1 with err. */
int vtb_resume_scan(const char *dir, const struct vtb_cells *cells, struct vtb_resume *r, char *err, size_t n);

#endif
