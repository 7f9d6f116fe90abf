/* Freestanding helpers shared by the portable core and device models.
 * Only compiler builtins: no libc headers, so an RTOS can embed this. */
#ifndef VTB_COMPILER_H
#define VTB_COMPILER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define vtb_memcpy  __builtin_memcpy
#define vtb_memset  __builtin_memset
#define vtb_memmove __builtin_memmove
#define vtb_memcmp  __builtin_memcmp

#define VTB_EPERM   1
#define VTB_ENOENT  2
#define VTB_EIO     5
#define VTB_E2BIG   7
#define VTB_EAGAIN  11
#define VTB_ENOMEM  12
#define VTB_EFAULT  14
#define VTB_EBUSY   16
#define VTB_EEXIST  17
#define VTB_EINVAL  22
#define VTB_ENOSPC  28
#define VTB_ERANGE  34
#define VTB_ELOOP   40
#define VTB_ENOTSUP 95
#define VTB_EPROTO  71

#define VTB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VTB_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define vtb_likely(x)   __builtin_expect(!!(x), 1)
#define vtb_unlikely(x) __builtin_expect(!!(x), 0)

/* Shared-memory accesses: one load or store each, never split or repeated by
 * the compiler.  Every field another domain can write is read with
 * VTB_READ_ONCE into a local, validated, and only the local is used. */
#define VTB_READ_ONCE(x)      __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define VTB_WRITE_ONCE(x, v)  __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define VTB_LOAD_ACQUIRE(x)   __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define VTB_STORE_RELEASE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
/* virtio_mb(): orders a store (index or event field) before a later load of
 * the peer's event field, the classic lost-wakeup window.  vtb_rmb orders
 * loads before later loads, vtb_wmb stores before later stores: Linux's
 * virt_rmb()/virt_wmb() (the peer is another CPU, never a device doing DMA,
 * so the inner-shareable domain suffices).  On aarch64 they are Linux's own
 * instructions (dmb ish / ishld / ishst); the C11 fences would give dmb ish
 * for a write barrier, correct but stronger than Linux's.  Elsewhere (x86:
 * mfence and compiler barriers, as TSO needs) the C11 fences. */
#if defined(__aarch64__)
#define vtb_mb()  __asm__ __volatile__("dmb ish" ::: "memory")
#define vtb_rmb() __asm__ __volatile__("dmb ishld" ::: "memory")
#define vtb_wmb() __asm__ __volatile__("dmb ishst" ::: "memory")
#elif defined(__x86_64__)
/* A locked add to the stack orders every earlier store before every later
 * load as mfence does for ordinary memory, without also waiting for the
 * load queue to drain: Linux's smp_mb() and DPDK's rte_smp_mb() on x86-64.
 * At -128(%rsp), the red zone's far end, as DPDK: adding 0 leaves
 * whatever a leaf function keeps there as it was. */
#define vtb_mb()  __asm__ __volatile__("lock; addl $0,-128(%%rsp)" ::: "memory", "cc")
#define vtb_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define vtb_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#else
#define vtb_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define vtb_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define vtb_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
/* After a plain copy of shared memory into a local x: the compiler must
 * treat x as changed, so it can never re-derive x's value by reading the
 * shared copy again.  Only x is affected, not every cached value. */
#define VTB_OPAQUE(x) __asm__("" : "+m"(x))
/* Stores v into a shared field only if it does not hold v already: a ring
 * entry or descriptor that comes round with the same contents is then
 * never dirtied, so its cache line stays valid in the peer's cache and
 * no transfer happens (DPDK's vq_update_avail_ring does this for avail
 * entries).  The value the peer can read is the same either way. */
#define VTB_SET_IF_CHANGED(x, v)                                  \
	do {                                                      \
		__typeof__(x) vtb_v_ = (v);                       \
		if (VTB_READ_ONCE(x) != vtb_v_)                   \
			VTB_WRITE_ONCE(x, vtb_v_);                \
	} while (0)

/* Spin-wait hint, as Linux's cpu_relax(): x86 PAUSE, arm YIELD; elsewhere
 * only a compiler barrier, so a polled load is re-issued every iteration. */
static inline void vtb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__ARM_ARCH) && __ARM_ARCH >= 7)
	__asm__ volatile("yield" ::: "memory");
#else
	__asm__ volatile("" ::: "memory");
#endif
}

/* virtio 1.x is little-endian on the wire. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint16_t vtb_le16(uint16_t v) { return v; }
static inline uint32_t vtb_le32(uint32_t v) { return v; }
static inline uint64_t vtb_le64(uint64_t v) { return v; }
#else
static inline uint16_t vtb_le16(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t vtb_le32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t vtb_le64(uint64_t v) { return __builtin_bswap64(v); }
#endif

/* Overflow-safe check that [off, off+len) lies inside [0, size). */
static inline bool vtb_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

#endif
