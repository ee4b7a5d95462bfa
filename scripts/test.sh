#!/usr/bin/env bash
# Runs every test in the repository. The real-engine tests need bin/pulumi,
# bin/pulumi-resource-kubernetes and bin/intelliflow-policy, which `make test`
# puts in place first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
go vet ./...
INTELLIFLOW_REQUIRE_ENGINE=1 go test -count=1 -timeout 40m "$@" ./...
echo "make test: all tests passed in $((SECONDS - start))s"
