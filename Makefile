# ULT: `make run` starts everything, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-browser screenshots lint format bench demo chromium nginx wheel-smoke dist clean i18n

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ult up

# Debian chromium for the browser tests (apt as root when it is missing).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium (browser tests will be skipped)"; fi; }

# Debian nginx for the reverse-proxy test (apt as root when it is missing).
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq nginx) >/dev/null; \
	  else echo "nginx is missing: sudo apt-get install nginx (the nginx test will be skipped)"; fi; }

test: $(STAMP) chromium nginx
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not browser and not slow"

test-browser: $(STAMP) chromium
	$(PY) -m pytest -q -m browser

# The README's pictures in docs/img, taken by the browser tests from today's pages.
screenshots: $(STAMP) chromium
	ULT_SCREENSHOTS=1 $(PY) -m pytest -q -m browser

# The built wheel in a fresh venv, `ult up` from an empty directory (about 1–2 minutes).
wheel-smoke: $(STAMP)
	$(PY) .ci/wheel-smoke $(PY)

# sdist and wheel into dist/
dist: $(STAMP)
	$(PY) -m build --outdir dist .

# The translations: extract every marked sentence into ult/locale/ult.pot, bring each
# language's catalog (ult/locale/<lang>/LC_MESSAGES/ult.po) up to date, compile the .mo files.
# A new language: `$(VENV)/bin/pybabel init -D ult -i ult/locale/ult.pot -d ult/locale -l <lang>`.
BABEL := $(VENV)/bin/pybabel
i18n: $(STAMP)
	$(BABEL) -q extract -F babel.cfg -k N_ -k NP_:1,2 --no-location --omit-header \
	  --sort-output -o ult/locale/ult.pot .
	$(BABEL) -q update -D ult -i ult/locale/ult.pot -d ult/locale --no-fuzzy-matching \
	  --ignore-obsolete
	$(BABEL) -q compile -D ult -d ult/locale --statistics

# ruff, then mypy on ult/ (configured in pyproject.toml's [tool.mypy])
lint: $(STAMP)
	$(VENV)/bin/ruff check . .ci/wheel-smoke && $(VENV)/bin/ruff format --check . .ci/wheel-smoke
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(VENV)/bin/ult bench

demo: $(STAMP)
	$(VENV)/bin/ult demo

clean:
	rm -rf $(VENV) var build dist *.egg-info
