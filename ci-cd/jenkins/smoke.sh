#!/usr/bin/env bash
# smoke.sh STACK: the post-deploy smoke tests. Every Deployment of the apps'
# namespace must be rolled out, and the public API must answer its health
# check and score one synthetic transaction through the gateway.
set -euo pipefail
stack=$1
ns="intelliflow-$stack"
host=$(go run ./cmd/intelliflow outputs --stack "$stack" --json | sed -n 's/.*"apiHost": *"\([^"]*\)".*/\1/p')
for d in $(kubectl -n "$ns" get deployments -o name); do
  kubectl -n "$ns" rollout status "$d" --timeout=300s
done
curl --fail --silent --show-error --max-time 10 "https://$host/api/health" > /dev/null
curl --fail --silent --show-error --max-time 10 -H 'Content-Type: application/json' \
  -d '{"transaction_id":"smoke-test","card_id":"smoke","amount":1,"merchant_id":"smoke"}' \
  "https://$host/api/fraud/v1/score" > /dev/null
echo "smoke: $stack is serving"
