#!/usr/bin/env bash
# Puts the local control plane's binaries in bin/cluster/: etcd, the
# kube-apiserver, kube-controller-manager and kube-scheduler, kwok and
# kwok's configuration, metrics-server (the HPAs' metrics.k8s.io); and
# Gatekeeper's gator, which evaluates the
# platform's constraints against rendered objects offline; and the real
# node's kubelet, kube-proxy, containerd (with its shim and ctr), CoreDNS,
# kube-router, pause and netcheck, with
# Debian's runc and CNI plugins (scripts/install-node.sh). Each is built
# once per version into the tool cache (the Kubernetes three take about 12
# minutes cold on 2 cores) and copied; nothing is rebuilt while bin/cluster
# holds the right version. Versions come from the go.mod files beside this
# script (kube/, etcd/, containerd/, coredns/, kube-router/) and from
# kwok_version below.
set -euo pipefail

cluster_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools_dir=$(dirname "$cluster_dir")
root=$(dirname "$tools_dir")
bin="$root/bin/cluster"
cache="${INTELLIFLOW_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intelliflow/tools}"
mkdir -p "$bin" "$cache"

# shellcheck source=tools/provide.sh
source "$tools_dir/provide.sh"
kube_version=$(modversion "$cluster_dir/kube" k8s.io/kubernetes)
etcd_version=$(modversion "$cluster_dir/etcd" go.etcd.io/etcd/server/v3)
kwok_version=v0.8.0
# The newest gator the module proxy serves; its constraint framework reads
# the templates (templates.gatekeeper.sh/v1) the chart's 3.20 runs.
gator_version=v3.23.1
# The metrics-server chart's 3.13.1 runs 0.8.1; the module proxy serves
# 0.8.0 and 0.9.0. 0.8.0 reads the node annotation kwok's nodes need
# (metrics.k8s.io/resource-metrics-path).
metrics_server_version=v0.8.0

# Clients see this version, not v0.0.0-master.
kube_ldflags() {
  local v=$1 minor
  minor=$(echo "$v" | cut -d. -f2)
  echo "-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1" \
    "-X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
    "-X k8s.io/client-go/pkg/version.gitVersion=$v"
}

# build_kube VERSION OUT builds the command named by $kube_cmd.
build_kube() {
  # shellcheck disable=SC2046 # the ldflags are one word per flag
  (cd "$cluster_dir/kube" && go build -trimpath -ldflags "$(kube_ldflags "$1")" -o "$2" "k8s.io/kubernetes/cmd/$kube_cmd")
}

build_etcd() { (cd "$cluster_dir/etcd" && go build -trimpath -o "$2" .); }

build_kwok() { go_install sigs.k8s.io/kwok/cmd/kwok "$1" "$2"; }

# kwok's configuration: the stages it plays (nodes become Ready, pods
# Running and Ready, finished pods complete, deleted pods go), each node's
# kubelet /metrics/resource, and pods' usage from their annotations
# (kwok.x-k8s.io/usage-cpu, usage-memory).
build_kwok_stages() {
  local dir version=${1%%+*}
  go mod download "sigs.k8s.io/kwok@$version" >/dev/null
  dir=$(go mod download -json "sigs.k8s.io/kwok@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  {
    for f in stage/node/fast/node-initialize.yaml stage/pod/fast/pod-ready.yaml stage/pod/fast/pod-complete.yaml \
      stage/pod/fast/pod-delete.yaml metrics/resource/metrics-resource.yaml metrics/usage/usage-from-annotation.yaml; do
      echo "---"
      cat "$dir/kustomize/$f"
    done
  } >"$2"
  # A node's own daemons use a tenth of a core and 512Mi besides its pods;
  # metrics-server drops a node that reports none (an empty one).
  sed -i -e "s|value: 'node.CumulativeUsage(\"cpu\")'|value: 'node.CumulativeUsage(\"cpu\") + node.SinceSecond() * 0.1'|" \
    -e "s|value: 'node.Usage(\"memory\")'|value: 'node.Usage(\"memory\") + 536870912.0'|" "$2"
  grep -q "node.SinceSecond() \* 0.1" "$2" && grep -q "536870912.0" "$2"
}

provide etcd "$etcd_version" build_etcd
# kubelet and kube-proxy: the real node's (about 70 s each once the control
# plane's are built).
for kube_cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  provide "$kube_cmd" "$kube_version" build_kube
done
provide kwok "$kwok_version" build_kwok
# About six minutes cold on 2 cores.
build_gator() { go_install github.com/open-policy-agent/gatekeeper/v3/cmd/gator "$1" "$2"; }
provide gator "$gator_version" build_gator
# About five minutes cold on 2 cores.
build_metrics_server() { go_install sigs.k8s.io/metrics-server/cmd/metrics-server "$1" "$2"; }
provide metrics-server "$metrics_server_version" build_metrics_server
# The real node's runtime: containerd 2 with its runc shim and ctr, static,
# without the snapshotters that need cgo (about 3 minutes cold).
containerd_version=$(modversion "$cluster_dir/containerd" github.com/containerd/containerd/v2)
build_containerd() {
  (cd "$cluster_dir/containerd" && CGO_ENABLED=0 go build -trimpath -tags no_btrfs,no_devmapper,no_zfs \
    -ldflags "-X github.com/containerd/containerd/v2/version.Version=$1" -o "$2" "github.com/containerd/containerd/v2/cmd/$containerd_cmd")
}
for containerd_cmd in containerd containerd-shim-runc-v2 ctr; do
  provide "$containerd_cmd" "$containerd_version" build_containerd
done
# The real node's DNS and NetworkPolicy controller (about 3 minutes each
# cold).
build_coredns() { (cd "$cluster_dir/coredns" && CGO_ENABLED=0 go build -trimpath -o "$2" github.com/coredns/coredns); }
provide coredns "$(modversion "$cluster_dir/coredns" github.com/coredns/coredns)" build_coredns
build_kube_router() {
  (cd "$cluster_dir/kube-router" && CGO_ENABLED=0 go build -trimpath -o "$2" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
}
provide kube-router "$(modversion "$cluster_dir/kube-router" github.com/cloudnativelabs/kube-router/v2)" build_kube_router
# Ours: the pod sandbox and the network check the devcluster packs into
# images (internal/devcluster/pause, netcheck); bump a version when its
# source changes.
build_ours() { (cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$2" "./internal/devcluster/$(basename "$2")"); }
provide pause v1 build_ours
provide netcheck v2 build_ours
"$root/scripts/install-node.sh"
# +metrics: the configuration grew the metrics; an older copy lacks them.
provide kwok-stages.yaml "$kwok_version+metrics.1" build_kwok_stages
