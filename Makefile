# Berth — a thin wrapper over meson for the README's commands.
#   make          build everything (binaries under build/, test guest under build/guest/)
#   make test     install what is missing, build, check layering, run unit + sanitizer + e2e tests
#   make demo     install what is missing, build, run the demo host under ./run
#   make scenarios  the whole-system bug-class scenarios and berth doctor's, SCENARIO_ROUNDS
#                 times (default 1), then a table of rounds, passes and timings
#   make bench    the targets at their vhost-user-blk sockets: blockd (event mode, --busy-poll),
#                 qemu-storage-daemon and SPDK_TGT when set, pinned, same backends; a table of IOPS,
#                 latency percentiles and ratios (BENCH_S seconds per run, BENCH_FILTER rows;
#                 docs/performance.md)
#   make bench-guest  guest IOPS through blockd vs qemu-storage-daemon under TCG (the guest is the
#                 bottleneck: a regression baseline, not the target's ceiling)
#   make bench-store  1000 VM rows created/listed/updated through the store API, SQLite vs
#                 PostgreSQL (a private server; prints figures)
#   make fuzz     every libFuzzer target for FUZZ_S seconds (default 60) each (docs/fuzzing.md)
#   make install  binaries, systemd units, man pages and bash completion under /usr/local (DESTDIR=DIR stages)
# CC=clang make builds with clang (in build-clang/).

ifeq ($(origin CC),default)
BUILD ?= build
MESON_ENV :=
else
BUILD ?= build-$(notdir $(CC))
MESON_ENV := CC=$(CC)
endif
ASAN_BUILD := build-asan
PYTEST := /usr/bin/python3 -m pytest

.PHONY: all setup build guest test unit e2e scenarios check-asan check-clang check-layering \
	check-fuzz fuzz fuzz-build bench bench-guest bench-store demo install clean

all: build guest

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	$(MESON_ENV) meson setup $(BUILD) >/dev/null

build: $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null || ninja -C $(BUILD)

guest:
	@guest/build.sh build/guest

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

# The unit tests and the blockd e2e tests (RPC, vhost-user with guests) again, under AddressSanitizer + UBSan.
check-asan: $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD) >/dev/null || ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs
	BERTH_BUILD=$(ASAN_BUILD) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(PYTEST) -q tests/e2e/test_blockd_rpc.py tests/e2e/test_vhost_blk.py

check-clang:
	@$(MAKE) --no-print-directory CC=clang build

# No two files of src/ that call each other, directly or around a cycle (from the objects' symbols).
# Every rule of docs/architecture.md owned by the one file it names, which says so; nothing
# points at a document outside the repository.
check-layering: build
	@scripts/check-layering $(BUILD)
	@scripts/check-rules

# libFuzzer targets (tests/fuzz): clang, everything instrumented, in a build dir of their own.
# make fuzz runs each target for FUZZ_S seconds, one at a time (FUZZ_JOBS parallel workers per
# target, default 1; FUZZ_RSS_MB the memory limit, default 2048), on a scratch copy of its seed corpus (the repo is never written), and
# fails on the first finding; crashes are kept in $(FUZZ_OUT)/<target>/.
FUZZ_BUILD := build-fuzz
FUZZ_S ?= 60
FUZZ_JOBS ?= 1
FUZZ_TARGETS := jsonrpc qmp vhost_user virtqueue persist conf vm_state desired
FUZZ_OUT ?= $(FUZZ_BUILD)/runs

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dtests=disabled >/dev/null

fuzz-build: $(FUZZ_BUILD)/build.ninja
	@ninja -C $(FUZZ_BUILD) >/dev/null || ninja -C $(FUZZ_BUILD)

fuzz: fuzz-build
	@FUZZ_S=$(FUZZ_S) FUZZ_JOBS=$(FUZZ_JOBS) scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_OUT) $(FUZZ_TARGETS)

# make test's short pass: every target briefly, with its corpus.
check-fuzz:
	@$(MAKE) --no-print-directory fuzz FUZZ_S=5

e2e: build guest
	$(PYTEST) -q --durations=25 tests/e2e

test: setup
	@$(MAKE) --no-print-directory build guest
	@$(MAKE) --no-print-directory check-clang
	@$(MAKE) --no-print-directory check-layering
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory check-asan
	@$(MAKE) --no-print-directory check-fuzz
	@$(MAKE) --no-print-directory e2e

# The bug-class scenarios (docs/architecture.md) and test_doctor.py, SCENARIO_ROUNDS times each.
SCENARIO_ROUNDS ?= 1
scenarios: build guest
	SCENARIO_ROUNDS=$(SCENARIO_ROUNDS) SCENARIO_PYTEST="$(PYTEST)" scripts/scenarios

# Figures, not pass/fail. make bench: the targets measured at their sockets (bench/target_bench.py,
# docs/performance.md); make bench-guest: the TCG guest's IOPS through blockd and
# qemu-storage-daemon (the guest's CPU is the limit there).
bench: build
	bench/target_bench.py

bench-guest: build guest
	bench/vhost_guest_iops.py

bench-store: build
	$(BUILD)/bench/store_bench --temp

demo: setup
	@$(MAKE) --no-print-directory build guest
	@scripts/demo

# meson installs the binaries, the man pages (docs/man, built with scdoc) and the bash completion
# (share/bash-completion/completions/berth) under its prefix, /usr/local by default; the units name
# /usr/local/bin, so keep that prefix. Units go to /usr/local/lib/systemd/system, systemd's unit
# directory for locally installed software (/etc/systemd/system stays the administrator's, for
# overrides); blockd's unit runs `berth target-stopped` after every stop. Then, on the host:
#   systemctl daemon-reload && systemctl enable --now berth-blockd berth-diskengine berth-vmengine
# DESTDIR=DIR puts everything under DIR instead of /.
UNITDIR := /usr/local/lib/systemd/system
UNITS := $(addprefix dist/systemd/,berth-blockd.service berth-diskengine.service berth-vmengine.service)
DEST := $(if $(DESTDIR),$(abspath $(DESTDIR)))

install: build
	DESTDIR="$(DEST)" meson install -C $(BUILD) --no-rebuild --quiet
	@test -x "$(DEST)/usr/local/bin/blockd" || \
		{ echo "install: $(BUILD) is not configured with prefix /usr/local, which the units use" >&2; exit 1; }
	install -D -m 0644 -t "$(DEST)$(UNITDIR)" $(UNITS)
	@test -f "$(DEST)/usr/local/share/man/man1/berth.1" || \
		echo "install: no man pages: scdoc was not found when $(BUILD) was configured (scripts/setup installs it)" >&2

clean:
	rm -rf build build-* run
