/* Every platform vtbench can run cells on, in the order `vtbench list`
 * shows them. */
#include <string.h>

#include "platform.h"
#include "proc/proc.h"

/* The real mechanisms: Linux guests under QEMU, with the guest kernel's
 * virtio drivers, swiotlb and virtio-iommu. */
static const struct vtb_platform_ops vtb_platform_qemu = {
	.name = "qemu",
	.desc = "Linux guests under QEMU (images/): the guest kernel's virtio-blk driver, swiotlb=force, virtio-iommu",
	.guest = true,
	/* arm64: a restricted-dma-pool in the device tree (harness/qemu.c) */
	.guest_variants = (const char *const[]){ "swiotlb/rdp", NULL },
};

const struct vtb_platform_ops *const vtb_platforms[] = {
	&vtb_platform_proc,
	&vtb_platform_qemu,
	NULL,
};

const struct vtb_platform_ops *vtb_platform_find(const char *name)
{
	for (unsigned i = 0; vtb_platforms[i]; i++)
		if (!strcmp(vtb_platforms[i]->name, name))
			return vtb_platforms[i];
	return NULL;
}
