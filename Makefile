# Conversations API: `make test` sets up everything it needs on a fresh machine (a Rust
# toolchain and Python 3.11 are enough) and runs every check CI runs.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
TOOLS  := .tools
VENV   := $(TOOLS)/venv
STAMP  := $(VENV)/.installed-$(shell cksum < tools/requirements.txt | cut -d' ' -f1)

.PHONY: help tools test fmt lint template dev contract clean-tools

help:
	@echo "make test     install the tools if missing, then fmt check, clippy and every test"
	@echo "make dev      local stack: Moto, table, demo data, cargo lambda watch on :9000 (Ctrl-C stops)"
	@echo "make contract the contract suite over HTTP against cargo lambda watch"
	@echo "make tools    install the pinned Python tools (Moto, SAM CLI, cfn-lint, cargo-lambda) into $(VENV)"

## Python tools (Moto for the tests, SAM CLI and cfn-lint for the template, cargo-lambda for
## `make dev`), pinned, in a git-ignored virtualenv.
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

# template.yaml: cfn-lint and SAM's own validation (both offline).
template: tools
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam validate --lint --region us-east-1

test: tools fmt lint template
	cargo test --workspace

dev: tools
	scripts/local-stack.sh dev

contract: tools
	scripts/local-stack.sh contract

clean-tools:
	rm -rf $(TOOLS)
