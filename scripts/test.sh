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
INTELLIFLOW_REQUIRE_ENGINE=1 INTELLIFLOW_REQUIRE_SERVICES=1 INTELLIFLOW_REQUIRE_CLUSTER=1 go test -count=1 -timeout 40m "$@" ./...
echo "make test: all tests passed in $((SECONDS - start))s"
