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

# Style check with .clang-format over every C++ source git knows of (the tree
# was formatted once, in its own commit).  `make format` rewrites in place.
FORMAT_FILES ?= $(shell git ls-files '*.cc' '*.h' '*.cpp' 2>/dev/null || find block coroutine crypto hw util qemu-*-lite tests bench -name '*.cc' -o -name '*.h' -o -name '*.cpp')
format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)
format:
	clang-format -i $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-ucontext build-thread build-fuzz
