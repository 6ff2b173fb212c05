# maxsess — the two commands: `make run` and `make test` (see README.md);
# `make bench` measures it beside its anchors (docs/performance.md).
# Debian 12; the first build installs packages (scripts/deps.sh, root or sudo).

BUILD_DIR   ?= build
BUILD_TYPE  ?= RelWithDebInfo
JOBS        ?= 2
CONFIG      ?= config/example.yaml
RUN_PG_DIR  ?= .local/pg
RUN_PG_PORT ?= 55432
RUN_HTTP    ?= 127.0.0.1:8080
RUN_EMU_PORT ?= 18081
PREFIX      ?= /usr/local

# Sanitizer and fuzz builds (docs/testing.md), each in its own folder.
FUZZ_DIR    ?= build-fuzz
ASAN_DIR    ?= build-asan
TSAN_DIR    ?= build-tsan

CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
ifeq ($(CI),true)
CMAKE_FLAGS += -DMAXSESS_WERROR=ON
endif
# ccache when installed: the ASan and fuzz builds are long on 2 cores.
CCACHE := $(shell command -v ccache 2>/dev/null)
ifneq ($(CCACHE),)
CMAKE_FLAGS += -DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE)
endif
# The fuzz_short_* tests of `make test` run the libFuzzer binaries of $(FUZZ_DIR).
CMAKE_FLAGS += -DMAXSESS_FUZZ_BUILD_DIR=$(abspath $(FUZZ_DIR))

.PHONY: all build test run stop-db deps clean bench capacity install deb soak fuzz-build fuzz test-asan test-tsan

all: build

deps:
	scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Unit and integration tests; ctest fixtures start and stop a throwaway
# PostgreSQL ($(BUILD_DIR)/test-pg) around the integration tests.
# MAXSESS_PG_FAST=1: that server runs without fsync (pg.sh --fast).
# Also a short libFuzzer run of each fuzz target (label fuzz,
# MAXSESS_FUZZ_SHORT_SECONDS each), so `make test` builds $(FUZZ_DIR) too.
test: build fuzz-build
	cd $(BUILD_DIR) && MAXSESS_PG_FAST=1 ctest --output-on-failure -j$(JOBS)

# The libFuzzer targets of tests/fuzz, built by clang with ASan + UBSan.
# Warnings are gcc's job (the product build); clang's own set must not fail CI.
fuzz-build: deps
	CXX=clang++ cmake -S . -B $(FUZZ_DIR) $(CMAKE_FLAGS) -DMAXSESS_FUZZ=ON -DMAXSESS_WERROR=OFF
	cmake --build $(FUZZ_DIR) --target fuzzers -j$(JOBS)

# Not part of `test`: each fuzz target until 10 M executions (FUZZ_RUNS),
# at most FUZZ_MAX_SECONDS (7200) each; figures in $(FUZZ_DIR)/fuzz-report.txt.
fuzz: fuzz-build
	scripts/fuzz.sh long $(FUZZ_DIR)

# The unit and integration suites under ASan + UBSan (gcc). Any report of
# any process (the daemons the tests start included) fails it (scripts/sanitize.sh).
# Only what labels unit and integration run: not the cluster and fault test
# binaries that `all` also builds (they are not run under ASan).
ASAN_TESTS := maxsessd loadgen_tests \
  $(addsuffix _tests,$(addprefix unit_,domain config actors net cluster daemon)) \
  $(addsuffix _tests,$(addprefix integration_,storage daemon flussonic)) \
  $(addprefix replay_,auth_query config_load link_request playback_ini token_verify webhook_batch)
test-asan: deps
	cmake -S . -B $(ASAN_DIR) $(CMAKE_FLAGS) -DMAXSESS_SANITIZE=address -DMAXSESS_WERROR=OFF
	cmake --build $(ASAN_DIR) -j$(JOBS) --target $(ASAN_TESTS)
	scripts/sanitize.sh address $(ASAN_DIR) $(JOBS)

# The CAF-free parts under TSan: domain, config, storage, the HTTP server,
# the Flussonic client (Debian's libcaf_core is not built with TSan).
TSAN_TESTS := unit_domain_tests unit_config_tests unit_net_tests unit_cluster_tests integration_storage_tests
test-tsan: deps
	cmake -S . -B $(TSAN_DIR) $(CMAKE_FLAGS) -DMAXSESS_SANITIZE=thread
	cmake --build $(TSAN_DIR) -j$(JOBS) --target $(TSAN_TESTS)
	scripts/sanitize.sh thread $(TSAN_DIR) $(JOBS)

# Not part of `test`: maxsess's figures beside nginx, a bare Beast server
# and Redis+Lua, measured in one run (under 10 minutes) and printed as one
# table; figures in $(BUILD_DIR)/bench/results.json (scripts/bench.sh).
bench: deps
	BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) scripts/bench.sh

# Not part of `test` or CI: 30 minutes of links, auth updates and webhooks
# at half the peak, RSS and open files each minute into
# $(BUILD_DIR)/soak/soak.csv and soak.png; SOAK_MINUTES, SOAK_RATE and
# SOAK_SAMPLE_SECONDS shorten it (scripts/soak.sh, docs/faults.md).
soak: deps
	BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) scripts/soak.sh

# docs/capacity.md from the figures of the last `make bench` (what N
# concurrent sessions need: nodes, PostgreSQL write rate, failover).
capacity:
	scripts/capacity.py --results $(BUILD_DIR)/bench/results.json --out docs/capacity.md

# The config checked, a private PostgreSQL in $(RUN_PG_DIR) (kept between
# runs; `make stop-db` stops it), the schema, the Flussonic emulator as
# streamer 1, then the daemon in the foreground (scripts/run.sh;
# scripts/try.sh walks the whole loop against it).
run: build
	BUILD_DIR=$(BUILD_DIR) CONFIG=$(CONFIG) RUN_PG_DIR=$(RUN_PG_DIR) RUN_PG_PORT=$(RUN_PG_PORT) RUN_HTTP=$(RUN_HTTP) RUN_EMU_PORT=$(RUN_EMU_PORT) scripts/run.sh

# The daemon, its unit, /etc/maxsess/maxsess.yaml (kept when present) and
# the docs under PREFIX (default /usr/local); DESTDIR=/stage honoured.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD_DIR) --prefix "$(PREFIX)" --strip

# The Debian package $(BUILD_DIR)/deb/maxsess_VERSION-1_ARCH.deb (CPack;
# dpkg-shlibdeps from dpkg-dev, in scripts/deps.sh, computes Depends).
# docs/install.md.
deb: build
	cd $(BUILD_DIR) && cpack -G DEB

stop-db:
	scripts/pg.sh stop $(RUN_PG_DIR)

clean:
	-scripts/pg.sh stop $(BUILD_DIR)/test-pg
	-scripts/pg.sh stop $(ASAN_DIR)/test-pg
	-scripts/pg.sh stop $(TSAN_DIR)/test-pg
	rm -rf $(BUILD_DIR) $(FUZZ_DIR) $(ASAN_DIR) $(TSAN_DIR)
