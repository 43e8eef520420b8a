# sipwire — top-level commands. `make run` and `make test` are the two that matter.
CARGO ?= cargo
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(shell ls fuzz/fuzz_targets 2>/dev/null | sed 's/\.rs$$//')

.PHONY: run test build lint fmt bench fuzz fuzz-tool clean test-deps peer-bench check-bsd \
	header check-header c-lib c-example cbindgen-tool
CBINDGEN_VERSION ?= 0.27.0
CBINDGEN ?= cbindgen

## run: start sipwired on its embedded default config (TCP on 127.0.0.1:5060); extra flags
## in ARGS, e.g. make run ARGS="--forward tcp:127.0.0.1:5070" (see docs/sipwired.md)
run:
	$(CARGO) run --release -p sipwired -- $(ARGS)

## test-deps: programs the tests drive (installed from Debian's packages when missing)
test-deps:
	@missing=""; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	command -v jq >/dev/null 2>&1 || missing="$$missing jq"; \
	command -v unshare >/dev/null 2>&1 || missing="$$missing util-linux"; \
	command -v prlimit >/dev/null 2>&1 || missing="$$missing util-linux"; \
	command -v sipp >/dev/null 2>&1 || missing="$$missing sip-tester"; \
	command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] || missing="$$missing kamailio"; \
	[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/sctp.so ] || missing="$$missing kamailio-sctp-modules"; \
	command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing="$$missing nftables"; \
	command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	command -v cc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v valgrind >/dev/null 2>&1 || missing="$$missing valgrind"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkgconf"; \
	[ -x /usr/bin/promtool ] || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then apt-get update && apt-get install -y $$missing; fi
	@$(MAKE) --no-print-directory cbindgen-tool

## cbindgen-tool: the header generator, pinned (CBINDGEN_VERSION) so every machine writes the
## same header
cbindgen-tool:
	@$(CBINDGEN) --version 2>/dev/null | grep -qx "cbindgen $(CBINDGEN_VERSION)" || \
	  $(CARGO) install --locked cbindgen --version $(CBINDGEN_VERSION)

## header: regenerate include/sipwire.h from crates/ffi (commit the result)
header: cbindgen-tool
	$(CBINDGEN) -q --config crates/ffi/cbindgen.toml --crate sipwire-ffi --output include/sipwire.h crates/ffi

## check-header: fail when the committed include/sipwire.h differs from a fresh generation
check-header: cbindgen-tool
	@tmp=$$(mktemp); \
	$(CBINDGEN) -q --config crates/ffi/cbindgen.toml --crate sipwire-ffi --output $$tmp crates/ffi; \
	if ! diff -u include/sipwire.h $$tmp; then rm -f $$tmp; \
	  echo "include/sipwire.h is stale: run 'make header' and commit it" >&2; exit 1; fi; \
	rm -f $$tmp; echo "check-header: include/sipwire.h is current"

## c-lib: build libsipwire (release) and stage it for C in target/c: lib/libsipwire.{a,so},
## include/sipwire.h, lib/pkgconfig/sipwire.pc (PKG_CONFIG_PATH=target/c/lib/pkgconfig)
c-lib:
	$(CARGO) build --release -p sipwire-ffi
	tools/c-stage.sh release target/c

## c-example: the example C server (examples/c/sipwire_responder.c) built against the staged
## shared library: target/c/bin/sipwire_responder --mode callbacks|epoll --listen 127.0.0.1:5060
c-example: c-lib
	mkdir -p target/c/bin
	$(CC) -std=c11 -Wall -Wextra -Werror -Wpedantic -D_GNU_SOURCE -O2 examples/c/sipwire_responder.c \
	  $$(PKG_CONFIG_PATH=target/c/lib/pkgconfig pkg-config --cflags --libs sipwire) \
	  -Wl,-rpath,$(CURDIR)/target/c/lib -o target/c/bin/sipwire_responder

## test: build everything (all targets) and run every test, plus format and lint checks
test: test-deps build lint check-bsd
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(MAKE) --no-print-directory sctp-test

build:
	$(CARGO) build --workspace --all-targets

## lint: rustfmt --check, clippy with warnings as errors, and the layering rules
## (tools/check-layers.sh: dependencies point down, unsafe only in sys and poll, file sizes)
lint: check-header
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	tools/check-layers.sh

## check-bsd: type-check the whole workspace, tests included, for FreeBSD, macOS (x86_64 and
## aarch64) and NetBSD (stable, rustup std, clippy -D warnings) and OpenBSD and DragonFly
## (nightly -Zbuild-std); installs missing toolchain pieces, SKIPs a target (with the reason)
## when one cannot be installed. Part of `make test`. See tools/check-bsd.sh.
## BSD_TARGETS="x86_64-unknown-freebsd ..." checks only those (empty: all six).
BSD_TARGETS ?=
check-bsd:
	CARGO="$(CARGO)" tools/check-bsd.sh $(BSD_TARGETS)

fmt:
	$(CARGO) fmt --all

## bench: criterion benches (results in target/criterion)
bench:
	$(CARGO) bench -p sipwire-benches

## fuzz: every cargo-fuzz target for FUZZ_SECONDS each (stable toolchain, no sanitizer)
fuzz-tool:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

fuzz: fuzz-tool
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  mkdir -p fuzz/corpus/$$t; \
	  (cd fuzz && $(CARGO) fuzz run --sanitizer none $$t corpus/$$t seeds/$$t -- \
	     -dict=sip.dict -max_total_time=$(FUZZ_SECONDS) -timeout=10); \
	done

clean:
	$(CARGO) clean

## peer-bench: sipwired vs Kamailio under the same load (ROUNDS, DURATION, RATE, QUICK=1; see
## tools/peer-bench/peer-bench.sh); prints the table and writes it into docs/performance.md
peer-bench:
	tools/peer-bench/peer-bench.sh

## sctp-vm-smoke: prove kernel SCTP, sipp over SCTP and `ip netns` in the QEMU test guest
## (tools/sctp-vm: a Debian kernel with SCTP booted on this machine's own root, read-only)
.PHONY: sctp-vm-smoke sctp-test sctp-bench
sctp-vm-smoke:
	tools/sctp-vm/run.sh -- python3 tools/sctp-vm/smoke.py

## sctp-test: the tests that need kernel SCTP (tools/sctp-vm/tests.list), built here and run in
## the QEMU guest, or right here when this kernel has SCTP (docs/sctp.md)
SCTP_TEST_TIMEOUT ?= 600
sctp-test:
	@CARGO="$(CARGO)" tools/sctp-vm/guest-tests.sh --build target/sctp-vm/tests.bin
	@if tools/sctp-vm/guest-tests.sh --probe; then \
	  echo "sctp-test: this kernel has SCTP: running on the host"; \
	  tools/sctp-vm/guest-tests.sh target/sctp-vm/tests.bin; \
	else \
	  tools/sctp-vm/run.sh --timeout $(SCTP_TEST_TIMEOUT) --tmpfs target/tmp \
	    --put target/sctp-vm/tests.bin -- tools/sctp-vm/guest-tests.sh; \
	fi

## sctp-bench: sipwired vs Kamailio relaying SIPp calls over SCTP, in the QEMU guest (ROUNDS,
## RATE, DURATION, CALLS, ...; see tools/sctp-vm/bench.sh); prints the table, and leaves it in
## target/sctp-vm/run-<pid>/sctp-bench.md. Not part of `make test`.
SCTP_BENCH_VARS = ROUNDS RATE DURATION CALLS WARMUP IDLE_SECS RELAYS KAM_DEBUG UAS_PORT RELAY_PORT KEEP
sctp-bench:
	$(CARGO) build --release -p sipwired
	tools/sctp-vm/run.sh --timeout 900 $(foreach v,$(SCTP_BENCH_VARS),--env $(v)) -- tools/sctp-vm/bench.sh
