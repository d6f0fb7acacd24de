# The two set-up commands: `make run` and `make test` (see README.md).
VENV := .venv
PY := $(VENV)/bin/python

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test check test-days bench bytecode lock govuk

# Every package at the version in requirements.lock (`make lock` writes it afresh from pyproject.toml).
$(VENV)/.installed: pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,bench]'
	touch $@

lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install --quiet '.[dev,bench]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^earlyhelp' > requirements.lock
	rm -rf .lock-venv build

# The browser tests drive Debian's chromium (Playwright's own browser download is not used).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

# The sandbox loads workflows/ afresh for every case it replays: without bytecode (PYTHONDONTWRITEBYTECODE is
# set on some machines) each replay compiles it again, a third of a replay's time (docs/operations.md).
bytecode: $(VENV)/.installed
	$(PY) -m compileall -q workflows

run: bytecode
	$(VENV)/bin/earlyhelp up

# Lint, format, types (strict on workflows/) and the layers' import contracts.
check: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Two processes, each taking whole test modules (a module's tests share its servers) with servers of its own.
test: bytecode $(CHROMIUM) check
	$(PY) -m pytest -q -n 2 --dist loadfile

# Every test on a time-skipping server, once on each kind of day (tests/days.py): no test may depend on today.
test-days: bytecode
	for day in $$($(PY) -c 'from tests.days import DAYS; print(*DAYS)'); do \
	  echo "== $$day"; $(PY) -m pytest -q -p no:cacheprovider --ignore=tests/e2e --day $$day || exit 1; done

bench: bytecode
	$(PY) -m benchmarks --size full

# GOV.UK Frontend's stylesheet, compiled once with Node (never at run time) and committed: web/static/govuk/.
GOVUK_FRONTEND := 6.3.0
govuk:
	cd web/static/govuk && npm install --no-save --silent govuk-frontend@$(GOVUK_FRONTEND) sass@1 \
	  && npx sass --no-source-map --style=compressed --quiet earlyhelp.scss govuk-frontend.min.css \
	  && rm -rf node_modules
