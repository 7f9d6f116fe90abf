#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resume.h"

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

/* The JSON string value of "key" in text (as results.c writes them:
 * \" \\ \n and \u00XX escapes), into a new buffer. */
static char *json_str(const char *text, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	const char *p = strstr(text, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	char *out = malloc(strlen(p) + 1), *o = out;
	if (!out)
		return NULL;
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		if (*p == 'n')
			*o++ = '\n';
		else if (*p == 'u' && p[1] && p[2] && p[3] && p[4]) {
			char hex[5] = { p[1], p[2], p[3], p[4], 0 };
			*o++ = (char)strtol(hex, NULL, 16);
			p += 4;
		} else if (*p)
			*o++ = *p;
		else
			break;
	}
	*o = 0;
	return out;
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
	/* The text as given: "# suite PATH" then the file, ..., then
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

static long field(const char *line, const char *pat)
{
	const char *p = strstr(line, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

int vtb_resume_scan(const char *dir, const struct vtb_cells *cells, struct vtb_resume *r, char *err, size_t n)
{
	char path[4200];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/results.jsonl", dir);
	char *text = slurp(path, &len);
	r->maxreps = 0;
	for (size_t i = 0; i < cells->n; i++)
		if (cells->v[i].reps > r->maxreps)
			r->maxreps = cells->v[i].reps;
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
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		long idx = field(line, "\"index\":"), rep = field(line, ",\"rep\":");
		if (idx < 0 || rep < 0 || (size_t)idx >= cells->n || (unsigned long)rep >= cells->v[idx].reps) {
			snprintf(err, n, "--resume: %s holds a row this run's cells do not (index %ld, rep %ld)", path, idx, rep);
			free(text);
			return -1;
		}
		char dev[40];
		snprintf(dev, sizeof(dev), "{\"device\":\"%s\"", cells->v[idx].device);
		if (!strstr(line, dev)) {
			snprintf(err, n, "--resume: row for cell %ld is not a %s cell", idx, cells->v[idx].device);
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
