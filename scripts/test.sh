#!/usr/bin/env bash
# Runs every test in the repository. The real-engine tests need bin/pulumi,
# bin/pulumi-resource-kubernetes and bin/intelliflow-policy, the local
# cluster test bin/cluster/: `make test` puts them in place first. The
# service tests need redis-server and PostgreSQL, installed here from
# Debian's packages when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
# Server binaries the integration tests start on loopback (redis-server).
scripts/install-services.sh
go vet ./...
# Neither the engine, the service nor the local cluster tests may skip here.
export INTELLIFLOW_REQUIRE_ENGINE=1 INTELLIFLOW_REQUIRE_SERVICES=1 INTELLIFLOW_REQUIRE_CLUSTER=1
# The packages that run goroutines of their own (the services, their stores,
# Vault's concurrent first credentials) run under the race detector; the
# fraud load smoke test then builds the server with it too.
race=(./apps/... ./components/vault ./internal/httpserver)
mapfile -t rest < <(go list ./... | grep -v -e '/apps/' -e '/components/vault$' -e '/internal/httpserver$')
go test -count=1 -timeout 40m "$@" "${rest[@]}"
go test -race -count=1 -timeout 30m "$@" "${race[@]}"
echo "make test: all tests passed in $((SECONDS - start))s"
