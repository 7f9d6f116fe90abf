/* The qemu platform's executor: a cell's workload runs inside a Linux
 * guest (images/) against the guest kernel's own virtio driver, and the
 * transport is a guest and device configuration (swiotlb=force, a
 * virtio-iommu in strict, lazy or passthrough mode).  One boot runs every
 * repetition of every cell of one configuration. */
#ifndef VTB_QEMU_H
#define VTB_QEMU_H

#include <stddef.h>

#include "cell.h"
#include "suite.h"

/* Whether the platform can run this cell: 0, or -1 with why. */
int vtb_qemu_check(const struct vtb_cellp *c, char *why, size_t n);
/* Whether this machine can boot the guest (images built, QEMU present). */
int vtb_qemu_available(const struct vtb_cellp *c, char *why, size_t n);
/* Repetition rep of cells->v[i]: from the boot of its configuration,
 * which runs (once) when the first of its cells is asked for.  0, or -1
 * when the harness could not set it up; a failure of the cell is in
 * r->error. */
int vtb_qemu_run(const struct vtb_cells *cells, size_t i, unsigned rep, struct vtb_cell_result *r);
/* Times `runs` whole boots of c's configuration (QEMU's start to the
 * guest's poweroff after /init, the configuration's devices, no trace)
 * with hyperfine: r->ops boots in r->seconds, each boot's time in r->hist.
 * 0 (a failure is in r->error), or -1 when the harness could not try. */
int vtb_qemu_boot_time(const struct vtb_cellp *c, unsigned runs, struct vtb_cell_result *r);
/* Frees what the boots left (their results, their files). */
void vtb_qemu_close(void);

#endif
