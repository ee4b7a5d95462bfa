#!/usr/bin/env bash
# Runs every test in the repository. The real-engine tests need bin/pulumi,
# bin/pulumi-resource-kubernetes and bin/intelliflow-policy, which `make test`
# puts in place first; the service tests need redis-server, installed here
# from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
# Server binaries the integration tests start on loopback (redis-server).
scripts/install-services.sh
go vet ./...
# Neither the engine tests nor the service tests may skip here.
INTELLIFLOW_REQUIRE_ENGINE=1 INTELLIFLOW_REQUIRE_SERVICES=1 go test -count=1 -timeout 40m "$@" ./...
echo "make test: all tests passed in $((SECONDS - start))s"
