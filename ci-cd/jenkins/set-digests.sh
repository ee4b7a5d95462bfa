#!/usr/bin/env bash
# set-digests.sh STACK DIR: pins every service image of STACK to the digest
# cmd/imagebuild wrote for it in DIR/<service> (sha256:...), through stack config, so
# the policy pack sees exactly what will run.
set -euo pipefail
stack=$1 dir=$2
# A stack's first release finds no stack in the backend yet.
bin/pulumi stack select --create "$stack" >/dev/null
for file in "$dir"/*; do
  svc=$(basename "$file")
  digest=$(tr -d '[:space:]' < "$file")
  [[ $digest =~ ^sha256:[a-f0-9]{64}$ ]] || { echo "set-digests: $file does not hold a sha256 digest" >&2; exit 1; }
  bin/pulumi config set --stack "$stack" --path "intelliflow:imageDigests.$svc" "$digest"
done
