#ifndef VTB_RESULTS_H
#define VTB_RESULTS_H

#include <stdio.h>

#include "cell.h"
#include "model.h"

#define VTB_SCHEMA_VERSION 1

struct vtb_host {
	char cpu[128];
	char kernel[200];
	long cores;
	char hostname[72];
};

void vtb_host_probe(struct vtb_host *h);
void vtb_json_str(FILE *f, const char *s);
/* One result row, one line, newline-terminated.  m: the cost model's
 * prediction and the cell's limit (NULL without a calibration); ref names
 * the reference cell the prediction is relative to ("" for none).  pair:
 * the shm reference measured in turns with this cell (cell index
 * pair_cell), NULL when the cell ran on its own. */
void vtb_write_row(FILE *f, const char *run_id, const char *git_rev, const struct vtb_host *h,
		   const struct vtb_cellp *cp, unsigned rep, const struct vtb_cell_result *r,
		   const struct vtb_model_out *m, const char *ref, const struct vtb_cell_result *pair, unsigned pair_cell);

#endif
