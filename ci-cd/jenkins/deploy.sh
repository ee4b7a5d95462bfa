#!/usr/bin/env bash
# deploy.sh STACK DIR: `up` STACK with the images cmd/imagebuild built (DIR), run the
# post-deploy smoke tests, and on their failure roll back: restore the image
# digests the stack ran before and `up` again, then fail the build.
set -euo pipefail
stack=$1 dir=$2
previous=$(mktemp)
bin/pulumi config get --stack "$stack" --path intelliflow:imageDigests --json > "$previous" || echo '{}' > "$previous"
ci-cd/jenkins/set-digests.sh "$stack" "$dir"
go run ./cmd/intelliflow up --stack "$stack" --yes
if ! ci-cd/jenkins/smoke.sh "$stack"; then
  echo "deploy: smoke tests failed on $stack; rolling back to the previous digests" >&2
  bin/pulumi config set --stack "$stack" --path intelliflow:imageDigests "$(cat "$previous")" --json
  go run ./cmd/intelliflow up --stack "$stack" --yes
  exit 1
fi
