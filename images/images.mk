# Guest images for QEMU, from Debian packages only (images/README.md).
# `make images` builds everything under build/images; each artefact has a
# .key (what it is built from: package versions, hashes of its recipe
# files), rewritten only when that changes, and a .stamp copied from the key
# once the artefact is built, so a rebuild happens only when the recipe or a
# package changes.  Each step's cost lands in build/images/times.log.

IMG     := build/images
IMG_DIR := images
KEY     := sh $(IMG_DIR)/key.sh
CACHE   := sh $(IMG_DIR)/cache.sh
TIMED   := bash $(IMG_DIR)/timed.sh $(IMG)/times.log
# The modules a Debian kernel's guest loads (those built in are skipped),
# in order: virtio_iommu before the drivers of the devices behind it.
X86_64_MODULES := virtio_iommu virtio_pci virtio_blk virtio_net af_packet 9pnet_virtio 9p
# What a dom0 under Xen loads besides (the xen image): event channels,
# xenfs, privcmd, grant maps and grant allocation; elsewhere they stay unloaded.
X86_64_XEN_MODULES := xen-evtchn xenfs xen-privcmd xen-gntdev xen-gntalloc
ARM64_DEB_MODULES := virtio_iommu virtio_mmio virtio_pci virtio_blk virtio_net af_packet
GUEST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -static

IMAGES := $(IMG)/x86_64/kernel.stamp $(IMG)/x86_64/initramfs.cpio.gz \
	$(IMG)/arm64/kernel.stamp $(IMG)/arm64/initramfs.cpio.gz $(IMG)/arm64/virt-scmi.dtb $(IMG)/arm64/virt-scmi-rdp.dtb \
	$(IMG)/arm64-deb/kernel.stamp $(IMG)/arm64-deb/initramfs.cpio.gz $(IMG)/xen/xen.stamp \
	$(IMG)/xen/dom0-initramfs.cpio.gz $(IMG)/xen-argo/xen.stamp

.PHONY: images images-clean
images: deps
	$(MAKE) $(IMAGES)

images-clean:
	rm -rf $(IMG)

# -- keys ------------------------------------------------------------------
$(IMG)/x86_64/kernel.key: .FORCE
	@$(KEY) $@ sh -c 'sh images/apt-memo.sh images/deb-kernel-name.sh amd64; echo $(X86_64_MODULES) $(X86_64_XEN_MODULES); \
		cd images && sha256sum deb-kernel-name.sh fetch-deb-kernel.sh'
$(IMG)/arm64-deb/kernel.key: .FORCE
	@$(KEY) $@ sh -c 'sh images/apt-memo.sh images/deb-kernel-name.sh arm64; echo $(ARM64_DEB_MODULES); \
		cd images && sha256sum deb-kernel-name.sh fetch-deb-kernel.sh'
$(IMG)/arm64/kernel.key: .FORCE
	@$(KEY) $@ sh -c 'dpkg-query -W linux-source-6.12 gcc-aarch64-linux-gnu; \
		cd images && sha256sum arm64-scmi.config build-arm64-kernel.sh'
$(IMG)/%/busybox.key: .FORCE
	@$(KEY) $@ sh -c 'sh images/apt-memo.sh apt-cache show --no-all-versions \
		busybox-static:$(if $(filter x86_64,$*),amd64,arm64) | sed -n "s/^Version: /busybox-static /p"; \
		sha256sum images/fetch-busybox.sh'
$(IMG)/xen/xen.key: .FORCE
	@$(KEY) $@ sh -c 'sh images/apt-memo.sh apt-cache show --no-all-versions xen-hypervisor-4.17-amd64 | \
		sed -n "s/^Version: /xen-hypervisor-4.17-amd64 /p"; sha256sum images/fetch-xen.sh'
$(IMG)/xen-argo/xen.key: .FORCE $(IMG)/xen/xen.key
	@$(KEY) $@ sh -c 'sh images/apt-memo.sh apt-cache showsrc --only-source xen | sed -n "s/^Version: /xen source /p" | \
		head -1; cat $(IMG)/xen/xen.key; sha256sum images/build-xen-argo.sh'
$(IMG)/xen/tools.key: .FORCE
	@$(KEY) $@ sh -c 'sh images/apt-memo.sh apt-cache show --no-all-versions xen-utils-4.17 | \
		sed -n "s/^Version: /xen-utils-4.17 /p"; dpkg-query -W libc6 libgcc-s1; sha256sum images/fetch-xen-tools.sh'
$(IMG)/arm64/dtb.key: .FORCE
	@$(KEY) $@ sh -c 'dpkg-query -W qemu-system-arm device-tree-compiler; \
		cd images && sha256sum machine.conf arm64-scmi.dtsi mkdtb.sh'

# -- kernels ---------------------------------------------------------------
# Kernels are also kept in the per-machine cache (images/cache.sh), by key.
$(IMG)/x86_64/kernel.stamp: $(IMG)/x86_64/kernel.key
	$(CACHE) get $< $(IMG)/x86_64/kernel || { \
	$(TIMED) x86_64-kernel-fetch $(IMG_DIR)/fetch-deb-kernel.sh amd64 $(IMG)/x86_64/kernel $(X86_64_MODULES) \
		$(X86_64_XEN_MODULES) && \
	$(CACHE) put $< $(IMG)/x86_64/kernel; }
	cp $< $@
$(IMG)/arm64-deb/kernel.stamp: $(IMG)/arm64-deb/kernel.key
	$(CACHE) get $< $(IMG)/arm64-deb/kernel || { \
	$(TIMED) arm64-deb-kernel-fetch $(IMG_DIR)/fetch-deb-kernel.sh arm64 $(IMG)/arm64-deb/kernel $(ARM64_DEB_MODULES) && \
	$(CACHE) put $< $(IMG)/arm64-deb/kernel; }
	cp $< $@
# The source tree and objects stay in arm64-kernel/ (not cached); the
# kernel, its config and the build's times go to arm64/kernel/.
$(IMG)/arm64/kernel.stamp: $(IMG)/arm64/kernel.key
	$(CACHE) get $< $(IMG)/arm64/kernel || { \
	$(TIMED) arm64-kernel-build $(IMG_DIR)/build-arm64-kernel.sh /usr/src/linux-source-6.12.tar.xz \
		$(IMG_DIR)/arm64-scmi.config $(IMG)/arm64-kernel && \
	rm -rf $(IMG)/arm64/kernel && mkdir -p $(IMG)/arm64/kernel && \
	cp $(IMG)/arm64-kernel/Image $(IMG)/arm64-kernel/config $(IMG)/arm64-kernel/times $(IMG)/arm64/kernel/ && \
	$(CACHE) put $< $(IMG)/arm64/kernel; }
	cp $< $@

# Debian's Xen hypervisor (the xen guest: this x86_64 kernel and initramfs as dom0).
$(IMG)/xen/xen.stamp: $(IMG)/xen/xen.key
	$(TIMED) xen-fetch $(IMG_DIR)/fetch-xen.sh $(IMG)/xen
	cp $< $@
# The hypervisor again, from Debian's source package with Argo (issue 20):
# booted with argo=1.  Kept in the per-machine cache by key, as the kernels.
$(IMG)/xen-argo/xen.stamp: $(IMG)/xen-argo/xen.key $(IMG)/xen/xen.stamp
	$(CACHE) get $< $(IMG)/xen-argo/build || { \
	$(TIMED) xen-argo-build $(IMG_DIR)/build-xen-argo.sh $(IMG)/xen/config $(IMG)/xen-argo/build && \
	$(CACHE) put $< $(IMG)/xen-argo/build; }
	cp $< $@
# dom0's toolstack (xenstored, xen-init-dom0, xl, xenconsoled and their
# libraries), appended to the x86_64 initramfs: dom0's initramfs.
$(IMG)/xen/tools.cpio.gz: $(IMG)/xen/tools.key
	$(TIMED) xen-tools-fetch $(IMG_DIR)/fetch-xen-tools.sh $@
# A PV domU dom0 starts with xl create: the x86_64 kernel and initramfs again.
$(IMG)/xen/domu.cpio.gz: $(IMG)/x86_64/kernel.stamp $(IMG)/x86_64/initramfs.cpio.gz
	d=$$(mktemp -d) && mkdir -p $$d/boot && cp $(IMG)/x86_64/kernel/vmlinuz $$d/boot/domu-vmlinuz && \
	cp $(IMG)/x86_64/initramfs.cpio.gz $$d/boot/domu-initramfs.cpio.gz && \
	(cd $$d && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 > $@.tmp && \
	rm -rf $$d && mv $@.tmp $@
$(IMG)/xen/dom0-initramfs.cpio.gz: $(IMG)/x86_64/initramfs.cpio.gz $(IMG)/xen/tools.cpio.gz $(IMG)/xen/domu.cpio.gz
	cat $^ > $@.tmp && mv $@.tmp $@

# -- initramfs contents ----------------------------------------------------
$(IMG)/%/busybox.stamp: $(IMG)/%/busybox.key
	$(TIMED) $*-busybox-fetch $(IMG_DIR)/fetch-busybox.sh $(if $(filter x86_64,$*),amd64,arm64) $(IMG)/$*/busybox
	cp $< $@
$(IMG)/arm64-deb/busybox.stamp: $(IMG)/arm64/busybox.stamp
	@mkdir -p $(dir $@)
	cp $(IMG)/arm64/busybox $(IMG)/arm64-deb/busybox && cp $< $@

$(IMG)/x86_64/vtb_guest: $(IMG_DIR)/guest/vtb_guest.c harness/hist.c harness/hist.h harness/guest_net.h
	@mkdir -p $(dir $@)
	gcc $(GUEST_CFLAGS) -Iharness -o $@ $< harness/hist.c -lpthread -lm
$(IMG)/arm64/vtb_guest: $(IMG_DIR)/guest/vtb_guest.c harness/hist.c harness/hist.h harness/guest_net.h
	@mkdir -p $(dir $@)
	aarch64-linux-gnu-gcc $(GUEST_CFLAGS) -Iharness -o $@ $< harness/hist.c -lpthread -lm

INITRAMFS_DEPS = $(IMG_DIR)/init $(IMG_DIR)/mkinitramfs.sh

$(IMG)/x86_64/initramfs.cpio.gz: $(IMG)/x86_64/busybox.stamp $(IMG)/x86_64/vtb_guest $(IMG)/x86_64/kernel.stamp $(INITRAMFS_DEPS)
	VTB_XEN_MODULES="$(X86_64_XEN_MODULES)" $(TIMED) x86_64-initramfs $(IMG_DIR)/mkinitramfs.sh $@ \
		$(IMG)/x86_64/busybox $(IMG)/x86_64/vtb_guest $(IMG_DIR)/init $(IMG)/x86_64/kernel/modules $(X86_64_MODULES)
$(IMG)/arm64/initramfs.cpio.gz: $(IMG)/arm64/busybox.stamp $(IMG)/arm64/vtb_guest $(INITRAMFS_DEPS)
	$(TIMED) arm64-initramfs $(IMG_DIR)/mkinitramfs.sh $@ $(IMG)/arm64/busybox $(IMG)/arm64/vtb_guest $(IMG_DIR)/init
$(IMG)/arm64-deb/initramfs.cpio.gz: $(IMG)/arm64-deb/busybox.stamp $(IMG)/arm64/vtb_guest $(IMG)/arm64-deb/kernel.stamp $(INITRAMFS_DEPS)
	$(TIMED) arm64-deb-initramfs $(IMG_DIR)/mkinitramfs.sh $@ $(IMG)/arm64-deb/busybox $(IMG)/arm64/vtb_guest \
		$(IMG_DIR)/init $(IMG)/arm64-deb/kernel/modules $(ARM64_DEB_MODULES)

# -- arm64 device tree -----------------------------------------------------
$(IMG)/arm64/virt-scmi.dtb: $(IMG)/arm64/dtb.key
	$(TIMED) arm64-dtb $(IMG_DIR)/mkdtb.sh $@
$(IMG)/arm64/virt-scmi-rdp.dtb: $(IMG)/arm64/dtb.key
	$(TIMED) arm64-dtb-rdp $(IMG_DIR)/mkdtb.sh $@ rdp

# Keys made by pattern rules are not intermediate files: deleting them would
# make the next run rebuild what they key.
.PRECIOUS: $(IMG)/%/busybox.key $(IMG)/%/busybox.stamp
