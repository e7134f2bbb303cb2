# airgap-site. New here? `make demo` then `make test`. Tools are built once into
# $(AIRGAP_CACHE) (default ~/.cache/airgap-site); state lives in .state/ (ignored by git).
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup unit bench-smoke e2e test site-up site-down demo check kit

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## build the pinned toolchain and test bed (skips what is built), the provider, policy pack and CLI
	scripts/setup.sh

unit: ## go vet and unit tests: renderers, validation, component graph (no external binary)
	go vet ./...
	go test ./...

bench-smoke: setup ## one small trial of the copy benchmark (tests/bench), on loopback and over a cut link, so it cannot rot; stops all it starts
	source scripts/env.sh && go run ./tests/bench -bin "$$AIRGAP_CACHE/bin" -images 2 -base 1 -layer 6 -trials 1 -noop 2 >/dev/null && \
		go run ./tests/bench -bin "$$AIRGAP_CACHE/bin" -link -images 1 -base 1 -layer 6 -trials 1 -link-rate 20000 -link-latency 5 -link-cuts 1 -link-timeout 60s >/dev/null

e2e: setup ## end-to-end suite against a local site (real pulumi, API server, S3, registry)
	scripts/e2e.sh

test: setup unit bench-smoke e2e ## everything: setup if needed, unit tests, a benchmark smoke run, end-to-end suite

site-up: setup ## start the local site in .state/site and print its kubeconfig and S3 endpoint
	source scripts/env.sh && go run ./tests/localsite up --dir "$$SITE_DIR"

site-down: ## stop the local site (data stays in .state/site)
	source scripts/env.sh && go run ./tests/localsite down --dir "$$SITE_DIR"

demo: setup ## converge the dev stack on the local site, then show that a second preview changes nothing
	scripts/demo.sh

check: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

kit: setup ## write the offline kit into .state/kit (KIT_BUNDLE=<dir> adds an image bundle; KIT_SIGN_KEY=<cosign.key> signs it)
	scripts/kit.sh
