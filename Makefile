# Two commands from nothing: `make run` (installs, then runs the quick suite) and `make test`.
# torch==2.13.0 is installed first and alone: it is a CPU wheel on this machine's disk, while a bare
# `torch` (or any open range) would pull a multi-GB CUDA build from PyPI.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= runs/quick

.PHONY: install run smoke test test-slow bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/samecurve run --suite quick --out $(OUT)

smoke: install
	$(VENV)/bin/samecurve run --suite smoke --out runs/smoke

# Two workers (pytest-xdist): the tests are single-threaded, so one worker leaves a core idle; workers
# share the organism cache, whose writes are atomic (organisms/base.py), so a duplicate build is only waste.
test: install
	$(PY) -m pytest -q -n 2

test-slow: install
	$(PY) -m pytest -q -n 2 -m slow

bench: install
	$(PY) bench/bench_capture.py
	$(PY) bench/bench_training.py
	$(PY) bench/bench_patching.py
	$(PY) bench/bench_encoder.py
	$(PY) bench/bench_suite.py

clean:
	rm -rf $(VENV) runs
