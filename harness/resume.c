#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resume.h"
#include "results.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *p = realloc(buf, cap = cap * 2 + 8192);
			if (!p) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		size_t got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got < 4096)
			break;
	}
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

static const char *json_string_at(const char *p, char **out);

/* The JSON string value of "key" in text, decoded, in a new buffer. */
static char *json_str(const char *text, const char *key)
{
	char pat[64], *out = NULL;
	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	const char *p = strstr(text, pat);
	return p && json_string_at(p + strlen(pat) - 1, &out) ? out : NULL;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

/* p at a JSON string: its decoded value in a new buffer (\u00XX is the
 * byte XX, as vtb_json_str writes a byte that is not UTF-8), and the
 * position after it; NULL if malformed. */
static const char *json_string_at(const char *p, char **out)
{
	p = skip_ws(p);
	if (*p != '"')
		return NULL;
	const char *q = ++p;
	char *o = malloc(strlen(p) + 1), *w = o;
	if (!o)
		return NULL;
	for (; *q && *q != '"'; q++) {
		if (*q != '\\') {
			*w++ = *q;
			continue;
		}
		switch (*++q) {
		case 'n': *w++ = '\n'; break;
		case 't': *w++ = '\t'; break;
		case 'r': *w++ = '\r'; break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'u': {
			char hex[5] = { 0 };
			for (int i = 0; i < 4; i++)
				if (!(hex[i] = q[1 + i]))
					goto bad;
			unsigned long u = strtoul(hex, NULL, 16);
			q += 4;
			if (u < 0x100) {
				*w++ = (char)u;
			} else if (u < 0x800) {
				*w++ = (char)(0xc0 | u >> 6);
				*w++ = (char)(0x80 | (u & 0x3f));
			} else {
				*w++ = (char)(0xe0 | u >> 12);
				*w++ = (char)(0x80 | (u >> 6 & 0x3f));
				*w++ = (char)(0x80 | (u & 0x3f));
			}
			break;
		}
		case 0: goto bad;
		default: *w++ = *q;
		}
	}
	if (*q != '"')
		goto bad;
	*w = 0;
	*out = o;
	return q + 1;
bad:
	free(o);
	return NULL;
}

static const char *expect(const char *p, const char *tok)
{
	p = skip_ws(p);
	return p && !strncmp(p, tok, strlen(tok)) ? p + strlen(tok) : NULL;
}

/* "inputs": {"suites": [{"path": S, "text": S}, ...], "args": [S, ...]}
 * into paths/texts/args; 1 if meta.json has no inputs (an older run),
 * -1 if they are malformed. */
static int read_inputs(const char *meta, char ***paths, char ***texts, size_t *nf, char ***args, size_t *na)
{
	const char *p = strstr(meta, "\n  \"inputs\": ");
	if (!p)
		return 1;
	p = expect(p + 12, "{");
	p = p ? expect(p, "\"suites\":") : NULL;
	p = p ? expect(p, "[") : NULL;
	while (p && *skip_ws(p) != ']') {
		char *path = NULL, *text = NULL;
		if (*nf && !(p = expect(p, ",")))
			break;
		p = expect(p, "{");
		p = p ? expect(p, "\"path\":") : NULL;
		p = p ? json_string_at(p, &path) : NULL;
		p = p ? expect(p, ",") : NULL;
		p = p ? expect(p, "\"text\":") : NULL;
		p = p ? json_string_at(p, &text) : NULL;
		p = p ? expect(p, "}") : NULL;
		char **np = p ? realloc(*paths, (*nf + 1) * sizeof(char *)) : NULL;
		char **nt = np ? (*paths = np, realloc(*texts, (*nf + 1) * sizeof(char *))) : NULL;
		if (!nt) {
			free(path);
			free(text);
			return -1;
		}
		*texts = nt;
		(*paths)[*nf] = path;
		(*texts)[(*nf)++] = text;
	}
	p = p ? expect(p, "]") : NULL;
	p = p ? expect(p, ",") : NULL;
	p = p ? expect(p, "\"args\":") : NULL;
	p = p ? expect(p, "[") : NULL;
	while (p && *skip_ws(p) != ']') {
		char *a = NULL;
		if (*na && !(p = expect(p, ",")))
			break;
		p = json_string_at(p, &a);
		char **nv = p ? realloc(*args, (*na + 1) * sizeof(char *)) : NULL;
		if (!nv) {
			free(a);
			return -1;
		}
		*args = nv;
		(*args)[(*na)++] = a;
	}
	return p && expect(p, "]") ? 0 : -1;
}

static int resume_from_inputs(const char *dir, const char *meta, struct vtb_cells *cells, char *err, size_t n)
{
	char **paths = NULL, **texts = NULL, **args = NULL, *tmp[1024];
	const char **files = NULL;
	size_t nf = 0, na = 0, made = 0;
	int rc = read_inputs(meta, &paths, &texts, &nf, &args, &na);
	if (rc > 0)
		return 1;
	if (rc < 0) {
		snprintf(err, n, "--resume %s: meta.json's inputs are malformed", dir);
		goto free;
	}
	rc = -1;
	if (nf > sizeof(tmp) / sizeof(tmp[0]) || !(files = calloc(nf + 1, sizeof(*files)))) {
		snprintf(err, n, "--resume %s: too many suite files", dir);
		goto free;
	}
	/* Each file is parsed again from a copy of its text as first read, so
	 * an edited or deleted suite file cannot change the run. */
	for (; made < nf; made++) {
		char t[] = "/tmp/vtb-resume-XXXXXX";
		int fd = mkstemp(t);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f || fputs(texts[made], f) < 0 || fclose(f)) {
			snprintf(err, n, "--resume: cannot write a temporary suite: %s", strerror(errno));
			if (fd >= 0)
				unlink(t);
			goto unlink;
		}
		tmp[made] = strdup(t);
		files[made] = tmp[made];
		if (!tmp[made]) {
			unlink(t);
			goto unlink;
		}
	}
	rc = vtb_suite_build(files, nf, (const char *const *)args, na, cells, err, n);
	if (!rc) {
		/* The run keeps its inputs as first given, not the copies' names. */
		for (size_t i = 0; i < cells->nfiles; i++) {
			free(cells->paths[i]);
			cells->paths[i] = paths[i];
			paths[i] = NULL;
		}
		free(cells->text);
		cells->text = json_str(meta, "suite");
	}
unlink:
	for (size_t i = 0; i < made; i++) {
		unlink(tmp[i]);
		free(tmp[i]);
	}
free:
	for (size_t i = 0; i < nf; i++) {
		free(paths[i]);
		free(texts[i]);
	}
	for (size_t i = 0; i < na; i++)
		free(args[i]);
	free(paths);
	free(texts);
	free(args);
	free(files);
	return rc;
}

int vtb_resume_cells(const char *dir, struct vtb_cells *cells, char *run_id, size_t idn, char *err, size_t n)
{
	char path[4200], *meta, *suite = NULL, *id = NULL;
	const char *files[64], *kv[256];
	char *tmp[64];
	size_t nf = 0, nkv = 0;
	int rc = -1;
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	if (!(meta = slurp(path, NULL))) {
		snprintf(err, n, "--resume %s: cannot read %s: %s", dir, path, strerror(errno));
		return -1;
	}
	if (!(suite = json_str(meta, "suite")) || !(id = json_str(meta, "run_id"))) {
		snprintf(err, n, "--resume %s: meta.json names no suite or run_id", dir);
		goto free;
	}
	snprintf(run_id, idn, "%s", id);
	const char *sv = strstr(meta, "\"schema\": ");
	char *send = NULL;
	long schema = sv ? strtol(sv + 10, &send, 10) : -1;
	if (!sv || send == sv + 10 || (*send != ',' && *send != '\n') || schema < 1 || schema > VTB_SCHEMA_VERSION) {
		snprintf(err, n, "--resume %s: meta.json is schema %ld; this vtbench reads 1..%d", dir, schema,
			 VTB_SCHEMA_VERSION);
		goto free;
	}
	if ((rc = resume_from_inputs(dir, meta, cells, err, n)) <= 0)
		goto free;
	rc = -1;
	/* An older run without inputs: the text as given: "# suite PATH" then the file, ..., then
	 * "# command line" and its KEY=VALUE words.  Each file is parsed
	 * again from a copy, so an edited suite file cannot change the run. */
	FILE *cur = NULL;
	bool in_kv = false;
	for (char *line = strtok(suite, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "# suite ", 8)) {
			if (cur)
				fclose(cur);
			cur = NULL;
			in_kv = false;
			if (nf == 64)
				continue;
			char t[] = "/tmp/vtb-resume-XXXXXX";
			int fd = mkstemp(t);
			if (fd < 0 || !(cur = fdopen(fd, "w"))) {
				snprintf(err, n, "--resume: cannot write a temporary suite: %s", strerror(errno));
				goto unlink;
			}
			tmp[nf] = strdup(t);
			files[nf] = tmp[nf];
			nf++;
		} else if (!strcmp(line, "# command line")) {
			if (cur)
				fclose(cur);
			cur = NULL;
			in_kv = true;
		} else if (in_kv) {
			if (nkv < 256)
				kv[nkv++] = line;
		} else if (cur) {
			fprintf(cur, "%s\n", line);
		}
	}
	if (cur)
		fclose(cur);
	rc = vtb_suite_build(files, nf, kv, nkv, cells, err, n);
	if (!rc) {
		/* meta.json keeps the text as first given, not the copies' names. */
		free(cells->text);
		snprintf(path, sizeof(path), "%s/meta.json", dir);
		char *again = slurp(path, NULL);
		cells->text = again ? json_str(again, "suite") : NULL;
		free(again);
	}
unlink:
	for (size_t i = 0; i < nf; i++) {
		unlink(tmp[i]);
		free(tmp[i]);
	}
free:
	free(meta);
	free(suite);
	free(id);
	return rc;
}

/* The JSON value after "key": in text, verbatim (balanced, strings
 * respected), in a new buffer; NULL if absent. */
static char *json_raw(const char *text, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	const char *p = strstr(text, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	const char *q = p;
	int depth = 0;
	bool str = false;
	for (; *q; q++) {
		if (str) {
			if (*q == '\\' && q[1])
				q++;
			else if (*q == '"')
				str = false;
		} else if (*q == '"') {
			str = true;
		} else if (*q == '{' || *q == '[') {
			depth++;
		} else if (*q == '}' || *q == ']') {
			if (depth-- == 0)
				break;	/* the end of the enclosing value */
			if (depth == 0) {
				q++;
				break;
			}
		} else if (*q == ',' && depth == 0) {
			break;
		}
	}
	char *out = malloc((size_t)(q - p) + 1);
	if (out) {
		memcpy(out, p, (size_t)(q - p));
		out[q - p] = 0;
	}
	return out;
}

int vtb_resume_orig(const char *dir, struct vtb_resume_orig *o, char *err, size_t n)
{
	char path[4200], *meta, *started = NULL, *cal = NULL, *start = NULL;
	int rc = -1;
	memset(o, 0, sizeof(*o));
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	if (!(meta = slurp(path, NULL)))
		return snprintf(err, n, "--resume: cannot read %s: %s", path, strerror(errno)), -1;
	if (!(started = json_str(meta, "started")) || !(cal = json_raw(meta, "calibration")) ||
	    !(start = json_raw(cal, "start")) || vtb_calib_parse(start, &o->cal0) ||
	    !(o->reps_raw = json_raw(cal, "reps"))) {
		snprintf(err, n, "--resume: %s lacks the run's start time or calibration", path);
		goto free;
	}
	snprintf(o->started, sizeof(o->started), "%s", started);
	char *res = json_raw(meta, "resumes");
	if (res) {
		size_t l = strlen(res);
		if (l >= 2 && res[0] == '[' && res[l - 1] == ']' && l > 2) {
			memmove(res, res + 1, l - 2);
			res[l - 2] = 0;
			o->resumes_raw = res;
		} else {
			free(res);
		}
	}
	rc = 0;
free:
	if (rc)
		vtb_resume_orig_free(o);
	free(meta);
	free(started);
	free(cal);
	free(start);
	return rc;
}

void vtb_resume_orig_free(struct vtb_resume_orig *o)
{
	free(o->reps_raw);
	free(o->resumes_raw);
	o->reps_raw = o->resumes_raw = NULL;
}

static long field(const char *line, const char *pat)
{
	const char *p = strstr(line, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* An adaptive cell may have run up to max_reps repetitions. */
static unsigned most_reps(const struct vtb_cellp *c)
{
	return c->max_reps > c->reps ? c->max_reps : c->reps;
}

int vtb_resume_scan(const char *dir, const struct vtb_cells *cells, struct vtb_resume *r, char *err, size_t n)
{
	char path[4200];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/results.jsonl", dir);
	char *text = slurp(path, &len);
	r->maxreps = 0;
	for (size_t i = 0; i < cells->n; i++)
		if (most_reps(&cells->v[i]) > r->maxreps)
			r->maxreps = most_reps(&cells->v[i]);
	r->done = calloc(cells->n * (r->maxreps ? r->maxreps : 1), sizeof(bool));
	if (!r->done) {
		free(text);
		snprintf(err, n, "out of memory");
		return -1;
	}
	if (!text)
		return 0;	/* nothing written yet */
	/* Only whole lines count; a partial last one is cut off. */
	size_t whole = len;
	while (whole && text[whole - 1] != '\n')
		whole--;
	if (whole < len) {
		r->truncated = true;
		if (truncate(path, (off_t)whole)) {
			snprintf(err, n, "--resume: cannot cut the partial last line of %s: %s", path, strerror(errno));
			free(text);
			return -1;
		}
		text[whole] = 0;
	}
	size_t lineno = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		long idx = field(line, "\"index\":"), rep = field(line, ",\"rep\":");
		lineno++;
		if (strstr(line, "{\"device\":\"boot\""))
			continue;	/* a boot timing, written after the cells: timed again */
		if (idx < 0 || rep < 0 || (size_t)idx >= cells->n || (unsigned long)rep >= most_reps(&cells->v[idx])) {
			snprintf(err, n, "--resume: %s:%zu holds a row this run's cells do not (index %ld, rep %ld)", path,
				 lineno, idx, rep);
			free(text);
			return -1;
		}
		char dev[40];
		snprintf(dev, sizeof(dev), "{\"device\":\"%s\"", cells->v[idx].device);
		if (!strstr(line, dev)) {
			snprintf(err, n, "--resume: %s:%zu: the row for cell %ld is not a %s cell", path, lineno, idx,
				 cells->v[idx].device);
			free(text);
			return -1;
		}
		r->done[(size_t)idx * r->maxreps + (size_t)rep] = true;
		r->rows++;
		if (!strstr(line, ",\"error\":null"))
			r->failed++;
	}
	free(text);
	return 0;
}
