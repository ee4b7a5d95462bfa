#!/usr/bin/env bash
# Runs every test in the repository. The real-engine tests need bin/pulumi,
# bin/pulumi-resource-kubernetes and bin/intelliflow-policy, the local
# cluster test bin/cluster/: `make test` puts them in place first. The
# service tests need redis-server and PostgreSQL, installed here from
# Debian's packages when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
# The real-node tests keep their node's state under TMPDIR and want 1536
# MiB free there; say how much there is, for a log read after the fact.
echo "make test: $(df -Pm "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}') MiB free under ${TMPDIR:-/tmp}"
# Server binaries the integration tests start on loopback (redis-server).
scripts/install-services.sh
go vet ./...
# Neither the engine, the service nor the local cluster tests may skip here.
export INTELLIFLOW_REQUIRE_ENGINE=1 INTELLIFLOW_REQUIRE_SERVICES=1 INTELLIFLOW_REQUIRE_CLUSTER=1
# The charts stack renders from the chart mirror beside the clone
# (Pulumi.charts.yaml) or INTELLIFLOW_CHART_MIRROR; say up front which.
mirror=${INTELLIFLOW_CHART_MIRROR:-../shared/charts}
if [[ -f "$mirror/index.yaml" ]]; then
  echo "make test: charts from the mirror at $(cd "$mirror" && pwd)"
else
  echo "make test: WARNING: no chart mirror at $mirror; the charts stack's tests skip (set INTELLIFLOW_CHART_MIRROR)" >&2
fi
# The packages that run goroutines of their own (the services, their stores,
# Vault's concurrent first credentials) run under the race detector; the
# fraud load smoke test then builds the server with it too.
race=(./apps/... ./components/vault ./internal/httpserver)
mapfile -t rest < <(go list ./... | grep -v -e '/apps/' -e '/components/vault$' -e '/internal/httpserver$')
# INTELLIFLOW_COVERAGE=FILE (make test COVERAGE=FILE) writes one coverage
# profile of both runs, which the pipeline's quality gate reads. Atomic in
# both: the race detector's runs need it, and a profile has one mode.
rest_cover=() race_cover=()
if [[ -n "${INTELLIFLOW_COVERAGE:-}" ]]; then
  cover_dir=$(mktemp -d)
  trap 'rm -rf "$cover_dir"' EXIT
  rest_cover=(-covermode=atomic "-coverprofile=$cover_dir/rest.out")
  race_cover=(-covermode=atomic "-coverprofile=$cover_dir/race.out")
fi
go test -count=1 -timeout 40m "${rest_cover[@]}" "$@" "${rest[@]}"
go test -race -count=1 -timeout 30m "${race_cover[@]}" "$@" "${race[@]}"
if [[ -n "${INTELLIFLOW_COVERAGE:-}" ]]; then
  { echo "mode: atomic"; tail -q -n +2 "$cover_dir/rest.out" "$cover_dir/race.out"; } >"$INTELLIFLOW_COVERAGE"
  echo "make test: coverage profile in $INTELLIFLOW_COVERAGE ($(go tool cover -func="$INTELLIFLOW_COVERAGE" | tail -1 | awk '{print $NF}') of statements)"
fi
echo "make test: all tests passed in $((SECONDS - start))s"
