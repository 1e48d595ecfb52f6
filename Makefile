# aurum-c — the user's entry points. Every target installs the Debian packages it needs when
# they are missing, configures and builds. See README.md.
#
#   make demo        build and run the demo
#   make test        the whole suite: normal build, ASan+UBSan, TSan, valgrind, compile-fail, fuzz
#   make bench       benchmarks side by side with CAF and Erlang (bench-quick: reduced sizes),
#                    then the cluster side by side with Serf and at scale (bench-cluster: only those)
#   make fuzz        run every libFuzzer harness for FUZZ_SECONDS each
#   make install     install the library, headers, CMake package and aurum.pc (PREFIX)

SHELL := /bin/bash
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 30
CMAKE_FLAGS ?=

DEPS := cmake make gcc g++ clang libclang-rt-14-dev pkg-config valgrind libuv1-dev libcbor-dev \
        libsodium-dev libxxhash-dev libcmocka-dev iproute2 iputils-ping
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps demo test test-fast test-asan test-tsan test-valgrind test-install test-fuzz build bench bench-quick bench-cluster fuzz install clean

deps:
	@missing=""; for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)

demo: build
	./build/demo

test-fast: build
	ctest --test-dir build -j$(JOBS) --output-on-failure

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAU_SANITIZE=address,undefined -DAU_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build-asan -j$(JOBS) --output-on-failure -E '^compile_'

test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAU_SANITIZE=thread -DAU_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build build-tsan -j$(JOBS)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  setarch $$(uname -m) -R ctest --test-dir build-tsan -j$(JOBS) --output-on-failure -E '^compile_'

# Every cmocka suite of the normal build under memcheck: no invalid access, no definite leak.
test-valgrind: build
	@set -e; for t in build/tests/test_*; do \
	  [ -x "$$t" ] || continue; \
	  if valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
	       "$$t" > "$$t.valgrind.log" 2>&1; then echo "valgrind: $$(basename $$t) clean"; \
	  else tail -40 "$$t.valgrind.log"; echo "valgrind: $$(basename $$t) FAILED"; exit 1; fi; \
	done

# Installs into a scratch prefix, then builds and runs a consumer with find_package and with
# pkg-config: the package must be usable as installed.
test-install: build
	rm -rf build/install-test && cmake --install build --prefix build/install-test/prefix >/dev/null
	cmake -S tests/install -B build/install-test/cmake -DCMAKE_PREFIX_PATH=$(CURDIR)/build/install-test/prefix >/dev/null
	cmake --build build/install-test/cmake >/dev/null
	LD_LIBRARY_PATH=build/install-test/prefix/lib build/install-test/cmake/consumer_shared | grep -q "total 42"
	build/install-test/cmake/consumer_static | grep -q "total 42"
	cc examples/quickstart.c -o build/install-test/consumer_pc \
	  $$(PKG_CONFIG_PATH=build/install-test/prefix/lib/pkgconfig pkg-config --cflags --libs --static aurum)
	LD_LIBRARY_PATH=build/install-test/prefix/lib build/install-test/consumer_pc | grep -q "total 42"
	@echo "install: find_package (shared, static) and pkg-config consumers build and run"

test-fuzz: deps
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

test: test-fast test-install test-asan test-tsan test-valgrind test-fuzz
	@echo "make test: all suites passed"

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAU_BUILD_FUZZ=ON \
	  -DAU_BUILD_TESTS=OFF -DAU_BUILD_EXAMPLES=OFF >/dev/null
	cmake --build build-fuzz -j$(JOBS)
	@set -e; for h in build-fuzz/fuzz/fuzz_*; do \
	  [ -x "$$h" ] || continue; name=$$(basename $$h); \
	  mkdir -p build-fuzz/corpus/$$name; seeds=fuzz/corpus/$$name; [ -d $$seeds ] || seeds=; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	  $$h -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 build-fuzz/corpus/$$name $$seeds 2>build-fuzz/$$name.log \
	    || { tail -40 build-fuzz/$$name.log; exit 1; }; \
	  grep -E '^(#[0-9]+|Done)' build-fuzz/$$name.log | tail -1; \
	done

bench: deps
	bench/run.sh
	bench/cluster/run.sh; rc=$$?; [ $$rc = 0 ] || [ $$rc = 77 ]

bench-quick: deps
	bench/run.sh --quick
	RUNS=1 SIZES=10 bench/cluster/run.sh; rc=$$?; [ $$rc = 0 ] || [ $$rc = 77 ]

# Only the cluster benchmarks (side by side with Serf, and scale in simulation).
bench-cluster: deps
	bench/cluster/run.sh

install: build
	cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan build-fuzz build-bench
