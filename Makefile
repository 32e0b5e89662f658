# The entry points. `make run` and `make test` set up a fresh Debian 12 machine themselves.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: deps configure build web run test web-test bench bench-trace storm soak fuzz clean format

deps:
	@scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE); fi

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)
	@$(MAKE) --no-print-directory web

# The web app: npm ci (only when the lock file changed) and vite build into web/dist, which
# `parley serve` serves at /. Skipped, with one line, where node is not installed.
web:
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "web: skipped (node/npm not installed; scripts/install-deps.sh installs them)"; \
	else cd web && \
	  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	    npm ci --no-audit --no-fund --loglevel=error; fi && \
	  npm run --silent build; fi

run: build
	$(BUILD_DIR)/parley serve --listen 127.0.0.1:8080 --data-dir ./data

# A throw-away Redis (scripts/redis.sh), a throw-away PostgreSQL (scripts/postgres.sh, fsync
# off), a throw-away s3rver (scripts/s3.sh, with its key pair), a throw-away RabbitMQ
# (scripts/rabbitmq.sh) and a Web Push service stand-in (scripts/push-service.sh) on loopback
# for the `db` and notification tests, stopped however ctest ends. Where one is not installed
# its tests skip; a PARLEY_TEST_REDIS_URL, PARLEY_TEST_POSTGRES_URL, PARLEY_TEST_S3_URL,
# PARLEY_TEST_AMQP_URL or PARLEY_TEST_PUSH_URL already set is used instead.
test: build
	@pg="$$(mktemp -d "$${TMPDIR:-/tmp}/parley-pg-test.XXXXXX")"; \
	  s3="$$(mktemp -d "$${TMPDIR:-/tmp}/parley-s3-test.XXXXXX")"; \
	  redis=; amqp=; push=; trap '[ -z "$$redis" ] || $(CURDIR)/scripts/redis.sh stop; [ -z "$$amqp" ] || $(CURDIR)/scripts/rabbitmq.sh stop; [ -z "$$push" ] || $(CURDIR)/scripts/push-service.sh stop; $(CURDIR)/scripts/postgres.sh stop "$$pg"; if [ -f "$$s3/server.log" ] && ! $(CURDIR)/scripts/s3.sh url "$$s3" >/dev/null 2>&1; then echo "make test: s3rver stopped during the tests; the end of its log:"; tail -n 30 "$$s3/server.log"; fi; $(CURDIR)/scripts/s3.sh stop "$$s3"' EXIT INT TERM; \
	  if [ -z "$$PARLEY_TEST_REDIS_URL" ]; then redis=1; \
	    PARLEY_TEST_REDIS_URL="$$($(CURDIR)/scripts/redis.sh start || true)"; fi; \
	  export PARLEY_TEST_REDIS_URL; \
	  if [ -z "$$PARLEY_TEST_AMQP_URL" ]; then amqp=1; \
	    PARLEY_TEST_AMQP_URL="$$($(CURDIR)/scripts/rabbitmq.sh start)"; st=$$?; \
	    if [ $$st -eq 3 ]; then echo "make test: RabbitMQ is not installed: its tests are skipped"; \
	    elif [ $$st -ne 0 ]; then exit $$st; fi; \
	  fi; \
	  export PARLEY_TEST_AMQP_URL; \
	  if [ -z "$$PARLEY_TEST_PUSH_URL" ]; then push=1; \
	    PARLEY_TEST_PUSH_URL="$$($(CURDIR)/scripts/push-service.sh start)"; st=$$?; \
	    if [ $$st -eq 3 ]; then echo "make test: node is not installed: the push service test is skipped"; \
	    elif [ $$st -ne 0 ]; then exit $$st; fi; \
	  fi; \
	  export PARLEY_TEST_PUSH_URL; \
	  if [ -z "$$PARLEY_TEST_POSTGRES_URL" ]; then \
	    PARLEY_TEST_POSTGRES_URL="$$($(CURDIR)/scripts/postgres.sh start --fast "$$pg")"; st=$$?; \
	    if [ $$st -eq 3 ]; then echo "make test: PostgreSQL is not installed: its tests are skipped"; \
	    elif [ $$st -ne 0 ]; then exit $$st; fi; \
	  fi; \
	  export PARLEY_TEST_POSTGRES_URL; \
	  if [ -z "$$PARLEY_TEST_S3_URL" ]; then \
	    $(CURDIR)/scripts/s3.sh start "$$s3" >/dev/null; st=$$?; \
	    if [ $$st -eq 3 ]; then echo "make test: node is not installed: the S3 server tests are skipped"; \
	    elif [ $$st -ne 0 ]; then exit $$st; \
	    else eval "$$($(CURDIR)/scripts/s3.sh env "$$s3")"; fi; \
	  fi; \
	  cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600
	@$(MAKE) --no-print-directory web-test

# Vitest unit tests, then the Playwright end-to-end tests against the real binary with
# Debian's Chromium (web/e2e/run.mjs skips them with one line where Chromium is missing).
web-test:
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "web tests: skipped (node/npm not installed)"; \
	else cd web && npm test --silent && PARLEY_BIN=$(abspath $(BUILD_DIR))/parley npm run --silent e2e; fi

bench: build
	$(BUILD_DIR)/bench/parley_bench
	cd web && node e2e/run.mjs --bench

# The cost of tracing: fan-out and durable sends with tracing off, at 1 % and at 100 % sampling.
bench-trace: build
	$(BUILD_DIR)/bench/parley_bench --scenario fanout,durable --fanout 100
	$(BUILD_DIR)/bench/parley_bench --scenario fanout,durable --fanout 100 --trace-ratio 0.01
	$(BUILD_DIR)/bench/parley_bench --scenario fanout,durable --fanout 100 --trace-ratio 1

# The reconnect storm at full size: STORM_CLIENTS clients dropped by a server restart, all back
# and caught up within 60 s (make test runs it with 1,000).
STORM_CLIENTS ?= 5000
storm: build
	PARLEY_TEST_STORM_CLIENTS=$(STORM_CLIENTS) $(BUILD_DIR)/tests/integration/integration_test \
	  --gtest_filter='ReconnectStorm.*'

# Not in CI: SOAK_SECONDS of steady load with the server's RSS and open fds sampled each minute
# and the growth printed (bench/RESULTS.md has a run's figures).
SOAK_SECONDS ?= 3600
soak: build
	SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD_DIR)/tests/soak/parley_soak

# Open-ended fuzzing with clang's libFuzzer, ASan and UBSan: FUZZ_SECONDS per target. New
# inputs go to build-fuzz/corpus-*; crashes are written to the current directory. Release (no
# -g): clang 14 cannot emit debug info for coroutines under the sanitizers.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = json url token messaging ws_frame previews vips
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
