# The README's two commands are `make run` and `make test`; both install what they need first.
SWIFT ?= swift
PEER_VENV := .build/peer-venv

.PHONY: deps test-deps build run test bench

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

test: test-deps
	$(SWIFT) test

bench: deps
	scripts/bench-sync
	scripts/bench-put
