# The two set-up commands: `make run` and `make test` (see README.md).
VENV := .venv
PY := $(VENV)/bin/python

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-days bench bytecode govuk

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

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

test: bytecode $(CHROMIUM)
	$(PY) -m pytest -q

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
