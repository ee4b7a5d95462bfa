#!/usr/bin/env bash
# Puts the servers the local platform and the event tests run beside
# PostgreSQL and Redis in bin/local/: FerretDB (the MongoDB protocol on
# PostgreSQL, standing in for DocumentDB) and mailpit (an SMTP relay with an
# inbox API). Each is built once per version into the tool cache (about a
# minute and a half each on 2 cores) and copied; nothing is rebuilt while
# bin/local holds the right version.
set -euo pipefail

local_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools_dir=$(dirname "$local_dir")
root=$(dirname "$tools_dir")
bin="$root/bin/local"
cache="${INTELLIFLOW_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intelliflow/tools}"
mkdir -p "$bin" "$cache"

# shellcheck source=tools/provide.sh
source "$tools_dir/provide.sh"
ferretdb_version=v1.24.2
mailpit_version=v1.33.1

# FerretDB reads its version from build/version/version.txt, embedded at
# build time, and refuses to start without one; the module ships none. So
# it is built as its own main module from a writable copy of its source
# with that file written (its go.sum pins its dependencies).
build_ferretdb() {
  local src dir
  dir=$(go mod download -json "github.com/FerretDB/FerretDB@$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -n "$dir" ]] || { echo "tools: FerretDB $1 not downloaded" >&2; return 1; }
  src=$(mktemp -d)
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  echo "$1" >"$src/build/version/version.txt"
  (cd "$src" && go build -trimpath -o "$2" ./cmd/ferretdb)
  rm -rf "$src"
}

build_mailpit() { go_install github.com/axllent/mailpit "$1" "$2"; }

provide ferretdb "$ferretdb_version" build_ferretdb
provide mailpit "$mailpit_version" build_mailpit
