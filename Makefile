# The two commands of the README: `make demo` and `make test`. Each sets up what it
# needs: the virtual environment, the dependencies and the local services.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test venv services services-down browser lint unit bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

services:
	scripts/services up

services-down:
	scripts/services down

## browser: headless Chromium for the HTML report's browser test (Debian package)
browser:
	@scripts/browser >/dev/null

## demo: a gray release on the local services, end to end
demo: venv services
	$(BIN)/canary demo

## lint: formatting, lint rules, strict typing and import boundaries
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## unit: the fast tests that need no service
unit: venv
	$(BIN)/pytest tests/unit -q

## test: everything CI runs: lint, then unit, integration and end-to-end tests
test: venv services browser lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

## bench: the side-by-side benchmark of both paths (see benchmarks/RESULTS.md)
bench: venv services
	$(BIN)/canary bench
