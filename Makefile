# certfleet: two commands matter, `make run` and `make test`. Everything else
# here is what they are built from.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

TOOLS := $(BIN)/temporal $(BIN)/sqlc $(BIN)/estclient $(BIN)/estserver
TEST_TIMEOUT ?= 20m

.PHONY: run test bench tools build vet fmt-check sqlc sqlc-check compose-check clean

## run: start Postgres (if needed), the Temporal dev server with UI, and certfleet
run: build $(BIN)/temporal
	@scripts/run.sh

## test: vet, check generated code, and run unit and integration tests
test: tools vet fmt-check sqlc-check compose-check
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## bench: job throughput and EST enrollment, each beside its reference in the
## same run; results in bench/results/, the table in BENCHMARKS.md.
## DEVICES=10000 or 100000 for the large job runs, PROFILE=1 for profiles.
DEVICES ?= 1000
bench: tools
	$(GO) run ./bench -devices $(DEVICES) $(if $(filter 1,$(PROFILE)),-profile)

## build: the certfleet binary
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/certfleet ./cmd/certfleet

## tools: the pinned tools of tools/go.mod, built once into bin/
tools: $(TOOLS)

$(BIN)/temporal: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../$(BIN)/ github.com/temporalio/cli/cmd/temporal
$(BIN)/sqlc: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../$(BIN)/ github.com/sqlc-dev/sqlc/cmd/sqlc
$(BIN)/estclient: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../$(BIN)/ github.com/globalsign/est/cmd/estclient
$(BIN)/estserver: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../$(BIN)/ github.com/globalsign/est/cmd/estserver

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
