# sm-detect: `make serve` sets everything up and serves; `make test` sets everything up and tests.

PYTHON  ?= python3.11
VENV    ?= .venv
PORT    ?= 8080
HOST    ?= 127.0.0.1
WEIGHTS ?= pretrained
CLASSES ?=
PRECISION ?= fp32
CALIBRATION ?=
IMAGE   ?= sm-detect:latest
MODEL_ARCHIVE ?=

BIN := $(VENV)/bin
NEWMAN := tests/newman/node_modules/.bin/newman
# one archive per choice of weights, rebuilt when the request path it carries in code/ changes
WEIGHTS_TAG := $(if $(filter pretrained random,$(WEIGHTS)),$(WEIGHTS),$(basename $(notdir $(WEIGHTS))))
MODEL ?= build/model-$(WEIGHTS_TAG)$(if $(filter int8 bf16,$(PRECISION)),-$(PRECISION)).tar.gz
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet

.PHONY: serve test dev bench notebook test-tools lint image java venv clean

serve: $(VENV)/.runtime java $(MODEL)
	$(BIN)/sm-detect serve --model $(MODEL) --port $(PORT) --host $(HOST)

test: dev lint
	$(BIN)/python -m pytest

# what the README's pytest lines need: the test tools in .venv, Java, Debian's test programs,
# and newman (Postman's command-line runner, from npm, pinned in tests/newman/package-lock.json)
dev: $(VENV)/.dev java test-tools $(NEWMAN)

$(NEWMAN): tests/newman/package.json tests/newman/package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  echo "==> installing nodejs and npm from Debian"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq nodejs npm >/dev/null; \
	}
	npm ci --prefix tests/newman --no-audit --no-fund --silent
	@touch $@

# latency, throughput, start-up and memory against the seed's pipeline and AWS's own stack, on
# random weights (the pretrained ones cost the same): prints the figures and writes BENCHMARKS.md
BENCH_MODEL := build/model-random.tar.gz
bench: $(VENV)/.dev java $(BENCH_MODEL)
	$(BIN)/sm-detect bench --model $(BENCH_MODEL) --json build/bench-figures.json

# Debian's tools the tests use: a daemonless image builder, a base-image
# maker, a real OCI registry, an HTTP load generator, a browser for the demo page, curl
# (7.75 or later) whose own SigV4 signing checks the gateway's verifier, and Prometheus
# to scrape /metrics
TEST_TOOLS := buildah debootstrap podman docker-registry wrk chromium curl prometheus
test-tools:
	@missing=$$(for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null || echo $$tool; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  echo "==> installing $$missing from Debian"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python .ci/import_cycles.py inference container scripts
	$(BIN)/hadolint Dockerfile Dockerfile.gpu
	git ls-files -z | xargs -0 $(BIN)/detect-secrets-hook --baseline .secrets.baseline

# docker build where a Docker engine answers, else buildah; MODEL_ARCHIVE=build/x.tar.gz bakes a model in
image:
	bash container/build-image.sh $(IMAGE) $(if $(MODEL_ARCHIVE),--build-arg MODEL_ARCHIVE=$(MODEL_ARCHIVE))

$(MODEL): $(VENV)/.runtime $(wildcard inference/*.py)
	$(BIN)/sm-detect package --weights $(WEIGHTS) $(if $(CLASSES),--classes $(CLASSES)) \
	    --precision $(PRECISION) $(if $(CALIBRATION),--calibration $(CALIBRATION)) --output $@

ifneq ($(MODEL),$(BENCH_MODEL))
$(BENCH_MODEL): $(VENV)/.runtime $(wildcard inference/*.py)
	$(BIN)/sm-detect package --weights random --output $@
endif

venv: $(VENV)/.runtime

$(VENV)/.runtime: requirements.txt $(wildcard requirements/*.txt) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found): mxnet 1.9.1 needs numpy 1.23, which has no wheels for 3.12. Install python3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	@touch $@

# multi-model-server's frontend is Java: 11 or newer, from the system
java:
	@command -v java >/dev/null || { echo "multi-model-server needs Java 11+: install it, e.g. 'sudo apt-get install -y openjdk-17-jre-headless' (Debian/Ubuntu) or 'brew install openjdk@17' (macOS)"; exit 1; }
	@java -version 2>&1 | awk -F'"' '/version/ { split($$2, v, "."); major = (v[1] == "1") ? v[2] : v[1]; if (major + 0 < 11) { print "Java " $$2 " is too old for multi-model-server: install Java 11+, e.g. openjdk-17-jre-headless"; exit 1 } }'

clean:
	rm -rf build .pytest_cache

# the walkthrough, executed top to bottom in the project's environment (nbclient): the executed
# copy goes to build/walkthrough.ipynb; without AWS credentials the deployment cells are dry runs
notebook: $(VENV)/.dev java
	@mkdir -p build
	$(BIN)/jupyter-execute --timeout=900 notebooks/walkthrough.ipynb --output ../build/walkthrough
