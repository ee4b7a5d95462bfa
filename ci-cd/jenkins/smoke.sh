#!/usr/bin/env bash
# smoke.sh STACK: the post-deploy smoke tests. Every Deployment of the apps'
# namespace must be rolled out, and the public API must answer as
# smoke-api.sh checks (the end-to-end test runs that part on loopback).
set -euo pipefail
stack=$1
ns="intelliflow-$stack"
host=$(go run ./cmd/intelliflow outputs --stack "$stack" --json | sed -n 's/.*"apiHost": *"\([^"]*\)".*/\1/p')
for d in $(kubectl -n "$ns" get deployments -o name); do
  kubectl -n "$ns" rollout status "$d" --timeout=300s
done
ci-cd/jenkins/smoke-api.sh "https://$host"
echo "smoke: $stack is serving"
