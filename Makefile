# Two commands do all the setup on a fresh Debian machine, as root:
#   make demo   install what is needed, run the main job on the example network
#   make test   install what is needed, run ruff, mypy and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.meshkeeper-installed

.PHONY: test demo install debian lint typecheck pytest schema clean

install: debian $(STAMP)

debian:
	@scripts/install-debian-packages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,agent]'
	@touch $@

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

# The whole suite as two pytest runs at once: the lab tier (and the benches that
# build a lab) in one, everything else in the other (scripts/run-tests).
PYTEST := scripts/run-tests

pytest: install
	$(PYTEST)

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(PYTEST)

demo: install
	@scripts/demo

schema: install
	$(BIN)/meshkeeper schema -o inventory/schema.json

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
