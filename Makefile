# ptaudit: `make demo` (main job) and `make test` (everything CI runs). Both run setup first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
DEB_PACKAGES := runsc python3-pip iproute2 util-linux curl gcc libc6-dev ca-certificates python3 chromium chromium-driver
# fleet tests: a real one-node Slurm cluster (tests/fleet/slurmcluster.py)
DEB_PACKAGES += slurmctld slurmd slurm-client munge
PYTEST_ARGS ?=

.PHONY: setup test demo bench lint redteam

# Idempotent: apt-get runs only when a Debian package is missing; pip skips what is installed.
setup:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(PIP) install -q --disable-pip-version-check -e '.[dev]'
	$(PYTHON) -m sandbox install-runsc
	-@sysctl -q -w fs.inotify.max_user_watches=524288 fs.inotify.max_queued_events=65536 net.unix.max_dgram_qlen=512 2>/dev/null || true

test: setup
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

demo: setup
	ptaudit demo

# Every bench/ script, then one table of side-by-side ratios (bench-results.json); BENCH_ARGS=--quick for minutes.
bench: setup
	$(PYTHON) bench/run_all.py $(BENCH_ARGS)

# Red-team and benign scenarios (tests/scenarios) under default, strict and open, or POLICY=name|file;
# tables, recall per category, false positives, redteam-results.json. Not part of make test (about an hour).
redteam: setup
	$(PYTHON) -m ptaudit.app.redteam $(if $(POLICY),--policy $(POLICY)) $(REDTEAM_ARGS)

lint: setup
	$(PYTHON) -m ruff check ptaudit policies detectors monitors sandbox grading tests bench
