#!/usr/bin/env bash
# Puts the pinned pulumi CLI and kubernetes provider in bin/ (repo root).
#
# Each comes from the first of these that has it at the pinned version, and
# the script says which it took:
#   1. bin/ already (nothing to do);
#   2. an installed one: `pulumi` on PATH for the CLI, the kubernetes plugin
#      in $PULUMI_HOME/plugins (~/.pulumi) for the provider (a developer's
#      laptop, the CI agent image);
#   3. for the provider, a download by the pinned CLI, where downloads are
#      allowed (INTELLIFLOW_PLUGIN_DOWNLOAD=1, and INTELLIFLOW_PLUGIN_SERVER
#      for a mirror of the plugin releases);
#   4. a build from the Go module proxy (these machines, which reach nothing
#      else). Both take many minutes cold, so each binary is built once per
#      version into a cache outside the work tree (a fresh clone on the same
#      machine reuses it) and copied into bin/.
# Versions come from the go.mod files: tools/go.mod pins the CLI,
# tools/kubernetes/go.mod the provider's source (a pseudo-version: the module
# publishes no release tags), and the program's go.mod the kubernetes SDK,
# whose release is the provider release an install or a download must match.
# The CLI and the provider are two modules because the provider needs an older
# pulumi/pkg than the CLI.
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

# installed_pulumi: the path of a pulumi CLI on PATH (not bin/'s) at the
# pinned version.
installed_pulumi() {
  local p
  p=$(type -P pulumi) || return 1
  [[ "$p" != "$bin/pulumi" ]] || return 1
  [[ "$("$p" version 2>/dev/null)" == "$pulumi_version" ]] || return 1
  echo "$p"
}

# The provider release the program's kubernetes SDK asks the engine for.
# Release builds set Helm's Kubernetes version at build time as the build
# above does (pulumi-kubernetes#2631), so one renders charts the same way.
k8s_release=$(modversion "$root" github.com/pulumi/pulumi-kubernetes/sdk/v4)
plugins="${PULUMI_HOME:-$HOME/.pulumi}/plugins"

# installed_kubernetes: the path of the kubernetes plugin at k8s_release in
# the plugin folder, whole (the CLI marks one it is still writing .partial).
installed_kubernetes() {
  local dir="$plugins/resource-kubernetes-$k8s_release"
  [[ -x "$dir/pulumi-resource-kubernetes" && ! -e "$dir.partial" ]] || return 1
  echo "$dir/pulumi-resource-kubernetes"
}

# downloaded_kubernetes: the plugin at k8s_release, downloaded by the pinned
# CLI into the plugin folder, where downloads are allowed.
downloaded_kubernetes() {
  [[ "${INTELLIFLOW_PLUGIN_DOWNLOAD:-}" == 1 ]] || return 1
  local server=()
  [[ -z "${INTELLIFLOW_PLUGIN_SERVER:-}" ]] || server=(--server "$INTELLIFLOW_PLUGIN_SERVER")
  "$bin/pulumi" plugin install resource kubernetes "$k8s_release" "${server[@]}" >&2 || return 1
  installed_kubernetes
}

k8s_built="$k8s_version+kube1.$helm_kube_minor"
if ! has pulumi "$pulumi_version" && p=$(installed_pulumi); then
  take pulumi "$pulumi_version" "$p" "installed"
else
  provide pulumi "$pulumi_version" build_pulumi
fi
if has pulumi-resource-kubernetes "$k8s_built" || has pulumi-resource-kubernetes "$k8s_release"; then
  echo "tools: pulumi-resource-kubernetes $(cat "$bin/.pulumi-resource-kubernetes.version") already in bin/pulumi-resource-kubernetes"
elif p=$(installed_kubernetes); then
  take pulumi-resource-kubernetes "$k8s_release" "$p" "installed plugin"
elif p=$(downloaded_kubernetes); then
  take pulumi-resource-kubernetes "$k8s_release" "$p" "downloaded plugin"
else
  provide pulumi-resource-kubernetes "$k8s_built" build_kubernetes
fi
