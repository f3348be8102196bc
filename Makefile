# palabre — the two commands of the README, and a few helpers.
#   make        build build/palabre
#   make run    install what is missing, build, run palabre
#   make test   install what is missing, build (normal + ASan/UBSan), run every test
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all build run test bootstrap fuzz format clean

all: build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

bootstrap:
	scripts/bootstrap

run: bootstrap
	$(MAKE) build
	scripts/run

test: bootstrap
	scripts/test-all

# Long fuzzing sessions (make test runs each target briefly).
fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
