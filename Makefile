# Targets are listed by `make help` from their ## comments.
GO ?= go
BIN := bin/orb-sync

.PHONY: help build run test bench bench-smoke fuzz lint screenshots chaos golden

help: ## List targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## Build the static binary into bin/orb-sync.
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/orb-sync

run: build ## Run the service here; starts a local PostgreSQL when DATABASE_URL is unset.
	./deploy/local/run.sh

test: ## Run every test against real PostgreSQL (found or started by the tests).
	$(GO) test -race -count=1 -timeout 30m ./...

chaos: ## Fault and soak suite against the real binary (~25 min; SOAK=1m shortens the soak); rewrites README's Reliability table.
	$(GO) run ./deploy/chaos -soak $(or $(SOAK),10m)

bench: ## Run the benchmarks (append path, projection, rebuild).
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...

bench-smoke: ## Run every benchmark once at its small default size, to keep them working.
	$(GO) test -run '^$$' -bench . -benchtime 1x -count=1 -timeout 20m ./...

fuzz: ## Fuzz envelope parsing and webhook verification, 30 seconds each.
	$(GO) test -run '^$$' -fuzz FuzzParseEnvelope -fuzztime 30s ./eventlog
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./eventlog/webhook

screenshots: ## Regenerate the console's screenshots with headless Chromium (the browser test takes them).
	ORB_CONSOLE_SCREENSHOTS=$(CURDIR)/projector/console/testdata/screenshots $(GO) test -count=1 -run '^TestConsoleInBrowser$$' ./cmd/orb-sync/internal/cli/

golden: ## Regenerate the checked-in fold SQL (projector/internal/fold/testdata/fold) after a catalog change.
	$(GO) test -count=1 -run Golden ./projector/internal/fold -update

lint: ## gofmt and go vet.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
