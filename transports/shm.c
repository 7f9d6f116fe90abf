/* shm: the baseline.  Rings and buffers stay in FE RAM at their guest
 * addresses; the BE maps all FE RAM once (vhost-user style) and reads them
 * in place: zero copies, the only hypervisor work is the doorbells. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/vtb_memmap.h"
#include "vring.h"

/* The BE reaches FE RAM through a region table, as a vhost-user backend
 * reaches guest memory through SET_MEM_TABLE's regions; proc has one
 * region, all FE RAM at guest address 0. */
#define SHM_REGIONS 1

struct shm_be {
	char *fe_ram;
	uint64_t fe_size;
	struct vtb_memmap *map;
	_Alignas(void *) unsigned char map_mem[];
};

static int shm_fe_ring(struct vtb_vfe *fe, size_t bytes, uint64_t *addr, void **va)
{
	return vtb_fe_alloc(fe->env, bytes, 4096, addr, va);
}

static int shm_be_setup(struct vtb_vbe *be)
{
	struct shm_be *s = calloc(1, sizeof(*s) + vtb_memmap_memsize(SHM_REGIONS));
	struct vtb_xenv *env = be->env;
	int e;
	if (!s)
		return -ENOMEM;
	s->fe_size = env->fe->ram_size;
	s->fe_ram = env->plat->ops->map(env->plat, env->fe, 0, s->fe_size, true, NULL);
	if (!s->fe_ram) {
		e = -errno;
		goto free_s;
	}
	s->map = vtb_memmap_init(s->map_mem, SHM_REGIONS);
	if (!s->map) {
		e = -EINVAL;
		goto unmap;
	}
	struct vtb_mem_region r = { .gpa = 0, .size = s->fe_size, .va = s->fe_ram, .writable = true };
	if ((e = vtb_memmap_add(s->map, &r)))
		goto unmap;
	be->priv = s;
	return 0;
unmap:
	env->plat->ops->unmap(env->plat, s->fe_ram, s->fe_size, false);
free_s:
	free(s);
	return e;
}

static void *shm_at(struct vtb_vbe *be, uint64_t addr, uint64_t len, bool write)
{
	struct shm_be *s = be->priv;
	return vtb_memmap_xlate(s->map, addr, len, write);
}

static void *shm_be_ring(struct vtb_vbe *be, uint64_t addr, size_t bytes)
{
	return shm_at(be, addr, bytes, true);
}

static const void *shm_be_indirect(struct vtb_vbe *be, uint64_t addr, uint32_t len)
{
	return shm_at(be, addr, len, false);
}

static int shm_be_get(struct vtb_vbe *be, struct vtb_vbe_map *m)
{
	m->va = shm_at(be, m->addr, m->len, m->write);
	return m->va ? 0 : -EFAULT;
}

static void shm_be_teardown(struct vtb_vbe *be)
{
	struct shm_be *s = be->priv;
	if (!s)
		return;
	be->env->plat->ops->unmap(be->env->plat, s->fe_ram, s->fe_size, false);
	free(s);
}

static const struct vtb_vring_policy shm_policy = {
	.fe_ring = shm_fe_ring,
	.be_setup = shm_be_setup,
	.be_ring = shm_be_ring,
	.be_indirect = shm_be_indirect,
	.be_get = shm_be_get,
	.be_teardown = shm_be_teardown,
};

static int shm_fe_open(struct vtb_xenv *env, uint64_t wanted, void **fe)
{
	env->packed = !strcmp(env->variant, "packed");
	return vtb_vring_fe_open(env, &shm_policy, wanted, fe);
}

static int shm_be_open(struct vtb_xenv *env, void **be)
{
	return vtb_vring_be_open(env, &shm_policy, be);
}

static const char *const shm_variants[] = { "split", "packed", NULL };
static const char *const shm_variant_desc[] = {
	"split virtqueue (virtio 1.2 §2.7) in FE RAM, BE maps all FE RAM",
	"packed virtqueue (virtio 1.2 §2.8) with its event suppression (and packed indirect tables)",
	NULL,
};

const struct vtb_transport_ops vtb_transport_shm = {
	.name = "shm",
	.desc = "shared-memory baseline: BE maps all FE memory (vhost-user style), zero copies",
	.variants = shm_variants,
	.variant_desc = shm_variant_desc,
	.caps = VTB_CAP_SPLIT | VTB_CAP_PACKED | VTB_CAP_INDIRECT | VTB_CAP_NOTIFY_EVENT | VTB_CAP_NOTIFY_POLL |
		VTB_CAP_REFERENCE,
	.fe_open = shm_fe_open,
	.be_open = shm_be_open,
	VTB_VRING_OPS,
};
