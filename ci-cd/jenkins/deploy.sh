#!/usr/bin/env bash
# deploy.sh STACK DIR: `up` STACK with the images cmd/imagebuild built (DIR,
# one file per image holding its digest), run the post-deploy smoke tests,
# and on their failure roll back to what the stack ran before: the image
# digests its last successful `up` deployed (its imageDigests output), not
# the checked-out Pulumi.<stack>.yaml's. Then `up` again and fail the build.
#
# Run from the repository root. INTELLIFLOW (default `go run
# ./cmd/intelliflow`) and SMOKE (default smoke.sh beside this script) can
# name other commands: the rollback test runs a built driver and a failing
# smoke test.
set -euo pipefail
stack=$1 dir=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -r -a intelliflow <<<"${INTELLIFLOW:-go run ./cmd/intelliflow}"
smoke=${SMOKE:-$here/smoke.sh}

# The digests the stack runs now, as {"gateway":"sha256:...",...}; empty
# before its first up.
previous=$("${intelliflow[@]}" outputs --stack "$stack" 2>/dev/null | sed -n 's/^imageDigests  *//p' || true)
"$here/set-digests.sh" "$stack" "$dir"
# The provider plugins the stack needs, at the pinned versions (in the
# agent's image already; downloaded where they are not).
"${intelliflow[@]}" plugins --stack "$stack"
"${intelliflow[@]}" up --stack "$stack"
if ! "$smoke" "$stack"; then
  back=$(mktemp -d)
  # One file per image, as the build writes them, for set-digests.sh.
  tr ',{}' '\n\n\n' <<<"$previous" | sed -n 's/^ *"\([a-z0-9-]*\)": *"\(sha256:[a-f0-9]\{64\}\)".*/\1 \2/p' |
    while read -r image digest; do echo "$digest" >"$back/$image"; done
  if [[ -z $(ls -A "$back") ]]; then
    echo "deploy: smoke tests failed on $stack, and it ran no image by digest before: nothing to roll back to" >&2
    exit 1
  fi
  echo "deploy: smoke tests failed on $stack; rolling back to the digests its last successful up ran: $previous" >&2
  "$here/set-digests.sh" "$stack" "$back"
  "${intelliflow[@]}" up --stack "$stack"
  exit 1
fi
