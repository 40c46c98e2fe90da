# The README's two commands are `make run` and `make test`; both install what they need first.
SWIFT ?= swift
PEER_VENV := .build/peer-venv

# `make install [PREFIX=/usr/local] [DESTDIR=…] [BUILT=dir of built binaries]`
# Release binaries link the Swift runtime and Foundation statically, so an installed jigsync needs
# only libc, libcurl and libsqlite3 (and what they pull in), not a Swift toolchain.
RELEASE_FLAGS := -c release --static-swift-stdlib
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
UNITDIR := $(PREFIX)/lib/systemd/system
MANDIR := $(PREFIX)/share/man/man1
SHAREDIR := $(PREFIX)/share
CONFDIR := /etc/jigsync

# `make chaos [CHAOS_ARGS='--seed N --rounds N | --minutes M']`: the seeded soak of scripts/chaos.
.PHONY: deps test-deps build run test test-asan test-tsan fuzz chaos check-installed bench release release-emulator install install-emulator uninstall deb

deps:
	scripts/install-deps

# The official Python SDK, pinned, in a throwaway venv, for the emulator's conformance test.
# (and prometheus_client, whose text parser reads the daemon's /metrics in the metrics test).
# A stamp names what is installed, so a venv made before a package was added gets it.
PEER_STAMP := $(PEER_VENV)/.installed-jigsawstack-0.4.6-prometheus_client
$(PEER_STAMP):
	python3 -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet jigsawstack==0.4.6 prometheus_client
	touch $@

test-deps: deps $(PEER_STAMP)

build: deps
	$(SWIFT) build

# `make run [PORT=8787]`
run: build
	PORT=$(or $(PORT),8787) scripts/try-local

# Serially: many tests run real processes and wait on them, and on 2 cores parallel tests starve
# each other's timing (about 90 s either way).
# Then the chaos soak on the debug binaries just built (about 3 minutes: kill -9s, faults, an
# inotify overflow, reloads; scripts/chaos), and the packaging check: the release build, as a .deb,
# run in a root without a Swift toolchain.
test: test-deps
	$(SWIFT) test --no-parallel
	scripts/chaos --bin "$$($(SWIFT) build --show-bin-path)"
	$(MAKE) check-installed

chaos: deps
	$(SWIFT) build
	scripts/chaos --bin "$$($(SWIFT) build --show-bin-path)" $(CHAOS_ARGS)

check-installed: deb
	scripts/check-installed "$$(ls -t jigsync_*.deb | head -1)"

# The suite under AddressSanitizer / ThreadSanitizer (every module instrumented, in its own
# build folder; the processes the tests start are the instrumented binaries too). A report fails
# the run: ASan aborts the process, and TSan is made to (halt_on_error).
test-asan: test-deps
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 $(SWIFT) test --no-parallel --sanitize=address --scratch-path .build-asan $(if $(FILTER),--filter '$(FILTER)')

test-tsan: test-deps
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(SWIFT) test --no-parallel --sanitize=thread --scratch-path .build-tsan $(if $(FILTER),--filter '$(FILTER)')

# `make fuzz [FUZZ_SECONDS=60]`: a libFuzzer run of each parser of outside input (scripts/fuzz).
fuzz: deps
	scripts/fuzz

# `make bench [BENCH_ARGS='--quick | --bin DIR | --only burst,trickle,big,rate,restart |
# --contenders jigsync,inotify-curl,watchdog-sdk | --json FILE']`: jigsync against its peers, one
# table per scenario (scripts/bench: builds the release binaries, installs inotify-tools and a venv
# with the SDK and watchdog). scripts/bench-sync, bench-put and bench-daemon remain for one figure each.
bench: deps
	scripts/bench $(BENCH_ARGS)

# The daemon alone: the emulator (Hummingbird, NIO) is a test tool and would double the build.
release: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product jigsync

release-emulator: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product jigsync-emulator

# Installs jigsync, its units, the sample configuration, the man page and completions, from the
# release build unless BUILT names a directory that already holds the binaries.
install:
	@set -e; \
	built="$(BUILT)"; \
	if [ -z "$$built" ]; then $(MAKE) --no-print-directory release; built=$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path); fi; \
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(MANDIR)" "$(DESTDIR)$(CONFDIR)" \
	  "$(DESTDIR)$(SHAREDIR)/bash-completion/completions" "$(DESTDIR)$(SHAREDIR)/zsh/site-functions" \
	  "$(DESTDIR)$(SHAREDIR)/fish/vendor_completions.d"; \
	install -m 755 "$$built/jigsync" "$(DESTDIR)$(BINDIR)/"; \
	for unit in systemd/jigsync.service systemd/jigsync@.service; do \
	  sed 's|/usr/local/bin/jigsync|$(BINDIR)/jigsync|g' "$$unit" > "$(DESTDIR)$(UNITDIR)/$$(basename $$unit)"; \
	  chmod 644 "$(DESTDIR)$(UNITDIR)/$$(basename $$unit)"; \
	done; \
	install -m 644 systemd/config.sample.yaml "$(DESTDIR)$(CONFDIR)/config.sample.yaml"; \
	scripts/make-manpage "$$built/jigsync" README.md > "$(DESTDIR)$(MANDIR)/jigsync.1"; \
	"$$built/jigsync" --generate-completion-script bash > "$(DESTDIR)$(SHAREDIR)/bash-completion/completions/jigsync"; \
	"$$built/jigsync" --generate-completion-script zsh > "$(DESTDIR)$(SHAREDIR)/zsh/site-functions/_jigsync"; \
	"$$built/jigsync" --generate-completion-script fish > "$(DESTDIR)$(SHAREDIR)/fish/vendor_completions.d/jigsync.fish"; \
	echo "installed under $(DESTDIR)$(PREFIX) and $(DESTDIR)$(CONFDIR)"

install-emulator:
	@set -e; \
	built="$(BUILT)"; \
	if [ -z "$$built" ]; then $(MAKE) --no-print-directory release-emulator; built=$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path); fi; \
	install -d "$(DESTDIR)$(BINDIR)"; \
	install -m 755 "$$built/jigsync-emulator" "$(DESTDIR)$(BINDIR)/"

# Removes what `make install` and `make install-emulator` put in place; a config.yaml, the api-key
# and the state under /var/lib are the operator's and stay.
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/jigsync" "$(DESTDIR)$(BINDIR)/jigsync-emulator" \
	  "$(DESTDIR)$(UNITDIR)/jigsync.service" "$(DESTDIR)$(UNITDIR)/jigsync@.service" \
	  "$(DESTDIR)$(CONFDIR)/config.sample.yaml" "$(DESTDIR)$(MANDIR)/jigsync.1" \
	  "$(DESTDIR)$(SHAREDIR)/bash-completion/completions/jigsync" "$(DESTDIR)$(SHAREDIR)/zsh/site-functions/_jigsync" \
	  "$(DESTDIR)$(SHAREDIR)/fish/vendor_completions.d/jigsync.fish"
	-rmdir "$(DESTDIR)$(CONFDIR)" 2>/dev/null

# `make deb`: jigsync_VERSION_ARCH.deb (daemon, units, sample configuration, man page, completions;
# not the emulator) built with dpkg-deb from one release build.
deb: release
	scripts/make-deb "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"
