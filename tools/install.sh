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

# shellcheck source=tools/provide.sh
source "$tools_dir/provide.sh"
pulumi_version=$(modversion "$tools_dir" github.com/pulumi/pulumi/pkg/v3)
k8s_dir="$tools_dir/kubernetes"
k8s_module=github.com/pulumi/pulumi-kubernetes/provider/v4
k8s_version=$(modversion "$k8s_dir" "$k8s_module")
# Helm renders charts for the Kubernetes version compiled into it when no
# cluster is asked (render mode): 1.20 unless set at build time, which charts
# needing >= 1.22 refuse. Helm's own release builds set it from client-go's
# minor version, and so does this build (client-go v0.33 -> Kubernetes 1.33,
# the EKS version the stacks pin).
helm_kube_minor=$(modversion "$k8s_dir" k8s.io/client-go | cut -d. -f2)

build_pulumi() {
  # The Automation API refuses a CLI that reports no version, hence the ldflag.
  go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$1" \
    -o "$2" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

build_kubernetes() {
  local src="$k8s_dir/cmd/pulumi-resource-kubernetes" dir
  cd "$k8s_dir"
  # go list reports no folder for a module not yet in the module cache (a
  # fresh machine), so download it first.
  go mod download "$k8s_module"
  dir=$(go list -m -f '{{.Dir}}' "$k8s_module")
  [[ -n "$dir" && -f "$dir/cmd/pulumi-resource-kubernetes/schema.json" ]] || {
    echo "tools: no schema.json in $k8s_module ($dir)" >&2
    return 1
  }
  install -m 0644 "$dir/cmd/pulumi-resource-kubernetes/schema.json" "$src/schema.json"
  install -m 0644 "$dir/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$src/terraform-mapping.json"
  local version=${1%+kube*}
  go build -trimpath \
    -ldflags "-X $k8s_module/pkg/version.Version=${version#v} -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$helm_kube_minor" \
    -o "$2" ./cmd/pulumi-resource-kubernetes
  cd "$tools_dir"
}

provide pulumi "$pulumi_version" build_pulumi
provide pulumi-resource-kubernetes "$k8s_version+kube1.$helm_kube_minor" build_kubernetes
