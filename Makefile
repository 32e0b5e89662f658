# The entry points. `make run` and `make test` set up a fresh Debian 12 machine themselves.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: deps configure build run test bench fuzz clean format

deps:
	@scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE); fi

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/parley serve --listen 127.0.0.1:8080 --data-dir ./data

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: build
	$(BUILD_DIR)/bench/parley_bench

# Open-ended fuzzing with clang's libFuzzer, ASan and UBSan: FUZZ_SECONDS per target. New
# inputs go to build-fuzz/corpus-*; crashes are written to the current directory. Release (no
# -g): clang 14 cannot emit debug info for coroutines under the sanitizers.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = json url token
fuzz:
	@scripts/install-deps.sh --fuzz
	@if [ ! -f build-fuzz/build.ninja ]; then \
	  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DPARLEY_LIBFUZZER=ON \
	    -DCMAKE_BUILD_TYPE=Release; fi
	cmake --build build-fuzz -j $(JOBS) --target $(addsuffix _fuzz,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do mkdir -p build-fuzz/corpus-$$t; \
	  build-fuzz/tests/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    build-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; done

clean:
	rm -rf $(BUILD_DIR)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i
