# The README's two commands are `make run` and `make test`; both install what they need first.
SWIFT ?= swift
PEER_VENV := .build/peer-venv

# `make install [PREFIX=/usr/local] [DESTDIR=…] [BUILT=dir of built binaries]`
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
UNITDIR := $(PREFIX)/lib/systemd/system
MANDIR := $(PREFIX)/share/man/man1
SHAREDIR := $(PREFIX)/share
CONFDIR := /etc/jigsync

.PHONY: deps test-deps build run test bench install

deps:
	scripts/install-deps

# The official Python SDK, pinned, in a throwaway venv, for the emulator's conformance test.
$(PEER_VENV)/bin/python:
	python3 -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet jigsawstack==0.4.6

test-deps: deps $(PEER_VENV)/bin/python

build: deps
	$(SWIFT) build

run: build
	scripts/try-local

# Serially: many tests run real processes and wait on them, and on 2 cores parallel tests starve
# each other's timing (about 90 s either way).
test: test-deps
	$(SWIFT) test --no-parallel

bench: deps
	scripts/bench-sync
	scripts/bench-put
	scripts/bench-daemon

# Builds release binaries unless BUILT names a directory that already holds them.
install:
	@set -e; \
	built="$(BUILT)"; \
	if [ -z "$$built" ]; then $(SWIFT) build -c release; built=$$($(SWIFT) build -c release --show-bin-path); fi; \
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(MANDIR)" "$(DESTDIR)$(CONFDIR)" \
	  "$(DESTDIR)$(SHAREDIR)/bash-completion/completions" "$(DESTDIR)$(SHAREDIR)/zsh/site-functions" \
	  "$(DESTDIR)$(SHAREDIR)/fish/vendor_completions.d"; \
	install -m 755 "$$built/jigsync" "$$built/jigsync-emulator" "$(DESTDIR)$(BINDIR)/"; \
	for unit in systemd/jigsync.service systemd/jigsync@.service; do \
	  sed 's|/usr/local/bin/jigsync|$(BINDIR)/jigsync|g' "$$unit" > "$(DESTDIR)$(UNITDIR)/$$(basename $$unit)"; \
	  chmod 644 "$(DESTDIR)$(UNITDIR)/$$(basename $$unit)"; \
	done; \
	install -m 644 systemd/config.sample.yaml "$(DESTDIR)$(CONFDIR)/config.sample.yaml"; \
	scripts/make-manpage "$$built/jigsync" > "$(DESTDIR)$(MANDIR)/jigsync.1"; \
	"$$built/jigsync" --generate-completion-script bash > "$(DESTDIR)$(SHAREDIR)/bash-completion/completions/jigsync"; \
	"$$built/jigsync" --generate-completion-script zsh > "$(DESTDIR)$(SHAREDIR)/zsh/site-functions/_jigsync"; \
	"$$built/jigsync" --generate-completion-script fish > "$(DESTDIR)$(SHAREDIR)/fish/vendor_completions.d/jigsync.fish"; \
	echo "installed under $(DESTDIR)$(PREFIX) and $(DESTDIR)$(CONFDIR)"
