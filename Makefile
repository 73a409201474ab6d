# koffer: field kit agent of the Bürgerkoffer. `make help` lists the targets.
GO       ?= go
DATA     ?= $(CURDIR)/.koffer-dev
BIN      ?= bin
DIST     ?= dist
PKGS     := ./...
# Stamped into the binaries (koffer version --json). A Debian version must start with a digit:
# the last v-tag, else 0.0.0+git<commit>.
COMMIT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
VERSION  ?= $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//' | grep . || echo 0.0.0+git$(COMMIT))
DATE     := $(shell date -u -d @$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || date +%s)} +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT) -X main.buildDate=$(DATE)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install what the USB code compiles against (libusb, pkg-config) if it is missing
	@pkg-config --exists libusb-1.0 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq pkg-config libusb-1.0-0-dev; \
	  else echo "koffer needs libusb to build: sudo apt-get install pkg-config libusb-1.0-0-dev"; exit 1; fi; }

.PHONY: build
build: deps ## build koffer and townhall into bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

.PHONY: run
run: build ## start the agent in training mode (simulated devices), UI on http://127.0.0.1:8765
	@echo "koffer training kit: open http://127.0.0.1:8765 and log in as übung, passphrase übungskoffer (agent/training.go)"
	$(BIN)/koffer agent --training --data $(DATA) --listen 127.0.0.1:8765

.PHONY: deb
deb: build ## build the Debian packages koffer and koffer-townhall into dist/ (dpkg-deb)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) docs/deb/build.sh $(BIN) $(DIST) $(VERSION)

.PHONY: test
test: deps ## run every test (set KOFFER_REQUIRE_PEERS=1 to fail instead of skip without real peers)
	$(GO) test -count=1 -timeout 12m $(PKGS)

.PHONY: bench
bench: ## run the benchmarks (figures quoted as ratios against a peer measured in the same run)
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m $(PKGS)

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@for p in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$p || exit 1; \
	  done; \
	done

.PHONY: clean
clean: ## remove build output and the training data directory
	rm -rf $(BIN) $(DIST) $(DATA)
