# The README's two commands: `make run` and `make test`. Both install what they need and skip
# what is already there (stamp files), so a second run starts in seconds.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
FRONTEND_BUILT := frontend/dist/.built
MESSAGES := locale/zh_Hans/LC_MESSAGES/django.mo
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/vite.config.js

export DEBUG ?= 1

.PHONY: run test install frontend messages lint check system-packages clean help local-env

help:
	@echo "make run   install, migrate, create demo data and start web + worker"
	@echo "make test  install and run lint, checks and the whole test suite"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(INSTALLED) frontend messages

$(NODE_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(FRONTEND_BUILT): $(NODE_INSTALLED) $(FRONTEND_SOURCES) package.json
	npm run --silent build
	touch $@

frontend: $(FRONTEND_BUILT)

$(MESSAGES): locale/zh_Hans/LC_MESSAGES/django.po | $(INSTALLED)
	$(BIN)/python manage.py compilemessages --ignore=.venv --ignore=node_modules -v0

messages: $(MESSAGES)

# Debian packages the tests drive for real: a browser (Playwright, with CJK fonts for the
# Chinese UI) and a PACS (Orthanc).
SYSTEM_PACKAGES := chromium fonts-noto-cjk orthanc orthanc-dicomweb orthanc-gdcm dcmtk
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# manage.py typed later in another shell runs with what `make run` exports (DEBUG, hence the
# generated SECRET_KEY): lab/localenv.py records it in the data folder.
local-env: | $(BIN)/python
	@$(BIN)/python lab/localenv.py

run: install local-env
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py bootstrap --url http://127.0.0.1:$${WEB_PORT:-8000}/ --images $${DEMO_IMAGES:-300} --size $${DEMO_SIZE:-512}
	BIND=127.0.0.1:$${WEB_PORT:-8000} $(BIN)/honcho -f Procfile start

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

check: $(INSTALLED)
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

test: install system-packages lint check
	$(BIN)/pytest

clean:
	rm -rf $(VENV) node_modules frontend/dist staticfiles
