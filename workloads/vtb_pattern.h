/* Deterministic payloads for end-to-end verification: both domains derive
 * the same bytes from (seed, key) without sharing anything.  Freestanding. */
#ifndef VTB_PATTERN_H
#define VTB_PATTERN_H

#include "../transports/core/vtb_compiler.h"

static inline uint64_t vtb_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Fills len bytes with the stream for key. */
static inline void vtb_pattern_fill(uint64_t seed, uint64_t key, void *buf, uint32_t len)
{
	uint64_t s = vtb_mix64(seed ^ vtb_mix64(key));
	unsigned char *p = buf;
	uint32_t i = 0;
	for (; i + 8 <= len; i += 8) {
		s = vtb_mix64(s);
		vtb_memcpy(p + i, &s, 8);
	}
	if (i < len) {
		s = vtb_mix64(s);
		vtb_memcpy(p + i, &s, len - i);
	}
}

/* True if buf holds exactly the stream for key. */
static inline bool vtb_pattern_check(uint64_t seed, uint64_t key, const void *buf, uint32_t len)
{
	uint64_t s = vtb_mix64(seed ^ vtb_mix64(key));
	const unsigned char *p = buf;
	uint32_t i = 0;
	for (; i + 8 <= len; i += 8) {
		s = vtb_mix64(s);
		if (vtb_memcmp(p + i, &s, 8))
			return false;
	}
	if (i < len) {
		s = vtb_mix64(s);
		if (vtb_memcmp(p + i, &s, len - i))
			return false;
	}
	return true;
}

#endif
