/* Suites: fio-like files of [sections] with key=value lines, plus the same
 * keys on the command line.  A comma list expands into a matrix. */
#ifndef VTB_SUITE_H
#define VTB_SUITE_H

#include <stddef.h>
#include <stdio.h>

#include "../workloads/workload.h"

/* A suite key: {name, default, help, how a value is checked, where it
 * lands}.  The suite's parser, its defaults and `vtbench list` all read
 * this one table. */
enum {
	KEY_SUFFIX = 1u << 0,	/* k/m/g suffixes */
	KEY_POW2 = 1u << 1,	/* a power of two (or 0) */
	KEY_PAGES = 1u << 2,	/* whole 4 KiB pages */
};
struct vtb_key {
	const char *name;
	const char *def;	/* default, "" = derived; read through vtb_key_def */
	const char *help;	/* read through vtb_key_help */
	bool no_matrix;		/* commas belong to the value */
	/* Checks v and stores it in c; -1 with the reason in err. */
	int (*set)(const struct vtb_key *k, struct vtb_cellp *c, const char *v, char *err, size_t n);
	size_t off, len;	/* the field of struct vtb_cellp it lands in */
	const char *expect;	/* what a refused value is told (after "KEY=VALUE: ") */
	const char *const *choices;	/* the values a choice key takes */
	uint64_t min, max;	/* a number's range */
	unsigned flags;		/* KEY_ */
	bool (*ok)(uint64_t v);	/* a number's last check, refused with ok_msg (%s: the value) */
	const char *ok_msg;
};
extern const struct vtb_key vtb_keys[];
/* A key's default: a transport's option takes it from the transport's table. */
const char *vtb_key_def(const struct vtb_key *k);
/* A key's help; a transport's option names its transports and variants. */
void vtb_key_help(const struct vtb_key *k, char *buf, size_t n);
/* Stores the options c sets that t (in c's variant) owns where t reads
 * them in env, as its option table says. */
void vtb_cell_xport_env(const struct vtb_cellp *c, const struct vtb_transport_ops *t, struct vtb_xenv *env);

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

/* `vtbench list`: each transport with its variants, capabilities and
 * options; the suite keys; and both as one JSON object. */
void vtb_list_transports(FILE *f);
void vtb_list_keys(FILE *f);
void vtb_list_json(FILE *f);

#endif
