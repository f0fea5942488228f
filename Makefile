# The front door. Every target creates .venv and installs what it needs from pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
AUTHZ := $(VENV)/bin/authz
DEMO := policies/examples/demo-org.json

.PHONY: help install run test unit lint fmt prove bench clean

help:
	@echo "make run     set up, then explain the worked examples of DOMAIN on the demo org"
	@echo "make test    set up, lint, and run the whole test suite"
	@echo "make prove   the deep hypothesis profile: >= 20,000 generated orgs per property"
	@echo "make bench   per-decision medians (bare cedarpy, engine, Polar); crosscheck timings"
	@echo "make lint    ruff, mypy --strict on engine/, authz lint, authz fmt --check"
	@echo "make fmt     ruff format"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(AUTHZ) validate --org $(DEMO)
	@for q in \
	  "asha create estimate" \
	  "asha create invoice" \
	  "asha delete estimate:est-1" \
	  "asha view invoice:inv-1 --channel direct" \
	  "ben create invoice" \
	  "chen edit invoice:inv-1" \
	  "chen view item:item-1" \
	  "dana approve invoice:inv-2" \
	  "eli view dashboard:dash-insights" \
	  "gil view subscription:sub-1" \
	  "fay send_email estimate:est-2" ; do \
	  set -- $$q; s=$$1; a=$$2; r=$$3; shift 3; \
	  echo; echo "\$$ authz explain --org $(DEMO) --subject $$s --action $$a --resource $$r $$*"; \
	  $(AUTHZ) explain --org $(DEMO) --subject $$s --action $$a --resource $$r $$* ; \
	  true; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check engine cli server tests bench
	$(VENV)/bin/ruff format --check engine cli server tests bench
	$(VENV)/bin/mypy
	$(AUTHZ) lint
	$(AUTHZ) fmt --check
	$(AUTHZ) fmt --check --policies policies/history/2025-05

fmt: $(STAMP)
	$(VENV)/bin/ruff format engine cli server tests bench
	$(VENV)/bin/ruff check --fix engine cli server tests bench

test: lint
	$(PY) -m pytest -q

unit: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

prove: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest -q -n 2 -p no:cacheprovider tests/property --durations=0

bench: $(STAMP)
	$(PY) bench/bench_decide.py
	$(PY) bench/bench_crosscheck.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
