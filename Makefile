# Two commands a new user needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all test lint imports typecheck pytest demo bench bench-http bench-placement bench-compare clean schema

all: test

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check adinject tests benchmarks examples
	$(BIN)/ruff format --check adinject tests benchmarks examples

# The import layers and the HTTP layer's distance from HTML (contracts in pyproject.toml).
imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy --strict adinject

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint imports typecheck pytest

schema: $(STAMP)
	$(BIN)/python -m adinject.language.schema > rules/schema.json

demo: $(STAMP)
	$(BIN)/python -m examples.newsroom

# The demo site as static files (python's http.server) behind `adinject proxy`, on http://127.0.0.1:8000.
.PHONY: demo-proxy
demo-proxy: $(STAMP)
	$(BIN)/python -m examples.newsroom.proxied

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py

bench-http: $(STAMP)
	$(BIN)/python benchmarks/http.py

# Where units land on the corpus, judged against each page's article text (issue 12); -v lists the misses.
bench-placement: $(STAMP)
	$(BIN)/python benchmarks/placement.py

# Median apply against the restructure's last commit (61bcc80), alternating fresh processes (issue 12).
bench-compare: $(STAMP)
	$(BIN)/python benchmarks/compare.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .import_linter_cache
