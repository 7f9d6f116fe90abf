# vtbench.  `make` builds ./vtbench; `make test` runs every test; `make bench`
# runs the default suite; `make images` builds the QEMU guests (images/);
# `make test-arm64` runs the unit tests cross-built for aarch64 under
# qemu-user (also part of `make test`).  Each installs
# what is missing first (Debian, root).

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror
GIT_REV := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
BUILD   := build
PYTHON  := /usr/bin/python3
# Plain `make` builds ./vtbench, whatever rule comes first below.
.DEFAULT_GOAL := all

ifeq ($(SANITIZE),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BUILD    := build/san
endif

ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE -MMD -MP
LDLIBS     := -luring -lpthread -lm

# eBPF probes (libbpf-bootstrap layout): vmlinux.h from the running kernel's
# BTF, the object built by clang, its skeleton by bpftool.  Built for both
# flavours once, in build/bpf.  Without BTF or the tools, vtbench is built
# without probes and says so in every run's meta.json.
BPFDIR  := build/bpf
BPF_OK  := $(shell test -r /sys/kernel/btf/vmlinux && command -v bpftool >/dev/null && \
		command -v clang >/dev/null && test -r /usr/include/bpf/libbpf.h && echo 1)
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/riscv64/riscv/')
MULTIARCH := $(shell $(CC) -dumpmachine)
ifeq ($(BPF_OK),1)
LDLIBS  += -lbpf -lelf -lz
PROBES_DEPS := $(BPFDIR)/probes.skel.h
else
ALL_CFLAGS += -DVTB_NO_BPF
endif

# The portable core and device models: freestanding C11, checked by test-freestanding.
CORE_SRC := transports/core/vtb_virtq.c transports/core/vtb_vdev.c transports/core/vtb_memmap.c
MODEL_SRC := workloads/blk/blk_dev.c workloads/net/net_dev.c workloads/scmi/scmi_dev.c
# vhost-user's protocol state machine: freestanding too (checked with the core).
VHU_SRC := transports/vhost_user/vhu_dev.c
LIB_SRC := $(CORE_SRC) $(MODEL_SRC) $(VHU_SRC) transports/vhost_user/vhu_server.c harness/serve.c \
	transports/proc/platform_proc.c transports/platforms.c transports/proc/hv_grant.c transports/proc/hv_argo.c transports/registry.c transports/vring.c transports/shm.c transports/swiotlb.c transports/grant.c transports/viommu.c transports/fatvq.c transports/argo.c \
	workloads/workload.c workloads/blk/blk_wl.c workloads/net/net_wl.c workloads/scmi/scmi_wl.c \
	workloads/vq_engine.c workloads/blk/blk_vq.c workloads/net/net_vq.c workloads/scmi/scmi_vq.c workloads/loop_engine.c \
	harness/hist.c harness/suite.c harness/cell.c harness/qemu.c harness/domain.c harness/runner_fork.c harness/report.c harness/results.c harness/calib.c harness/model.c harness/peer.c harness/resume.c \
	harness/probes.c harness/perfctr.c harness/adapt.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)

TESTS := transports/tests/test_virtq transports/tests/test_uapi transports/tests/test_vdev transports/tests/test_vring \
	transports/tests/test_isolation transports/tests/test_viommu transports/tests/test_grant transports/tests/test_argo \
	transports/tests/test_swiotlb transports/tests/test_memmap transports/tests/test_hvsvc transports/tests/test_vhost_user workloads/tests/test_models workloads/tests/test_engines harness/tests/test_hist harness/tests/test_suite harness/tests/test_model \
	harness/tests/test_probes harness/tests/test_adapt harness/tests/test_report
TEST_BIN := $(TESTS:%=$(BUILD)/%)

# libFuzzer targets (clang): the device side of every transport and each
# device model's request parsing.  `make fuzz FUZZ_SECONDS=N` runs each for
# N seconds from its seed corpus; `make test` replays every seed and every
# saved crash (regress/) and runs each target briefly.
FUZZ_BUILD  := build/fuzz
FUZZ_CFLAGS := -std=gnu11 $(WARN) -O1 -g -D_GNU_SOURCE -DVTB_NO_BPF -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_SRC := $(CORE_SRC) $(MODEL_SRC) $(VHU_SRC) transports/proc/platform_proc.c transports/platforms.c transports/proc/hv_grant.c transports/proc/hv_argo.c transports/registry.c transports/vring.c \
	transports/shm.c transports/swiotlb.c transports/grant.c transports/viommu.c transports/fatvq.c transports/argo.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_TARGETS := fuzz_virtq fuzz_vhost_user fuzz_blk fuzz_net fuzz_scmi \
	fuzz_xport_shm fuzz_xport_swiotlb fuzz_xport_grant_map fuzz_xport_grant_copy fuzz_xport_grant_persistent \
	fuzz_xport_viommu_strict fuzz_xport_viommu_lazy fuzz_xport_fatvq fuzz_xport_argo_sync fuzz_xport_argo_batch
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
FUZZ_SECONDS ?= 60

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/fuzz_virtq: transports/fuzz/fuzz_virtq.c $(FUZZ_LIB_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ -luring -lpthread -lm
$(FUZZ_BUILD)/fuzz_vhost_user: transports/fuzz/fuzz_vhost_user.c $(FUZZ_LIB_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ -luring -lpthread -lm
$(FUZZ_BUILD)/fuzz_%: workloads/fuzz/fuzz_models.c $(FUZZ_LIB_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_MODEL_$* -o $@ $^ -luring -lpthread -lm
$(FUZZ_BUILD)/fuzz_xport_%: transports/fuzz/fuzz_transport.c $(FUZZ_LIB_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_XPORT='"$*"' -o $@ $^ -luring -lpthread -lm

fuzz-build: deps
	$(MAKE) $(FUZZ_BIN)

fuzz: fuzz-build
	@sh ci/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ_BUILD) $(FUZZ_TARGETS)

# The portable code cross-built for aarch64 (Debian's gcc-aarch64-linux-gnu)
# and its unit tests run under qemu-user: the barriers, alignment, char
# signedness and spin hints a lab board will see.  No probes (-DVTB_NO_BPF)
# (probes.c, whose syscall table is per arch, is left out) and no arm64
# liburing: the tests link from an archive, so each pulls in
# only the objects it needs, and blk's io_uring calls resolve to a stub.
ARM64_CC    := aarch64-linux-gnu-gcc
ARM64_AR    := aarch64-linux-gnu-ar
ARM64_BUILD := build/arm64
ARM64_CFLAGS := -std=gnu11 $(WARN) -O2 -g -D_GNU_SOURCE -DVTB_NO_BPF -MMD -MP
ARM64_TESTS := transports/tests/test_virtq workloads/tests/test_models workloads/tests/test_engines harness/tests/test_suite \
	harness/tests/test_hist harness/tests/test_model transports/tests/test_uapi transports/tests/test_memmap \
	harness/tests/test_report
ARM64_OBJ   := $(filter-out $(ARM64_BUILD)/harness/probes.o,$(LIB_SRC:%.c=$(ARM64_BUILD)/%.o)) \
	$(ARM64_BUILD)/ci/uring_stub.o
ARM64_BIN   := $(ARM64_TESTS:%=$(ARM64_BUILD)/%)

$(ARM64_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(ARM64_CC) $(ARM64_CFLAGS) -c -o $@ $<

$(ARM64_BUILD)/libvtb.a: $(ARM64_OBJ)
	rm -f $@ && $(ARM64_AR) rcs $@ $^

$(ARM64_BUILD)/%: %.c $(ARM64_BUILD)/libvtb.a
	@mkdir -p $(dir $@)
	$(ARM64_CC) $(ARM64_CFLAGS) -o $@ $< $(ARM64_BUILD)/libvtb.a -lpthread -lm

# vtbench itself for aarch64, static (arm64 liburing from Debian's
# liburing-dev:arm64), no probes: the arm64 guest image runs it on the proc
# platform (images/, vtb.test=vtbench).
ARM64_VTB_OBJ := $(filter-out $(ARM64_BUILD)/ci/uring_stub.o,$(ARM64_OBJ)) $(ARM64_BUILD)/harness/probes.o \
	$(ARM64_BUILD)/harness/main.o

$(ARM64_BUILD)/syscall_names.h:
	@mkdir -p $(dir $@)
	echo '#include <sys/syscall.h>' | $(ARM64_CC) -E -dM - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9][0-9]*\)$$/{ \2, "\1" },/p' | sort -n -t' ' -k2 > $@.tmp && mv $@.tmp $@

$(ARM64_BUILD)/harness/probes.o: $(ARM64_BUILD)/syscall_names.h
$(ARM64_BUILD)/harness/probes.o: ARM64_CFLAGS += -I$(ARM64_BUILD)
$(ARM64_BUILD)/harness/main.o: ARM64_CFLAGS += -DVTB_GIT_REV='"$(GIT_REV)"'
$(ARM64_BUILD)/harness/main.o: .FORCE

$(ARM64_BUILD)/vtbench: $(ARM64_VTB_OBJ)
	$(ARM64_CC) -static -o $@ $^ -L/usr/lib/aarch64-linux-gnu -luring -lpthread -lm

test-arm64: deps
	$(MAKE) $(ARM64_BIN)
	@$(PYTHON) ci/run-tests.py --arm64 "$(ARM64_TESTS)" --arm64-build $(ARM64_BUILD) --arm64-only

# vtbench for this machine's arch, static and without probes: what runs
# inside a guest whose initramfs has no libraries (the LAVA QEMU job of
# ci/lava, rendered with --vtbench).
STATIC_BUILD  := build/static
STATIC_CFLAGS := -std=gnu11 $(WARN) -O2 -g -D_GNU_SOURCE -DVTB_NO_BPF -MMD -MP
STATIC_OBJ    := $(LIB_SRC:%.c=$(STATIC_BUILD)/%.o) $(STATIC_BUILD)/harness/main.o

$(STATIC_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(STATIC_CFLAGS) -c -o $@ $<

$(STATIC_BUILD)/harness/probes.o: $(BPFDIR)/syscall_names.h
$(STATIC_BUILD)/harness/probes.o: STATIC_CFLAGS += -I$(BPFDIR)
$(STATIC_BUILD)/harness/main.o: STATIC_CFLAGS += -DVTB_GIT_REV='"$(GIT_REV)"'
$(STATIC_BUILD)/harness/main.o: .FORCE

$(STATIC_BUILD)/vtbench: $(STATIC_OBJ)
	$(CC) -static -o $@ $^ -luring -lpthread -lm

.PHONY: all deps test test-arm64 bench bench-qemu clean fuzz fuzz-build .FORCE
all: vtbench

# Always refreshed, so ./vtbench is the flavour (plain or SANITIZE=1) last asked for.
# By rename: a vtbench still running keeps its old file, and the new one lands.
vtbench: $(BUILD)/vtbench .FORCE
	cp $< $@.new && mv -f $@.new $@

$(BUILD)/vtbench: $(BUILD)/harness/main.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

$(BUILD)/harness/main.o: ALL_CFLAGS += -DVTB_GIT_REV='"$(GIT_REV)"'
$(BUILD)/harness/main.o: .FORCE
.FORCE:

$(BPFDIR)/vmlinux.h:
	@mkdir -p $(dir $@)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BPFDIR)/probes.bpf.o: harness/probes.bpf.c harness/probes.h $(BPFDIR)/vmlinux.h
	clang -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
		-I/usr/include/$(MULTIARCH) -I$(BPFDIR) -Iharness -c $< -o $@

$(BPFDIR)/probes.skel.h: $(BPFDIR)/probes.bpf.o
	bpftool gen skeleton $< name probes > $@.tmp && mv $@.tmp $@

# Syscall names for the rows, from the libc headers of this architecture.
$(BPFDIR)/syscall_names.h:
	@mkdir -p $(dir $@)
	echo '#include <sys/syscall.h>' | $(CC) -E -dM - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9][0-9]*\)$$/{ \2, "\1" },/p' | sort -n -t' ' -k2 > $@.tmp && mv $@.tmp $@

$(BUILD)/harness/probes.o: $(PROBES_DEPS) $(BPFDIR)/syscall_names.h
$(BUILD)/harness/probes.o: ALL_CFLAGS += -I$(BPFDIR)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%: %.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# Debian packages the build, tests and benchmark need; idempotent.
deps:
	@sh ci/install-deps.sh

# The fuzz targets are always built with ASan and UBSan, so their smoke run
# is part of the plain `make test` only (SANITIZE=1 would repeat it as is).
ifneq ($(SANITIZE),1)
TEST_FUZZ := --fuzz "$(FUZZ_TARGETS)" --fuzz-build $(FUZZ_BUILD)
endif

# The guests on QEMU's built-in devices run no vtbench code, so SANITIZE=1
# would only repeat them: plain `make test` only, like the fuzz smoke run.
ifneq ($(SANITIZE),1)
TEST_GUESTS := --guests
endif

test: deps
	$(MAKE) vtbench $(TEST_BIN) $(ARM64_BIN)
	$(if $(TEST_GUESTS),$(MAKE) $(IMAGES) $(ARM64_BUILD)/vtbench $(STATIC_BUILD)/vtbench)
	$(if $(TEST_FUZZ),$(MAKE) $(FUZZ_BIN))
	@$(PYTHON) ci/run-tests.py --build $(BUILD) $(TESTS:%=--unit %) \
		--freestanding "$(CORE_SRC) $(MODEL_SRC) $(VHU_SRC)" $(TEST_FUZZ) $(TEST_GUESTS) \
		--arm64 "$(ARM64_TESTS)" --arm64-build $(ARM64_BUILD)

# The same workloads inside Linux guests (platform=qemu): not in make bench.
bench-qemu: deps
	$(MAKE) vtbench images
	@dir=$$(./vtbench run harness/suites/qemu.suite); rc=$$?; \
		echo "results: $$dir"; \
		[ -n "$$dir" ] && { rep=$$(./vtbench report "$$dir") || rc=3; echo "report: $$rep"; }; exit $$rc

bench: deps
	$(MAKE) vtbench
	@dir=$$(./vtbench run harness/suites/default.suite); rc=$$?; \
		[ -n "$$dir" ] && $(PYTHON) analysis/summary.py "$$dir" --vs-shm; \
		echo "results: $$dir"; \
		[ -n "$$dir" ] && { rep=$$(./vtbench report "$$dir") || rc=3; echo "report: $$rep"; }; exit $$rc

clean:
	rm -rf build vtbench

# Guest kernels, initramfs and device tree for QEMU (`make images`).
include images/images.mk

-include $(shell find $(BUILD) -path build/images -prune -o -name '*.d' -print 2>/dev/null)

# The net fast path in a fixed schedule, for callgrind's instruction counts
# per frame (transports/core/README.md).
$(BUILD)/ci/fastpath_steps: ci/fastpath_steps.c $(filter-out $(BUILD)/harness/%,$(LIB_OBJ)) $(BUILD)/harness/hist.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)
