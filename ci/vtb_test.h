/* Minimal test harness: CHECK counts, a failure prints where and goes on;
 * each test binary ends with "name: N checks, M failed" and exits non-zero
 * on any failure (ci/run-tests.py aggregates). */
#ifndef VTB_TEST_H
#define VTB_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int vtb_checks, vtb_failed;

#define CHECK(cond) do { \
	vtb_checks++; \
	if (!(cond)) { \
		vtb_failed++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	vtb_checks++; \
	if (_a != _b) { \
		vtb_failed++; \
		fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
			__FILE__, __LINE__, #a, _a, #b, _b); \
	} \
} while (0)

static inline int vtb_test_end(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, vtb_checks, vtb_failed);
	return vtb_failed ? 1 : 0;
}

#endif
