/* Helpers for the libFuzzer targets: a cursor over the input, and the
 * check that turns a broken invariant into a crash libFuzzer keeps. */
#ifndef VTB_FUZZ_COMMON_H
#define VTB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	return (uint16_t)(fz_u8(f) | fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	return (uint32_t)fz_u16(f) | (uint32_t)fz_u16(f) << 16;
}

/* Up to len bytes of input into dst; the rest of dst is left alone. */
static inline size_t fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t n = len < f->n ? len : f->n;
	memcpy(dst, f->p, n);
	f->p += n;
	f->n -= n;
	return n;
}

/* The driver's write at off (already taken from the input): up to max
 * bytes of input into [base, base+size), clipped at its end. */
static inline void fz_write(struct fz *f, uint8_t *base, size_t size, uint32_t off, uint8_t max)
{
	uint8_t n = (uint8_t)(fz_u8(f) % (max + 1u));
	if (!base || !size)
		return;
	off %= size;
	if (n > size - off)
		n = (uint8_t)(size - off);
	fz_bytes(f, base + off, n);
}

#define FZ_CHECK(cond, ...)                                                              \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			abort();                                                           \
		}                                                                          \
	} while (0)

#endif
