# The two commands of the README: `make demo` and `make test`. Each sets up what it
# needs: the virtual environment, the dependencies and the local services.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test venv services services-down browser lint unit chaos bench clean

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
	$(BIN)/canary demo --html reports/demo.html

## lint: formatting, lint rules, strict typing and import boundaries
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## unit: the fast tests that need no service
unit: venv
	$(BIN)/pytest tests/unit -q

## chaos: the fault drills alone, on a service set of their own (tests/chaos)
chaos: venv
	$(BIN)/pytest -m chaos tests/chaos

## test: everything CI runs: lint, then unit, integration and end-to-end tests, with the
## fault drills beside them (they stop and start services of their own, so the two
## runs do not disturb each other; the drills' log is printed when both are done)
test: venv services browser lint
	@mkdir -p .state; \
	$(BIN)/pytest -p no:cacheprovider -m chaos tests/chaos >.state/chaos.log 2>&1 & drills=$$!; \
	$(BIN)/pytest -m "not chaos"; rest=$$?; \
	wait $$drills; chaos=$$?; cat .state/chaos.log; \
	test $$rest -eq 0 && test $$chaos -eq 0

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

## bench: the side-by-side benchmark of both paths (see benchmarks/RESULTS.md)
bench: venv services
	$(BIN)/canary bench
