# entra-rbac-guard. Every target installs what it needs: `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# npm scripts put node_modules/.bin first on the PATH, so `npm run` and `npx` use the pinned Node.js 24.
NPM := npm

.PHONY: help install build run test lint typecheck clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

install: node_modules/.package-lock.json ## Install dependencies (npm ci)

dist/bin.js: node_modules/.package-lock.json tsconfig.json tsconfig.build.json $(shell find src -name '*.ts')
	$(NPM) run build
	@touch $@

build: dist/bin.js ## Compile TypeScript into dist/

run: build ## Start the webhook on https://127.0.0.1:8443 (embedded policy, self-signed certificate)
	$(NPM) exec -- node dist/bin.js serve $(ARGS)

test: build ## Run the whole test suite (uvu)
	$(NPM) test

typecheck: install ## Type-check sources and tests
	$(NPM) run typecheck

lint: typecheck ## Type-check (tsc --noEmit)

clean: ## Remove build output
	rm -rf dist
