# certfleet: two commands matter, `make run` and `make test`. Everything else
# here is what they are built from.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

TOOLS := $(BIN)/temporal $(BIN)/sqlc $(BIN)/estclient $(BIN)/estserver $(BIN)/helm $(BIN)/kubecheck
TEST_TIMEOUT ?= 20m

.PHONY: run cluster cluster-tools test-cluster test demo reset modules prereqs-run prereqs-test test-postgres bench tools build console vet fmt-check sqlc sqlc-check compose-check clean

## run: start Postgres (if needed), the Temporal dev server with UI, and certfleet
run: prereqs-run build $(BIN)/temporal
	@scripts/run.sh

## cluster: certfleet in a production shape, without containers: Temporal on
## Postgres as separate frontend, history, matching and worker processes
## (deploy/temporal/config/cluster.yaml, as docker-compose.yml uses it), its
## UI, two `certfleet serve` replicas and two `certfleet worker`s
cluster: prereqs-run build $(BIN)/temporal cluster-tools
	@scripts/cluster.sh

## cluster-tools: the Temporal server, its SQL schema tool and the Temporal UI
## server, from the modules pinned in tools/go.mod
CLUSTER_TOOLS := $(BIN)/temporal-server $(BIN)/temporal-sql-tool $(BIN)/temporal-ui
cluster-tools: $(CLUSTER_TOOLS)

## test-cluster: the chaos test on `make cluster`'s shape (cmd/certfleet,
## build tag cluster): a job over CHAOS_DEVICES devices while a worker and
## Temporal's history are killed, Postgres restarts and an API replica stops.
## It restarts this machine's Postgres, so it runs alone, not in `make test`.
CHAOS_DEVICES ?= 2000
test-cluster: prereqs-test test-postgres tools cluster-tools
	CERTFLEET_CHAOS_DEVICES=$(CHAOS_DEVICES) $(GO) test -tags cluster -count=1 -timeout 30m -v -run TestChaosOnTheProductionShape ./cmd/certfleet

## test: vet, check generated code, and run unit and integration tests
## against real Postgres (started if it is Debian's local cluster) and Temporal,
## and the console's in Chromium
test: prereqs-test test-postgres modules tools console vet fmt-check sqlc-check compose-check
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## demo: a simulated fleet, and the README's quickstart end to end against a
## running `make run` (in another terminal)
demo: build
	@scripts/demo.sh

## reset: development data only: drop the dev database (DATABASE_URL) and .data/
reset:
	@scripts/reset.sh

# modules: certfleet's Go modules, downloaded once, quietly.
modules:
	$(call quietly,checking certfleet's Go modules (the first time downloads them: about a minute),$(GO) mod download)

prereqs-run:
	@scripts/prereqs.sh run
prereqs-test:
	@scripts/prereqs.sh test
test-postgres:
	@scripts/postgres.sh "$${CERTFLEET_TEST_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}" CERTFLEET_TEST_ADMIN_URL

## bench: job throughput and EST enrollment, each beside its reference in the
## same run; results in bench/results/, the table in BENCHMARKS.md.
## DEVICES=10000 or 100000 for the large job runs, PROFILE=1 for profiles,
## CLUSTER=1 for jobs (one worker, then two) and EST on `make cluster`'s shape;
## TAG=before-<change> keeps a run beside the newest for a before and after;
## FLOOR=0 skips the job's floor (DEVICES=100000 is read against 10,000).
DEVICES ?= 1000
bench: tools $(if $(filter 1,$(CLUSTER)),cluster-tools)
	$(GO) run ./bench -devices $(DEVICES) $(if $(filter 1,$(PROFILE)),-profile) $(if $(filter 1,$(CLUSTER)),-cluster) $(if $(TAG),-tag $(TAG)) $(if $(filter 0,$(FLOOR)),-skip-floor)

# quietly ONE-LINE-SUMMARY, COMMAND: say what is being built, run COMMAND with
# its download chatter in bin/build-<target>.log, and show that log only if it fails.
quietly = @mkdir -p $(BIN); echo "$(1)"; log=$(BIN)/build-$(notdir $@).log; \
	if ! ( $(2) ) >$$log 2>&1; then cat $$log; echo "build failed (log: $$log)"; exit 1; fi

## console: the web console (console/), built into console/dist/app, which
## `make build` embeds in certfleet; a binary built without it says so at /
console: console/dist/app/index.html
console/dist/app/index.html: console/package.json console/package-lock.json console/index.html console/vite.config.ts console/tsconfig.json $(shell find console/src -type f)
	$(call quietly,building the web console (npm ci; the first time downloads its packages),\
	  cd console && npm ci --no-audit --no-fund && npm run build)

## build: the certfleet binary (with the web console) and certfleetctl, the command-line client of the API
build: console
	$(call quietly,building bin/certfleet (the first time downloads its modules: about a minute),\
	  $(GO) build -mod=readonly -ldflags "-X main.version=$(VERSION)" -o $(BIN)/certfleet ./cmd/certfleet)
	$(GO) build -mod=readonly -o $(BIN)/certfleetctl ./cmd/certfleetctl

## tools: the pinned tools of tools/go.mod, built once into bin/
tools: $(TOOLS)

$(BIN)/temporal: tools/go.mod tools/go.sum
	$(call quietly,building bin/temporal: the Temporal CLI and dev server (once; about 5 minutes),\
	  cd tools && $(GO) build -mod=readonly -o ../$(BIN)/ github.com/temporalio/cli/cmd/temporal)
$(BIN)/sqlc: tools/go.mod tools/go.sum
	$(call quietly,building bin/sqlc (once; about 2 minutes, needs gcc),\
	  cd tools && $(GO) build -mod=readonly -o ../$(BIN)/ github.com/sqlc-dev/sqlc/cmd/sqlc)
$(BIN)/estclient: tools/go.mod tools/go.sum
	$(call quietly,building bin/estclient (once; under a minute),\
	  cd tools && $(GO) build -mod=readonly -o ../$(BIN)/ github.com/globalsign/est/cmd/estclient)
$(BIN)/estserver: tools/go.mod tools/go.sum
	$(call quietly,building bin/estserver (once; under a minute),\
	  cd tools && $(GO) build -mod=readonly -o ../$(BIN)/ github.com/globalsign/est/cmd/estserver)

$(BIN)/temporal-server: tools/go.mod tools/go.sum
	$(call quietly,building bin/temporal-server (once; about 3 minutes after bin/temporal),\
	  cd tools && $(GO) build -mod=readonly -o ../$(BIN)/temporal-server go.temporal.io/server/cmd/server)
$(BIN)/temporal-sql-tool: tools/go.mod tools/go.sum
	$(call quietly,building bin/temporal-sql-tool (once; about a minute),\
	  cd tools && $(GO) build -mod=readonly -o ../$(BIN)/temporal-sql-tool go.temporal.io/server/cmd/tools/sql)
$(BIN)/temporal-ui: tools/go.mod tools/go.sum
	$(call quietly,building bin/temporal-ui (once; about a minute),\
	  cd tools && $(GO) build -mod=readonly -o ../$(BIN)/temporal-ui github.com/temporalio/ui-server/v2/cmd/server)
$(BIN)/helm: tools/helm/go.mod tools/helm/go.sum
	$(call quietly,building bin/helm (once; about 3 minutes),\
	  cd tools/helm && $(GO) build -mod=readonly -o ../../$(BIN)/ helm.sh/helm/v4/cmd/helm)
$(BIN)/kubecheck: tools/helm/go.mod tools/helm/go.sum tools/helm/kubecheck/main.go
	$(call quietly,building bin/kubecheck (once; about a minute),\
	  cd tools/helm && $(GO) build -mod=readonly -o ../../$(BIN)/ ./kubecheck)

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## sqlc: regenerate db/store from queries/ and db/migrations/
sqlc: $(BIN)/sqlc
	$(BIN)/sqlc generate

## sqlc-check: fail if db/store is not what sqlc generates
sqlc-check: $(BIN)/sqlc
	@$(BIN)/sqlc diff || { echo "db/store is stale: run 'make sqlc' and commit the result"; exit 1; }

## compose-check: validate docker-compose.yml without a container engine
compose-check:
	$(GO) test -count=1 -run TestComposeFile ./deploy

clean:
	rm -rf $(BIN)
