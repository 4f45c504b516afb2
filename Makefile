# Conversations API: `make test` sets up everything it needs on a fresh machine (a Rust
# toolchain and Python 3.11 are enough) and runs every check CI runs.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
TOOLS  := .tools
VENV   := $(TOOLS)/venv
STAMP  := $(VENV)/.installed-$(shell cksum < tools/requirements.txt | cut -d' ' -f1)

.PHONY: help tools test fmt lint unit clean-tools

help:
	@echo "make test     install the tools if missing, then fmt check, clippy and every test"
	@echo "make tools    install the pinned Python tools (Moto) into $(VENV)"

## Python tools (Moto's DynamoDB API for the tests), pinned, in a git-ignored virtualenv.
tools: $(STAMP)

$(STAMP): tools/requirements.txt
	@rm -f $(VENV)/.installed-*
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	@touch $@

fmt:
	cargo fmt --all --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

test: tools fmt lint
	cargo test --workspace

clean-tools:
	rm -rf $(TOOLS)
