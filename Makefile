# The commands a newcomer runs: `make demo`, `make test`, `make bench`.
PYTHON ?= python3
VENV := .venv
BENCH_VENV := .venv-bench
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(BENCH_VENV)/.installed-bench
EVIDENTLY_VENV := .venv-evidently
EVIDENTLY_STAMP := $(EVIDENTLY_VENV)/.installed
FEAST_VENV := benchmarks/.work/venv-feast
FEAST_STAMP := $(FEAST_VENV)/.installed
FEAST_SERVE_STAMP := $(FEAST_VENV)/.installed-serve

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gapless demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
test: lint
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

# Benchmarks compare gapless with its peers (MLflow, ...) in a separate venv, since
# peers pin versions that may clash with ours. Never run by `make test`.
$(BENCH_STAMP): pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e '.[bench]'
	touch $(BENCH_STAMP)

# Evidently 0.7 needs pandas < 3, gapless pandas 3: bench_drift.py runs Evidently's side
# with this venv's Python.
$(EVIDENTLY_STAMP):
	test -x $(EVIDENTLY_VENV)/bin/python || $(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/python -m pip install -q --upgrade pip
	$(EVIDENTLY_VENV)/bin/python -m pip install -q 'evidently>=0.7,<0.8' 'pandas<3' numpy \
		scipy pyarrow
	touch $(EVIDENTLY_STAMP)

# Feast pins pandas < 3: bench_online.py runs Feast's side with this venv's Python.
$(FEAST_STAMP):
	test -x $(FEAST_VENV)/bin/python || $(PYTHON) -m venv $(FEAST_VENV)
	$(FEAST_VENV)/bin/python -m pip install -q --upgrade pip
	$(FEAST_VENV)/bin/python -m pip install -q feast
	touch $(FEAST_STAMP)

# bench_feature_serving.py serves Feast's side from a FastAPI app in the same venv.
$(FEAST_SERVE_STAMP): $(FEAST_STAMP)
	$(FEAST_VENV)/bin/python -m pip install -q fastapi 'uvicorn[standard]' scikit-learn
	touch $(FEAST_SERVE_STAMP)

bench: $(BENCH_STAMP) $(EVIDENTLY_STAMP) $(FEAST_STAMP) $(FEAST_SERVE_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/bench_tracking.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_ingest.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_profile.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_training.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_registry.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_serving.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_batch.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_drift.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_drift_stream.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_features.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_online.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_feature_serving.py --output benchmarks/RESULTS.md
	$(BENCH_VENV)/bin/python benchmarks/bench_recsys.py --output benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(EVIDENTLY_VENV) $(FEAST_VENV) .pytest_cache .ruff_cache
