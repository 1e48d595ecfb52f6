# aurum-c — the user's entry points. Every target installs the Debian packages it needs when
# they are missing, configures and builds. See README.md.
#
#   make demo        build, then run 3 nodes and 6 devices with the aurum command (tools/demo.sh)
#   make test        the whole suite: normal build, ASan+UBSan, TSan, valgrind, compile-fail, fuzz;
#                    closes with "make test: N passed, F failed, K skipped" (AU_REQUIRE_ALL=1:
#                    a skip fails the run)
#   make bench       benchmarks side by side with CAF and Erlang (bench-quick: reduced sizes)
#                    then the cluster side by side with Serf and at scale (bench-cluster: only those)
#   make fuzz        run every libFuzzer harness for FUZZ_SECONDS each
#   make install     install the library, headers, CMake package, aurum.pc, the aurum command
#                    and its man pages (PREFIX)
#   make docs        the API reference from include/aurum/*.h (Doxygen) into build/docs/html
#   make size        the device client alone, -Os, x86-64 and Cortex-M4: .text/.data/.bss

SHELL := /bin/bash
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 60
# make test's fuzz stage: TEST_FUZZ_TOTAL seconds shared by every harness (fuzz/fuzz_*.c), so a
# new harness does not lengthen the suite; TEST_FUZZ_SECONDS overrides the per-harness share.
# 150: nine harnesses of 16 s each (it was 120 for six of 20 s; the CRDT, share and cluster
# harnesses added 30 s of fuzzing to the stage).
TEST_FUZZ_TOTAL ?= 150
FUZZ_HARNESSES := $(words $(wildcard fuzz/fuzz_*.c))
TEST_FUZZ_SECONDS ?= $(shell echo $$(( $(TEST_FUZZ_TOTAL) / ($(FUZZ_HARNESSES) + ($(FUZZ_HARNESSES) == 0)) )))
CMAKE_FLAGS ?=

DEPS := cmake make gcc g++ clang libclang-rt-14-dev pkg-config valgrind libuv1-dev libcbor-dev \
        libsodium-dev libxxhash-dev libcmocka-dev iproute2 iputils-ping python3 groff-base
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: docs docs-deps size deps demo test test-reset test-fast test-asan test-tsan test-valgrind test-install test-fuzz build bench bench-quick bench-cluster fuzz install clean

deps:
	@missing=""; for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# The API reference needs doxygen, which nothing else does: its own install. The suite's
# docs_doxygen test runs it too, so test-fast installs it first (else the test would skip, and
# a skip fails CI).
DOCS_DEPS := doxygen
docs-deps:
	@missing=""; for p in $(DOCS_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

docs: docs-deps
	bash tests/docs/doxygen.sh . build/docs

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)

# The whole system as separate processes on 127.0.0.1, driven by the aurum command (tools/demo.sh);
# the older in-process demo of the runtime is examples/demo.c (./build/demo).
demo: build
	@bash tools/demo.sh build/tools/aurum/aurum

# The tally of every suite below (tests/support/results.sh): each test is recorded as passed,
# failed or skipped, and `make test` closes with "make test: N passed, F failed, K skipped" and
# the name of every skipped test. AU_REQUIRE_ALL=1 (CI) makes any skip a failure, except the
# tests named in AU_ALLOW_SKIP (space separated).
RESULTS := $(CURDIR)/build/test-results
TALLY := env AU_TEST_RESULTS=$(RESULTS) bash $(CURDIR)/tests/support/results.sh

test-reset:
	@$(TALLY) reset

test-fast: build docs-deps
	@$(TALLY) ctest fast build -j$(JOBS) --output-on-failure

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAU_SANITIZE=address,undefined -DAU_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j$(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(TALLY) ctest asan build-asan -j$(JOBS) --output-on-failure -E '^compile_'

test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAU_SANITIZE=thread -DAU_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build build-tsan -j$(JOBS)
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  setarch $$(uname -m) -R $(TALLY) ctest tsan build-tsan -j$(JOBS) --output-on-failure -E '^compile_'

# Every cmocka suite of the normal build under memcheck: no invalid access, no definite leak.
# A suite that exits 77 skipped (it says why); every suite runs, then the tally decides. The
# mailbox floods (tests/core/test_mailbox.c) send 1,000,000 messages each in the other builds;
# under memcheck, which runs one thread at a time, AU_TEST_FLOOD_N scales them down.
test-valgrind: build
	@rm -f $(RESULTS)/valgrind.*; for t in build/tests/test_*; do \
	  [ -x "$$t" ] || continue; name=$$(basename $$t); rc=0; \
	  AU_TEST_FLOOD_N=20000 valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
	    "$$t" > "$$t.valgrind.log" 2>&1 || rc=$$?; \
	  if [ $$rc = 0 ]; then echo "valgrind: $$name clean"; $(TALLY) record valgrind passed $$name; \
	  elif [ $$rc = 77 ]; then why=$$(grep -m1 '^skipping: ' "$$t.valgrind.log" | sed 's/^skipping: //'); \
	    echo "valgrind: $$name skipped ($$why)"; $(TALLY) record valgrind skipped $$name "$$why"; \
	  else tail -40 "$$t.valgrind.log"; echo "valgrind: $$name FAILED (exit $$rc)"; \
	    $(TALLY) record valgrind failed $$name; fi; \
	done; $(TALLY) close valgrind

# Installs into a scratch prefix, then builds every program in examples/ out of tree against it,
# with find_package(aurum) (shared and static) and with pkg-config, and runs each build
# (tests/install/run.sh says what each run must show; kv_server and kv_client run as a pair).
test-install: build
	@rm -f $(RESULTS)/install.*
	rm -rf build/install-test && cmake --install build --prefix build/install-test/prefix >/dev/null
	@TALLY="$(TALLY)" bash tests/install/run.sh . build/install-test/prefix build/install-test || true
	@if build/install-test/prefix/bin/aurum --version | grep -q '^aurum ' \
	  && [ -f build/install-test/prefix/share/man/man1/aurum.1 ] \
	  && [ -f build/install-test/prefix/share/man/man1/aurum-node.1 ]; \
	then $(TALLY) record install passed aurum_cli; else echo "install: bin/aurum or its man pages missing"; \
	  $(TALLY) record install failed aurum_cli; fi
	@$(TALLY) close install
	@echo "install: every example built with find_package (shared, static) and pkg-config, and run; aurum and its man pages installed"

test-fuzz: deps
	@rm -f $(RESULTS)/fuzz.*
	@if command -v clang >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) FUZZ_TALLY=1; \
	else echo "fuzz: skipped, clang not found"; $(TALLY) record fuzz skipped fuzz "clang not found"; fi
	@$(TALLY) close fuzz

test: test-reset test-fast test-install test-asan test-tsan test-valgrind test-fuzz
	@$(TALLY) summary

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAU_BUILD_FUZZ=ON \
	  -DAU_BUILD_TESTS=OFF -DAU_BUILD_EXAMPLES=OFF >/dev/null
	cmake --build build-fuzz -j$(JOBS)
	@set -e; for h in build-fuzz/fuzz/fuzz_*; do \
	  [ -x "$$h" ] || continue; name=$$(basename $$h); \
	  mkdir -p build-fuzz/corpus/$$name; seeds=fuzz/corpus/$$name; [ -d $$seeds ] || seeds=; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	  $$h -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 build-fuzz/corpus/$$name $$seeds 2>build-fuzz/$$name.log \
	    || { tail -40 build-fuzz/$$name.log; [ -z "$(FUZZ_TALLY)" ] || $(TALLY) record fuzz failed $$name; exit 1; }; \
	  grep -E '^(#[0-9]+|Done)' build-fuzz/$$name.log | tail -1; \
	  [ -z "$(FUZZ_TALLY)" ] || $(TALLY) record fuzz passed $$name; \
	done

# The device client built alone (tools/device/size.sh), with and without sealing. The Cortex-M4
# build needs Debian's cross compiler; it is installed when missing, and skipped if that fails.
SIZE_DEPS := gcc-arm-none-eabi libnewlib-arm-none-eabi
size: deps
	@missing=""; for p in $(SIZE_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; } \
	    || echo "size: could not install$$missing; Cortex-M4 skipped"; \
	fi
	tools/device/size.sh --check . build-size

bench: deps
	bench/run.sh
	bench/devices/run.sh
	bench/cluster/run.sh; rc=$$?; [ $$rc = 0 ] || [ $$rc = 77 ]
	$(SHARE_BENCH)
	$(CRDT_BENCH)
	$(HOT_KEY_BENCH)

bench-quick: deps
	bench/run.sh --quick
	RUNS=1 SIZES=10 bench/cluster/run.sh; rc=$$?; [ $$rc = 0 ] || [ $$rc = 77 ]
	$(SHARE_BENCH) quick
	$(CRDT_BENCH) 10000
	$(HOT_KEY_BENCH) 2000

# CRDT sharing on loopback UDP (bench/crdt/share_bench.c; figures in docs/benchmarks.md).
SHARE_BENCH = cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAU_BUILD_BENCH=ON >/dev/null && \
	cmake --build build-bench -j$(JOBS) --target share_bench >/dev/null && build-bench/bench/crdt/share_bench

# The ORSet at 100,000 elements: memory per element, encode/decode and join times
# (bench/crdt/crdt_bench.c; figures in docs/benchmarks.md).
CRDT_BENCH = cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAU_BUILD_BENCH=ON >/dev/null && \
	cmake --build build-bench -j$(JOBS) --target crdt_bench >/dev/null && build-bench/bench/crdt/crdt_bench

# One ORSet element and one ORMap key updated 8,000 times within one delta window: time and the
# group's size (bench/crdt/hot_key_bench.c; figures in docs/benchmarks.md; bench-quick: 2,000).
HOT_KEY_BENCH = cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAU_BUILD_BENCH=ON >/dev/null && \
	cmake --build build-bench -j$(JOBS) --target hot_key_bench >/dev/null && build-bench/bench/crdt/hot_key_bench

# Only the cluster benchmarks (side by side with Serf, and scale in simulation).
bench-cluster: deps
	bench/cluster/run.sh

install: build
	cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan build-fuzz build-bench build-size
