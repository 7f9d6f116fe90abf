/* vtbench run --resume DIR: finish an interrupted run without redoing the
 * repetitions it completed.  The run's own meta.json holds the suite text
 * as given and results.jsonl the rows already written, each naming its
 * cell's index in the matrix and its repetition. */
#ifndef VTB_RESUME_H
#define VTB_RESUME_H

#include <stdbool.h>
#include <stddef.h>

#include "calib.h"
#include "suite.h"

/* What the run recorded when it started, kept whole through every resume. */
struct vtb_resume_orig {
	char started[32];
	struct vtb_calib cal0;	/* the run's start calibration and placement */
	char *reps_raw;		/* calibration.reps as first written, verbatim JSON */
	char *resumes_raw;	/* earlier resumes' entries, verbatim, comma-separated; NULL: none */
};
/* Reads them from dir/meta.json; -1 with err. */
int vtb_resume_orig(const char *dir, struct vtb_resume_orig *o, char *err, size_t n);
void vtb_resume_orig_free(struct vtb_resume_orig *o);

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
