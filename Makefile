# IntelliFlow platform. `make up` runs the dev stack through the real Pulumi
# engine with the policy pack on; `make test` runs every test.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
STACK ?= dev
ARGS ?=

.PHONY: up preview destroy refresh outputs plugins tools policy build test clean fraud-reference fraud-model fraud-load bench-fraud bench cluster cluster-down cluster-tools local local-tools

up: tools policy ## deploy STACK (default dev) with the policy pack
	go run ./cmd/intelliflow up --stack $(STACK) $(ARGS)

preview: tools policy ## preview STACK with the policy pack
	go run ./cmd/intelliflow preview --stack $(STACK) $(ARGS)

destroy: tools ## destroy STACK
	go run ./cmd/intelliflow destroy --stack $(STACK) $(ARGS)

refresh: tools
	go run ./cmd/intelliflow refresh --stack $(STACK) $(ARGS)

outputs: tools
	go run ./cmd/intelliflow outputs --stack $(STACK) $(ARGS)

plugins: tools ## install the provider plugins STACK needs (aws, vault, random for staging and prod) where downloads are allowed
	go run ./cmd/intelliflow plugins --stack $(STACK) $(ARGS)

tools: ## pinned pulumi CLI and kubernetes provider into bin/ (built once per version, cached)
	tools/install.sh

local: local-tools ## the whole platform on this machine until Ctrl-C: prints the gateway, demo accounts, mail UI
	scripts/install-services.sh
	go run ./cmd/localplatform $(ARGS)

cluster: cluster-tools ## a local control plane with simulated nodes in .cluster/ (binaries built once, cached); ARGS=--real-node adds a real one (root)
	go run ./cmd/devcluster up $(ARGS)

cluster-tools: ## etcd, the Kubernetes control plane, kwok, kubelet and containerd into bin/cluster (built once per version, cached)
	tools/cluster/install.sh

local-tools: ## FerretDB and mailpit into bin/local (built once per version, cached)
	tools/local/install.sh

cluster-down: ## stop the local control plane, put back what a real node changed on the host, remove .cluster/
	go run ./cmd/devcluster down

policy: ## the policy pack binary
	go build -o bin/intelliflow-policy ./policy

build:
	go build ./...

# Every test in the repository, the real-engine tests and the local control
# plane's included. `make test COVERAGE=coverage.out` also writes one coverage
# profile of every package (the pipeline's quality gate reads it).
test: tools policy cluster-tools local-tools
	INTELLIFLOW_COVERAGE=$(COVERAGE) scripts/test.sh

# Re-create the XGBoost model and XGBoost's own predictions that the Go
# evaluator (apps/fraud/internal/gbtree) is tested against.
fraud-reference:
	scripts/install-xgboost.sh
	/usr/bin/python3 apps/fraud/internal/gbtree/testdata/make_reference.py

# Re-create the committed fraud model, its baseline and metrics.json from
# the seeded synthetic data (about a minute on two cores).
fraud-model:
	scripts/install-xgboost.sh
	go run ./apps/fraud/cmd/dataset --out out/fraud-data
	/usr/bin/python3 apps/fraud/model/train.py out/fraud-data apps/fraud/model
	@echo "model.json sha256 (intelliflow:fraudModel.sha256): $$(sha256sum apps/fraud/model/model.json | cut -d' ' -f1)"

# The fraud server under open-loop load from a generator process of its own,
# beside XGBoost behind a Python server; prints goodput, latency and CPU per
# request. ARGS passes -load.rates, -load.infer-rates, -load.duration.
fraud-load:
	scripts/install-services.sh
	scripts/install-xgboost.sh
	go test ./apps/fraud -run XXX -bench Load -benchtime 1x -v -timeout 60m $(ARGS)

# Fraud scoring at stepped rates (the fraud server, Redis seeded with 20,000
# cards' histories, vegeta in a process of its own): per rate, goodput,
# success ratio, latency, degraded answers and CPU per request of the server
# and of Redis, and Redis round trips per request; beside each, the same
# figures for apps/fraud/testdata/floor, the least a server on the same
# stack does per request (decode, the same Redis reads, a fixed answer).
# -v: go test keeps only ten lines of a benchmark's log without it. ARGS passes -score.rates,
# -score.duration, -score.cards and -proctest.profiles DIR (CPU and
# allocation profiles at each rate).
bench-fraud:
	scripts/install-services.sh
	go test ./apps/fraud -run XXX -bench Score -benchtime 1x -v -timeout 60m $(ARGS)

# Every load benchmark (fraud, gateway beside nginx, transactions, users,
# the analytics and notifications consumers);
# each prints its figures. The generators run in processes of their own.
bench: local-tools
	scripts/install-services.sh
	scripts/install-xgboost.sh
	scripts/install-nginx.sh
	go test ./apps/fraud -run XXX -bench 'Score|Load' -benchtime 1x -v -timeout 60m
	go test ./apps/gateway -run XXX -bench Gateway -benchtime 1x -v -timeout 60m
	go test ./apps/transactions -run XXX -bench Transactions -benchtime 1x -v -timeout 60m
	go test ./apps/users -run XXX -bench Users -benchtime 1x -v -timeout 60m
	go test ./apps/analytics -run XXX -bench AnalyticsConsumer -benchtime 1x -v -timeout 60m
	go test ./apps/notifications -run XXX -bench NotificationsConsumer -benchtime 1x -v -timeout 60m

clean:
	rm -rf out/ .pulumi-state/
