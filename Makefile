# Thin wrapper around meson/ninja.  See README.md.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON ?= meson

.PHONY: all deps build check check-asan check-backends check-qemu-iotests bench demo fuzz clean format-check

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Unit tests (all coroutine backends), iotests-lite per format, and the
# ASan+UBSan build; the last line printed is "N passed, N failed".
check: deps build
	@./scripts/check.sh all

# QEMU 7.2's own bash iotests (../shared/qemu-iotests-7.2) against build/'s
# tools linked as qemu-img/qemu-io/qemu-nbd; see scripts/qemu-iotests.sh.
check-qemu-iotests: deps build
	@QEMU_LITE_BUILD=$(BUILD) ./scripts/qemu-iotests.sh

check-asan: deps
	@./scripts/check.sh asan

bench: deps build
	@./scripts/bench.sh

demo: deps build
	@./scripts/demo.sh

fuzz: deps
	@./scripts/fuzz.sh

# Style check with .clang-format.  Until the tree's one-time reformat only the
# files listed here are held to it; then the list becomes every source.
FORMAT_FILES ?= block/query.cc block/snapshot.cc block/image-ops.cc \
	util/json-output.cc util/json-output.h
format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-ucontext build-thread build-fuzz
