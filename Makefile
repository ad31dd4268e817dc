# Two commands for a new user: `make demo` and `make test`. Needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | sha256sum | cut -c1-12)
DEMO_CLINICIAN ?= demo-clinician
DEMO_REVIEWER ?= demo-reviewer
DEMO_PASSWORD ?= xray-demo-2026
CXR_DEMO_ADDR ?= 127.0.0.1:8000
export CXR_DEMO_ADDR

.PHONY: demo test test-fast lint format bench chaos venv worker web clean

venv: $(STAMP)

$(STAMP): requirements/base.txt requirements/ml.txt requirements/training.txt requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py create_user --username $(DEMO_CLINICIAN) --password $(DEMO_PASSWORD) --role clinician --skip-password-validation
	$(BIN)/python manage.py create_user --username $(DEMO_REVIEWER) --password $(DEMO_PASSWORD) --role reviewer --skip-password-validation
	@echo ""
	@echo "  Demo clinician: $(DEMO_CLINICIAN) / $(DEMO_PASSWORD)"
	@echo "  Demo reviewer:  $(DEMO_REVIEWER) / $(DEMO_PASSWORD)"
	@echo "  Open http://$(CXR_DEMO_ADDR); DICOM listener CXRSCREEN on 127.0.0.1:$${CXR_DICOM_PORT:-11112} (Ctrl-C stops them all)"
	@echo ""
	@bash scripts/demo.sh

# The whole suite; with no PYTEST_ARGS the fault suite's short form runs beside the rest.
test: venv
	PYTHON=$(BIN)/python bash scripts/test.sh $(PYTEST_ARGS)

# The fault suite on services it starts itself (never the machine's PostgreSQL or Redis):
# full-length outages; `make test` runs its short form (tests/chaos, CXR_CHAOS_OUTAGE_S=6).
chaos: venv
	$(BIN)/python -m chaos $(CHAOS_ARGS)

# Daily work: no Celery worker process, browser, slow or training tests.
test-fast: venv
	$(BIN)/python -m pytest -m "not worker and not browser and not slow" --ignore=tests/training $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf var staticfiles .pytest_cache
