#!/usr/bin/env bash
# Puts the pinned pulumi CLI and kubernetes provider in bin/ (repo root).
#
# Both take many minutes to build cold, so each binary is built once per
# version into a cache outside the work tree (a fresh clone on the same machine
# reuses it) and copied into bin/. Nothing is rebuilt while bin/ already holds
# the right version. Versions come from the go.mod files beside this script:
# tools/go.mod pins the CLI, tools/kubernetes/go.mod the provider. They are two
# modules because the provider needs an older pulumi/pkg than the CLI.
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools_dir")
bin="$root/bin"
cache="${INTELLIFLOW_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intelliflow/tools}"
mkdir -p "$bin" "$cache"
cd "$tools_dir"

# modversion DIR MODULE: the version of MODULE that DIR's go.mod selects.
modversion() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }
pulumi_version=$(modversion "$tools_dir" github.com/pulumi/pulumi/pkg/v3)
k8s_dir="$tools_dir/kubernetes"
k8s_module=github.com/pulumi/pulumi-kubernetes/provider/v4
k8s_version=$(modversion "$k8s_dir" "$k8s_module")

# provide NAME VERSION BUILD-FUNCTION: copy from the cache, building first if needed.
provide() {
  local name=$1 version=$2 build=$3
  local stamp="$bin/.$name.version" cached="$cache/$name-$version/$name"
  if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    echo "tools: $name $version already in bin/"
    return
  fi
  if [[ ! -x "$cached" ]]; then
    echo "tools: building $name $version (cold builds take 10-15 minutes)"
    local start=$SECONDS tmp
    tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
    "$build" "$version" "$tmp/$name"
    mkdir -p "$(dirname "$cached")"
    mv "$tmp/$name" "$cached"
    rm -rf "$tmp"
    echo "tools: built $name $version in $((SECONDS - start))s"
  fi
  install -m 0755 "$cached" "$bin/$name.tmp"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$version" >"$stamp"
  echo "tools: $name $version -> bin/$name"
}

build_pulumi() {
  # The Automation API refuses a CLI that reports no version, hence the ldflag.
  go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$1" \
    -o "$2" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

build_kubernetes() {
  local src="$k8s_dir/cmd/pulumi-resource-kubernetes" dir
  cd "$k8s_dir"
  dir=$(go list -m -f '{{.Dir}}' "$k8s_module")
  install -m 0644 "$dir/cmd/pulumi-resource-kubernetes/schema.json" "$src/schema.json"
  install -m 0644 "$dir/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$src/terraform-mapping.json"
  go build -trimpath \
    -ldflags "-X $k8s_module/pkg/version.Version=${1#v}" \
    -o "$2" ./cmd/pulumi-resource-kubernetes
  cd "$tools_dir"
}

provide pulumi "$pulumi_version" build_pulumi
provide pulumi-resource-kubernetes "$k8s_version" build_kubernetes
