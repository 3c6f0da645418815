# Strata's make targets are thin wrappers over go commands.
#   make run    build and start Strata embedded (Kafka on 127.0.0.1:9092)
#   make test   install what tests need (MinIO, nats-server, kcat, kafkajs), then run every test
#   make bench  benchmarks against kfake and raw object-store throughput
#   make profile  the benchmarks (BENCH, default all) with CPU and heap profiles in profiles/
#   make interop  the interoperability suites in interop/ (JVM and Python clients)
#   make image  the container image (needs a Docker engine)
#   make chaos  the gateway kill test for CHAOS_DURATION (default 2m)
#   make fuzz   run each fuzz target for FUZZTIME
#   make lint   go vet and gofmt

GO ?= go
# The pinned MinIO server, built from source with the Go toolchain.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
STRATA_CACHE_DIR ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/strata
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 10s
# Fuzz targets as package:Target:smoke-budget. `make test` runs each for its
# budget of executions (a few seconds each). Counts, not durations: a duration
# -fuzztime can fail spuriously with "context deadline exceeded" on Go 1.26
# (golang/go#75804, fixed in Go 1.27); a count never takes that path.
FUZZ_TARGETS := \
	./gateway:FuzzConnection:3000x \
	./gateway:FuzzSASLConnection:3000x \
	./security/sasl:FuzzScram:2000x \
	./security/sasl:FuzzPlain:20000x \
	./tiered/batch:FuzzVerify:20000x \
	./tiered/batch:FuzzEachRecord:10000x \
	./tiered/segment:FuzzReadIndex:50000x \
	./tiered/wal:FuzzParseRecord:50000x \
	./tiered/wal:FuzzParseChain:50000x \
	./coordinator:FuzzDecodeEntries:50000x \
	./tiered/compact:FuzzClean:20000x \
	./schemaregistry:FuzzHandlers:2000x \
	./schemaregistry/compat:FuzzJSONCheck:5000x \
	./replay/export:FuzzDecode:5000x \
	./recovery:FuzzDecode:20000x

# The installer and internal/testenv find MinIO under the same cache dir.
export STRATA_CACHE_DIR

.PHONY: all build run test test-deps unit fuzz-smoke e2e deploy-check interop image bench profile chaos fuzz lint clean

all: build

build:
	$(GO) build -o bin/strata ./cmd/strata

run: build
	./bin/strata serve

test: test-deps lint unit fuzz-smoke e2e deploy-check interop

test-deps:
	scripts/install-minio.sh $(MINIO_VERSION)
	scripts/install-e2e-tools.sh
	scripts/install-nats.sh >/dev/null
	scripts/install-localstack.sh >/dev/null
	scripts/install-pyarrow.sh >/dev/null

unit:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

fuzz-smoke:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		$(GO) test -list "^$$name$$" $$pkg | grep -qx "$$name" || { echo "fuzz target $$name not found in $$pkg"; exit 1; }; \
		echo "fuzz $$pkg $$name for $$budget"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $$budget $$pkg || exit 1; \
	done

e2e: build
	scripts/e2e-kcat.sh bin/strata
	scripts/e2e-kafkajs.sh bin/strata
	scripts/e2e-security.sh bin/strata
	scripts/e2e-compact.sh bin/strata
	scripts/e2e-cluster.sh bin/strata
	scripts/e2e-confluent-go.sh bin/strata
	scripts/e2e-recover.sh bin/strata

interop: build
	scripts/interop.sh bin/strata

# The deployment files, checked without a Docker engine or an AWS account:
# the Dockerfile and localstack/compose.yaml (localstack/check), and the
# Terraform modules and examples (fmt, validate, terraform test with a mock
# AWS provider, the bucket module applied to a MinIO server).
deploy-check: test-deps
	cd localstack/check && $(GO) test -count=1 ./...
	scripts/terraform-check.sh

# The container image (Dockerfile); needs a Docker engine.
IMAGE ?= strata:dev
image:
	docker build -t $(IMAGE) .

# chaos runs the gateway kill test for CHAOS_DURATION (default 2m): three
# gateways, one stopped every 5-10s under load; make test runs a short one.
CHAOS_DURATION ?= 2m
chaos:
	STRATA_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -count=1 -run '^TestGatewayKills$$' -v -timeout 30m ./cmd/strata/

bench: test-deps build
	STRATA_BIN=$(CURDIR)/bin/strata $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/

# Each gateway a benchmark starts writes profiles/strata-<pid>-{cpu,allocs,heap}.pprof
# (STRATA_PROFILE_DIR); the benchmark process itself (kfake, the clients)
# writes bench-cpu.pprof and bench-mem.pprof. Read them with
# `go tool pprof -top profiles/strata-<pid>-cpu.pprof`.
BENCH ?= .
profile: test-deps build
	rm -rf profiles && mkdir -p profiles
	STRATA_PROFILE_DIR=$(CURDIR)/profiles STRATA_BIN=$(CURDIR)/bin/strata $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout 30m \
		-o profiles/bench.test -cpuprofile profiles/bench-cpu.pprof -memprofile profiles/bench-mem.pprof ./bench/

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin strata-data
