# ptaudit: `make demo` (main job) and `make test` (everything CI runs). Both run setup first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
DEB_PACKAGES := runsc iproute2 util-linux curl gcc libc6-dev ca-certificates python3 chromium chromium-driver
PYTEST_ARGS ?=

.PHONY: setup test demo bench lint soak

# Idempotent: apt-get runs only when a Debian package is missing; pip skips what is installed.
setup:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(PIP) install -q --disable-pip-version-check -e '.[dev]'
	-@sysctl -q -w fs.inotify.max_user_watches=524288 fs.inotify.max_queued_events=65536 net.unix.max_dgram_qlen=512 2>/dev/null || true

test: setup
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

demo: setup
	ptaudit demo

# Not part of `make test`: SOAK_RUNS audited runs, each with a component killed at a random
# moment (tests/faults/soak.py); every run must verify, leave nothing behind, never read pass.
SOAK_RUNS ?= 20
soak: setup
	SOAK_RUNS=$(SOAK_RUNS) $(PYTHON) -m tests.faults.soak

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PYTHON) $$b || exit 1; done

lint: setup
	$(PYTHON) -m ruff check ptaudit policies detectors monitors sandbox grading tests bench
