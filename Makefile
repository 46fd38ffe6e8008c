# One command sets up a local virtual environment (CPU torch unless a CUDA GPU is present) and runs the job.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0

.PHONY: setup test test-all lint demo docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "torch already installed: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "CUDA GPU found: installing the default (CUDA) torch build"; \
		$(PY) -m pip install --quiet torch; \
	else \
		echo "no CUDA GPU: installing the CPU build torch==$(TORCH_VERSION)"; \
		$(PY) -m pip install --quiet torch==$(TORCH_VERSION); \
	fi
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	$(PY) -m pip install --quiet "opt_einsum>=3.3" && $(PY) -m pip install --quiet --no-deps "kron-torch>=0.3.3"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

test-all: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile -m ""

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check syre_rl scripts tests
	$(VENV)/bin/mypy syre_rl

demo: $(STAMP)
	$(PY) scripts/demo.py

# The documentation site, into site/; every warning is an error (tests/test_docs.py builds it too).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
